"""Plain vs aligned judge on the sealed test split of AgentProcessBench HotPotQA (human step labels).

The first N trajectories are stored, their human labels imported, whole traces split into tune / test
(stratified, seeded), an aligned judge built from tune (k worked examples per prompt), and the same M
labelled test steps judged twice: by the plain judge and by the aligned one.  Prints, for each, Cohen's
kappa, TPR (failing class), TNR and step accuracy with trace-clustered 95% intervals, the always-pass /
always-fail / majority baselines on the same items, seconds and prompt tokens per judged step.

    .venv/bin/python bench/alignment.py --trajectories 60 --items 40            # the offline local judge
    .venv/bin/python bench/alignment.py --judge openai/x --api-base URL          # any other judge
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from chainjudge.core import offline  # noqa: E402

offline.apply()

from chainjudge.analysis.alignment import Retriever, build_aligned  # noqa: E402
from chainjudge.analysis.calibrate import agreement  # noqa: E402
from chainjudge.analysis.embed import SentenceTransformerEmbedder, embed_cached  # noqa: E402
from chainjudge.analysis.figures import format_estimate  # noqa: E402
from chainjudge.analysis.reference import judgment_labels  # noqa: E402
from chainjudge.analysis.splits import assign_split  # noqa: E402
from chainjudge.core.judges.resolve import open_judge  # noqa: E402
from chainjudge.core.offline import quiet_libraries  # noqa: E402
from chainjudge.core.rubric import parse_rubric  # noqa: E402
from chainjudge.core.schema import Label  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import judge_traces, load_traces  # noqa: E402
from chainjudge.reading.labels import ImportOptions, parse_value_map, read_labels  # noqa: E402

DATA = ROOT / "tests" / "data" / "agentprocessbench" / "hotpotqa.jsonl"
RUBRIC = {"id": "apb-step", "criteria": [{
    "id": "step", "applies_to": ["tool_call", "decision", "message"],
    "question": "Is this step of the agent a correct move toward answering the user's question (correct), a harmless "
                "but useless one (neutral), or a mistake (error)?",
    "scale": {"type": "labels", "labels": ["correct", "neutral", "error"], "failing": ["error"]}}]}


def setup(store: Store, trajectories: int, seed: int, share: float, k: int):
    work = Path(tempfile.mkdtemp(prefix="chainjudge-align-"))
    path = work / "hotpotqa.jsonl"
    path.write_text("\n".join(DATA.read_text().splitlines()[:trajectories]) + "\n")
    traces = load_traces([path]).traces
    store.save_traces(traces)
    options = ImportOptions(annotator="human", kind="human", criterion="step",
                            value_map=parse_value_map(["1=correct", "0=neutral", "-1=error"]))
    labels = [item for item in read_labels(path, options) if isinstance(item, Label)]
    store.add_labels(labels)
    labels = [label for label in labels if label.step_key]
    split = assign_split(labels, share, seed, {"error"})
    store.save_split(split, seed, share)
    rubric = parse_rubric(RUBRIC)
    aligned, _ = build_aligned(store, rubric, "bench", k)
    store.save_aligned(aligned)
    return traces, labels, split, rubric, aligned


def judge_run(store, traces, rubric, spec, api_base, chosen, run, examples=None, aligned_tag=None):
    started = time.monotonic()
    select = (lambda items: [i for i in items if (i.trace_id, i.step.ref) in chosen])
    with open_judge(spec, api_base=api_base, batch=False, log_dir=store.log_dir, aligned=aligned_tag) as (settings, judge):
        outcome = judge_traces([t for t in traces if any(t.id == c[0] for c in chosen)], rubric, settings, judge, store, run,
                               select=select, examples=examples, concurrency=1)
    judgments = [j for j in store.judgments(run) if j.judge_kind == "model"]
    tokens = sum(j.usage.prompt_tokens for j in judgments)
    return judgments, time.monotonic() - started, tokens, outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trajectories", type=int, default=60)
    parser.add_argument("--items", type=int, default=40, help="labelled test steps judged by each judge")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--judge", default="local")
    parser.add_argument("--api-base", default=None)
    args = parser.parse_args()
    quiet_libraries()
    db = Path(tempfile.mkdtemp(prefix="chainjudge-align-db-")) / "align.db"
    with Store(db) as store:
        traces, labels, split, rubric, aligned = setup(store, args.trajectories, args.seed, args.test_share, args.k)
        test_items = sorted({(l.trace_id, l.step_key) for l in labels if split[l.trace_id] == "test"})
        chosen = set(random.Random(args.seed).sample(test_items, min(args.items, len(test_items))))
        print(f"{len(traces)} trajectories, {len(labels)} labelled steps; split: {sum(v == 'tune' for v in split.values())} tune / "
              f"{sum(v == 'test' for v in split.values())} test traces; aligned judge {aligned.tag}: {len(aligned.examples)} examples, "
              f"k={args.k}; judging {len(chosen)} labelled test steps with {args.judge}")
        embedder = SentenceTransformerEmbedder()
        retriever = Retriever(aligned, lambda texts: embed_cached(texts, embedder, store))
        reference = [l for l in labels if (l.trace_id, l.step_key) in chosen]
        for run, examples, tag in (("plain", None, None), ("aligned", retriever.examples_for, aligned.tag)):
            judgments, seconds, tokens, outcome = judge_run(store, traces, rubric, args.judge, args.api_base, chosen, run, examples, tag)
            report = agreement(reference, judgment_labels(judgments, run, "step"), "human", run, "step", failing=["error"],
                               bootstrap=1000, seed=args.seed)
            n = max(1, len(judgments))
            print(f"\n{run}: {len(judgments)} judgments ({outcome.progress.errors} errors), {seconds / n:.1f} s and "
                  f"{tokens / n:.0f} prompt tokens per judged step")
            print(f"  kappa {format_estimate(report.cohen_kappa, 20, 3)}  TPR {format_estimate(report.tpr, 1, 2)}  "
                  f"TNR {format_estimate(report.tnr, 1, 2)}  step accuracy {format_estimate(report.step_accuracy, 20, 3)}  trust: {report.trust}")
            for base in report.baselines:
                shown = "-" if base.step_accuracy is None else f"{base.step_accuracy:.3f}"
                print(f"  baseline {base.name:12} step accuracy {shown}")


if __name__ == "__main__":
    main()
