"""A verifier where only outcomes exist: tau-bench airline (gpt-4o, 50 tasks x 4 trials, reward 0 or 1).

tau-bench carries no step labels, only each trajectory's reward.  The nearest honest use: label each
trajectory's last agent step with its outcome (reward 0: fail) and ask whether the verifier's structure
features predict it, on a sealed split by task (the four trials of a task on one side, so no trial of a
test task is learned from).  Printed: out-of-fold kappa on tune, test kappa / TPR / TNR with intervals over
traces beside the trivial baselines, and what the selective cut decides.  The `reference_trajectory` the
traces carry is the task's expected tool calls; the verifier's reference features read answers, not calls,
so they are not used here.

    .venv/bin/python bench/verifier_taubench.py [--seed 0] [--share 0.3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

from chainjudge.analysis.figures import format_estimate  # noqa: E402
from chainjudge.analysis.splits import assign_split, task_group  # noqa: E402
from chainjudge.core.schema import Label, StepKind  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402
from chainjudge.workflows import verifier as workflow  # noqa: E402

DATA = ROOT / "tests" / "data" / "tau-bench" / "gpt-4o-airline.json"
AGENT = (StepKind.decision, StepKind.message, StepKind.tool_call)


def outcome_labels(traces) -> list[Label]:
    """One label per trajectory, on its last agent step: pass when the task's reward is 1."""
    labels = []
    for trace in traces:
        last = next((s for s in reversed(trace.steps) if s.kind in AGENT), None)
        if last is not None and trace.metadata.get("reward") is not None:
            labels.append(
                Label(
                    trace_id=trace.id,
                    step_ref=last.ref,
                    step_index=last.index,
                    criterion="outcome",
                    value="pass" if float(trace.metadata["reward"]) >= 1 else "fail",
                    annotator="reward",
                    kind="ground-truth",
                )
            )
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--share", type=float, default=0.3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    traces = load_traces([DATA]).traces
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "t.db") as store:
        store.save_traces(traces)
        labels = outcome_labels(traces)
        store.add_labels(labels)
        groups = {t.id: task_group(t.id, t.metadata) for t in traces}
        store.save_split(assign_split(labels, args.share, args.seed, {"fail"}, group_of=groups.get), args.seed, args.share)
        verifier, _ = workflow.train(store, "outcome", "outcome", failing=["fail"], target=0.8)
        result = workflow.evaluate(store, "outcome", bootstrap=2000)
        r = result.report
        print(
            f"{len(labels)} trajectories labelled by reward ({sum(label.value == 'fail' for label in labels)} failed) in "
            f"{len(set(groups.values()))} tasks; tune {verifier.tune_items} in {verifier.tune_groups} tasks"
        )
        print(f"out of fold (tasks held out): kappa {verifier.oof_kappa:.3f}, lower bound {verifier.oof_kappa_low:.3f}")
        print(
            f"test: {r.paired_items} trajectories in {r.traces}; kappa {format_estimate(r.cohen_kappa, 1, 3)}, "
            f"TPR {format_estimate(r.tpr, 1, 3)}, TNR {format_estimate(r.tnr, 1, 3)}, "
            f"accuracy {format_estimate(r.step_accuracy, 1, 3)}"
        )
        print(
            "baselines on the same items: "
            + ", ".join(f"{b.name} {b.step_accuracy:.3f}" for b in r.baselines if b.step_accuracy is not None)
            + " (kappa 0)"
        )
        print(
            f"selective (target 0.8, risk 0.1): decides {result.decided}/{result.items} test trajectories"
            + (f", agreement {result.decided_agreement:.3f}" if result.decided else "")
        )


if __name__ == "__main__":
    main()
