"""A verifier learned from people's labels on AgentProcessBench HotPotQA, on a sealed test split grouped by
question (50 questions x 5 trajectories; 15 questions kept for test).

Prints, for the verifier without and with reference features: Cohen's kappa (fail vs not), TPR and TNR
with trace-clustered 95% intervals on the test split, the trivial baselines on the same items, the
selective view (share of test steps decided above the cut chosen on tune, and the agreement there against
its guarantee) for several targets, and seconds to score 1,000 steps; and writes the coverage-vs-
guaranteed-agreement curve as a PNG.  Beside them, on the same test steps, the 20 published judges'
step labels that ship with AgentProcessBench (frontier and small models, prompted, blind to the answer).
The local judge's figures in the README were measured on a split by trace, not by question, so they are
quoted there, not recomputed here (98 minutes of the local judge).

    .venv/bin/python bench/verifier.py [--seed 7] [--share 0.3] [--png docs/verifier-coverage.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

from chainjudge.analysis.figures import format_estimate  # noqa: E402
from chainjudge.analysis.splits import assign_split, task_group  # noqa: E402
from chainjudge.core.schema import Label  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402
from chainjudge.reading.labels import ImportOptions, parse_value_map, read_labels  # noqa: E402
from chainjudge.workflows import verifier as workflow  # noqa: E402

DATA = ROOT / "tests" / "data" / "agentprocessbench" / "hotpotqa.jsonl"
JUDGES = DATA.parent / "judges"
TARGETS = (0.75, 0.8, 0.85, 0.875, 0.9)


def prepare(store: Store, seed: int, share: float) -> None:
    store.save_traces(load_traces([DATA]).traces)
    options = ImportOptions(
        annotator="human", kind="human", criterion="step", value_map=parse_value_map(["1=correct", "0=neutral", "-1=error"])
    )
    labels = [item for item in read_labels(DATA, options) if isinstance(item, Label)]
    store.add_labels(labels)
    store.save_split(assign_split(labels, share, seed, {"error"}, group_of=task_group), seed, share)


def published_judges(store: Store, bootstrap: int) -> None:
    """Each published judge against people on the test split's steps: kappa (fail vs not), TPR, TNR."""
    from chainjudge.analysis.calibrate import agreement
    from chainjudge.analysis.splits import TEST

    split = store.split()
    people = [label for label in store.labels(criterion="step", annotators=["human"]) if split.get(label.trace_id) == TEST]
    rows = []
    for path in sorted(JUDGES.glob("*.jsonl")):
        options = ImportOptions(
            annotator=path.stem, kind="judge", criterion="step", value_map=parse_value_map(["1=correct", "0=neutral", "-1=error"])
        )
        judged = [label for label in read_labels(path, options) if isinstance(label, Label) and split.get(label.trace_id) == TEST]
        r = agreement(people, judged, "human", path.stem, "step", failing=["error"], bootstrap=bootstrap)
        rows.append((r.cohen_kappa.value if r.cohen_kappa.value is not None else -9, path.stem, r))
    print(f"\npublished judges on the same test steps ({len(people)} steps; prompted, blind to the answer):")
    for _, name, r in sorted(rows, key=lambda row: row[:2], reverse=True):
        print(
            f"  {name:34s} kappa {format_estimate(r.cohen_kappa, 1, 3)}, TPR {format_estimate(r.tpr, 1, 3)}, "
            f"TNR {format_estimate(r.tnr, 1, 3)}, answered {r.answered_share:.0%}"
        )


def judge_verdicts(path: Path) -> dict:
    """A published judge's step labels as the verdicts of a run: (trace, step) -> {"step": (fails, P(fail))}."""
    options = ImportOptions(
        annotator=path.stem, kind="judge", criterion="step", value_map=parse_value_map(["1=correct", "0=neutral", "-1=error"])
    )
    return {
        (label.trace_id, label.step_key): {"step": (label.value == "error", float(label.value == "error"))}
        for label in read_labels(path, options)
        if isinstance(label, Label)
    }


