"""Plain vs aligned judge on a sealed test split: AgentProcessBench HotPotQA (human step labels), or the
bundled CEP pack against its scenarios' ground truth (`--data cep`: offer_fits and language_and_tone).

The first N trajectories are stored, their human labels imported, whole traces split into tune / test
(stratified, seeded) and an aligned judge built from tune, exactly as `chainjudge align` does it: worked
examples (k per prompt), a decision threshold per criterion fitted on up to T labelled tune steps judged
by the aligned judge (its label log-probabilities), then the same M labelled test steps judged by the
plain and the aligned judge.  Prints, for each, Cohen's kappa, TPR (failing class), TNR, step and
first-error accuracy with trace-clustered 95% intervals, the always-pass / always-fail / majority
baselines, seconds and prompt tokens per judged step; and what --propose would write.

    .venv/bin/python bench/alignment.py --trajectories 250 --tune-steps 80 --test-steps 80   # the offline local judge
    .venv/bin/python bench/alignment.py --data cep --tune-steps 16 --test-steps 12           # the CEP pack
    .venv/bin/python bench/alignment.py --judge openai/x --api-base URL                       # any other judge
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from chainjudge.core import offline  # noqa: E402

offline.apply()

from chainjudge.analysis.figures import format_estimate  # noqa: E402
from chainjudge.analysis.proposals import disagreements, propose  # noqa: E402
from chainjudge.analysis.splits import assign_split  # noqa: E402
from chainjudge.core.offline import quiet_libraries  # noqa: E402
from chainjudge.core.rubric import parse_rubric  # noqa: E402
from chainjudge.core.schema import Label  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402
from chainjudge.reading.labels import ImportOptions, parse_value_map, read_labels  # noqa: E402
from chainjudge.workflows.align_run import JudgeChoice, before_after, fit_thresholds  # noqa: E402
from chainjudge.workflows.alignment import build_aligned  # noqa: E402
from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached  # noqa: E402

DATA = ROOT / "tests" / "data" / "agentprocessbench" / "hotpotqa.jsonl"
RUBRIC = {
    "id": "apb-step",
    "criteria": [
        {
            "id": "step",
            "applies_to": ["tool_call", "decision", "message"],
            "question": "Is this step of the agent a correct move toward answering the user's question (correct), a harmless "
            "but useless one (neutral), or a mistake (error)?",
            "scale": {"type": "labels", "labels": ["correct", "neutral", "error"], "failing": ["error"]},
        }
    ],
}


def cep_setup(store: Store, seed: int, share: float, k: int):
    """The bundled CEP traces, the ground truth their scenarios give, the two model criteria it covers."""
    import yaml

    from chainjudge.packs.cep.decisions import load_scenarios
    from chainjudge.packs.cep.groundtruth import ground_truth_labels

    traces = load_traces([ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"]).traces
    store.save_traces(traces)
    labels = ground_truth_labels(traces, load_scenarios(ROOT / "chainjudge" / "packs" / "cep" / "traces" / "scenarios.jsonl"))
    store.add_labels(labels)
    split = assign_split(labels, share, seed, {"fail"})
    store.save_split(split, seed, share)
    data = yaml.safe_load((ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml").read_text())
    data["criteria"] = [c for c in data["criteria"] if c["id"] in ("offer_fits", "language_and_tone")]
    rubric = parse_rubric(data)
    aligned, _ = build_aligned(store, rubric, "bench-cep", k)
    return traces, labels, split, rubric, aligned, data


def setup(store: Store, trajectories: int, seed: int, share: float, k: int, work: Path):
    path = work / f"hotpotqa-{trajectories}.jsonl"  # beside the store: a rerun reads the same file (same trace versions)
    path.write_text("\n".join(DATA.read_text().splitlines()[:trajectories]) + "\n")
    traces = load_traces([path]).traces
    store.save_traces(traces)
    options = ImportOptions(
        annotator="human", kind="human", criterion="step", value_map=parse_value_map(["1=correct", "0=neutral", "-1=error"])
    )
    labels = [item for item in read_labels(path, options) if isinstance(item, Label)]
    store.add_labels(labels)
    labels = [label for label in labels if label.step_key]
    split = assign_split(labels, share, seed, {"error"})
    store.save_split(split, seed, share)
    rubric = parse_rubric(RUBRIC)
    aligned, _ = build_aligned(store, rubric, "bench", k)
    return traces, labels, split, rubric, aligned, RUBRIC


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", choices=["hotpotqa", "cep"], default="hotpotqa")
    parser.add_argument("--trajectories", type=int, default=250)
    parser.add_argument("--tune-steps", type=int, default=80, help="labelled tune steps judged to fit the threshold")
    parser.add_argument("--test-steps", type=int, default=80, help="labelled test steps judged by each judge")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--judge", default="local")
    parser.add_argument("--api-base", default=None)
    parser.add_argument("--db", default=None, help="keep the store here (a rerun resumes its judging runs)")
    args = parser.parse_args()
    quiet_libraries()
    db = args.db or str(Path(tempfile.mkdtemp(prefix="chainjudge-align-db-")) / "align.db")
    with Store(db) as store:
        if args.data == "cep":
            traces, labels, split, rubric, aligned, rubric_data = cep_setup(store, args.seed, args.test_share, args.k)
        else:
            traces, labels, split, rubric, aligned, rubric_data = setup(
                store, args.trajectories, args.seed, args.test_share, args.k, Path(db).parent
            )
        print(
            f"{len(traces)} trajectories, {len(labels)} labelled steps; split: {sum(v == 'tune' for v in split.values())} tune / "
            f"{sum(v == 'test' for v in split.values())} test traces; {len(aligned.examples)} worked examples, k={args.k}; "
            f"judge {args.judge}; store {db}",
            flush=True,
        )
        embedder = SentenceTransformerEmbedder()
        embed = functools.partial(embed_cached, embedder=embedder, store=store)
        choice = JudgeChoice(spec=args.judge, api_base=args.api_base, concurrency=1)
        started = time.monotonic()
        fitted = fit_thresholds(store, rubric, aligned, choice, embed, args.tune_steps, args.seed)
        print(f"\nthresholds, from {len(fitted.judgments)} tune judgments ({(time.monotonic() - started) / 60:.1f} min):", flush=True)
        for criterion, note in fitted.notes.items():
            print(f"  {criterion}: {note}")
        aligned = aligned.model_copy(update={"thresholds": fitted.thresholds})
        store.save_aligned(aligned)
        traces_by_id = {t.id: t for t in traces}
        found = disagreements(fitted.judgments, fitted.reference, rubric, fitted.thresholds, traces_by_id)
        proposal = propose(rubric_data, found, embed, f"{rubric.id}.yaml")
        print(f"\n--propose: {len(proposal.clarifications)} clarifications from {proposal.disagreements} tune disagreements:")
        for c in proposal.clarifications:
            print(
                f"  {c.criterion}: {c.size} x {c.direction} ({', '.join(c.keywords[:4]) or 'single'}): people {c.example.reference}, "
                f"judge {c.example.decided}"
            )
        started = time.monotonic()
        comparison = before_after(store, rubric, aligned, choice, embed, args.test_steps, args.seed)
        print(f"\ntest split: {comparison.steps} labelled steps judged by each judge ({(time.monotonic() - started) / 60:.1f} min)")
        for criterion, sides in comparison.by_criterion.items():
            print(f" {criterion}:")
            for side in sides:
                r = side.report
                print(
                    f"  {side.name:8} kappa {format_estimate(r.cohen_kappa, 1, 3)}  TPR {format_estimate(r.tpr, 1, 2)}  "
                    f"TNR {format_estimate(r.tnr, 1, 2)}  step accuracy {format_estimate(r.step_accuracy, 1, 3)}  "
                    f"first-error accuracy {format_estimate(r.first_error_accuracy, 1, 3)}  "
                    f"{side.seconds_per_step:.1f} s, {side.prompt_tokens_per_step:.0f} prompt tokens per step"
                )
                flipped = sum(
                    1
                    for j in store.judgments(side.run)
                    if j.raw_label is not None and (j.trace_id, j.step_ref) in {(label.trace_id, label.step_key) for label in labels}
                )
                if flipped:
                    print(f"           ({flipped} labels decided by the threshold against the judge's own)")
            for base in sides[0].report.baselines:
                acc = "-" if base.step_accuracy is None else f"{base.step_accuracy:.3f}"
                first = "-" if base.first_error_accuracy is None else f"{base.first_error_accuracy:.3f}"
                print(f"  baseline {base.name:12} ({base.label}) step accuracy {acc}  first-error accuracy {first}")


if __name__ == "__main__":
    main()