def with_judge_features(store: Store, judges: list[str]) -> None:
    """The verifier with a published judge's verdicts as features (kept only if they raise the out-of-fold
    kappa beyond chance, as `verifier train --from-run` decides), on the same test steps."""
    print("\nverifier + a published judge's verdicts as features (never as the answer):")
    for judge in judges:
        verdicts = judge_verdicts(JUDGES / f"{judge}.jsonl")
        for reference in (False, True):
            name = f"{'ref' if reference else 'plain'}_{judge}"
            verifier, _ = workflow.train(store, name, "step", reference=reference, from_run=f"labels:{judge}", outside=(verdicts, ["step"]))
            r = workflow.evaluate(store, name, bootstrap=2000, outside=verdicts).report
            kept = "kept" if verifier.run_criteria else "left out (no out-of-fold gain)"
            print(
                f"  {judge:28s} {'with' if reference else 'without'} reference features: judge features {kept}; "
                f"out-of-fold kappa {verifier.oof_kappa:.3f}; test kappa {format_estimate(r.cohen_kappa, 1, 3)}, "
                f"TPR {format_estimate(r.tpr, 1, 3)}, TNR {format_estimate(r.tnr, 1, 3)}"
            )


def curve(store: Store, name: str) -> list[tuple[float, float, float | None, float | None]]:
    """(target, decided share of test, agreement on what it decided, its lower bound) per target."""
    points = []
    for target in TARGETS:
        workflow.train(store, f"{name}-{target}", "step", reference=name.endswith("ref"), target=target, risk=0.1)
        result = workflow.evaluate(store, f"{name}-{target}", bootstrap=0)
        points.append((target, result.decided / result.items, result.decided_agreement, result.decided_agreement_low))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    curves = {}
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "v.db") as store:
        prepare(store, args.seed, args.share)
        for name, reference in (("plain", False), ("ref", True)):
            started = time.perf_counter()
            verifier, gathered = workflow.train(store, name, "step", reference=reference)
            trained_s = time.perf_counter() - started
            result = workflow.evaluate(store, name, bootstrap=2000)
            r = result.report
            print(
                f"\nverifier {'with' if reference else 'without'} reference features ({len(verifier.features)} features; "
                f"{verifier.tune_items} tune steps in {verifier.tune_groups} questions; trained in {trained_s:.1f} s; "
                f"out-of-fold kappa {verifier.oof_kappa:.3f})"
            )
            print(
                f"  test: {r.paired_items} steps in {r.traces} traces; kappa {format_estimate(r.cohen_kappa, 1, 3)}, "
                f"TPR {format_estimate(r.tpr, 1, 3)}, TNR {format_estimate(r.tnr, 1, 3)}, "
                f"step accuracy {format_estimate(r.step_accuracy, 1, 3)}"
            )
            print(
                "  baselines on the same items: "
                + ", ".join(f"{b.name} {b.step_accuracy:.3f}" for b in r.baselines if b.step_accuracy is not None)
                + " (kappa 0)"
            )
            print(f"  scoring: {result.ms_per_1000:.1f} ms per 1,000 steps (features from the stored traces not counted)")
            curves[name] = curve(store, name)
            for target, decided, agreement, low in curves[name]:
                shown = "-" if agreement is None else f"{agreement:.3f} (lower bound {low:.3f})"
                print(f"  selective, target {target:.2f} at risk 0.1: decides {decided:.0%} of test steps; agreement there {shown}")
        published_judges(store, 2000)
        with_judge_features(store, ["GPT-5.2", "DeepSeek-V3.2", "Qwen3-4B-Thinking"])
    if args.png:
        draw(curves, args.png)
        print(f"\ncurve written to {args.png}")


def draw(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        shown = [(d, a) for _, d, a, _ in points if a is not None]
        axis.plot(
            [d for d, _ in shown],
            [a for _, a in shown],
            marker="o",
            label="with reference features" if name == "ref" else "without reference features",
        )
        for target, decided, agreement, _ in points:
            if agreement is not None:
                axis.annotate(f"target {target:.2f}", (decided, agreement), fontsize=7, xytext=(4, -10), textcoords="offset points")
    axis.set_xlabel("share of test steps decided")
    axis.set_ylabel("agreement with people on them")
    axis.set_xlim(0, 1)
    axis.set_ylim(0.6, 1)
    axis.axhline(0.9, color="grey", linewidth=0.5)
    axis.set_title("Selective verifier, AgentProcessBench HotPotQA test split")
    axis.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
