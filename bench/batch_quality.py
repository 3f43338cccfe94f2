"""Quality guard for batched judging on the offline local judge: the same steps judged with all criteria
in one call and with one call per criterion, each compared with the labels the data carries.

- AgentProcessBench HotPotQA sample (bundled): final-answer steps, criteria step_correct +
  answer_grounded; step_correct compared with the human step labels.
- CEP pack (bundled): decision steps, criteria grounded_in_tools + offer_fits + language_and_tone;
  the last two compared with the scenarios' ground truth.

    python bench/batch_quality.py [--hotpot 20] [--cep 15]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

from chainjudge.analysis.calibrate import wilson_interval  # noqa: E402
from chainjudge.core.engine import plan  # noqa: E402
from chainjudge.core.judges.resolve import open_judge  # noqa: E402
from chainjudge.core.rubric import load_rubric  # noqa: E402
from chainjudge.core.schema import StepKind  # noqa: E402
from chainjudge.packs.cep.decisions import load_scenarios  # noqa: E402
from chainjudge.packs.cep.groundtruth import ground_truth_labels  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HUMAN = {1: "correct", 0: "neutral", -1: "error"}


def judge_all(judge, items) -> tuple[dict, int, float]:
    verdicts, calls, started = {}, 0, time.perf_counter()
    for item in items:
        for j in asyncio.run(judge.judge(item)):
            verdicts[(j.trace_id, j.step_ref, j.criterion_id)] = j.verdict.label if j.verdict else None
        calls += 1
    return verdicts, calls, time.perf_counter() - started


def compare(name, traces, rubric, truth, steps_wanted, n):
    results, labels = {}, {}
    for batch in (True, False):
        with open_judge("local", batch=batch) as (settings, judge):
            items = [i for i in plan(traces, rubric, settings, "q") if i.step.kind is StepKind.decision]
            keep = sorted({i.trace_id for i in items})[:n]
            items = [i for i in items if i.trace_id in keep]
            verdicts, calls, seconds = judge_all(judge, items)
        agree = [verdicts[k] == v for k, v in truth.items() if k in verdicts and k[2] in steps_wanted]
        errors = sum(1 for v in verdicts.values() if v is None)
        results[batch] = (sum(agree), len(agree), calls, seconds, errors)
        labels[batch] = verdicts
    for batch, (ok, total, calls, seconds, errors) in results.items():
        mode = "batched      " if batch else "one per crit."
        low, high = wilson_interval(ok, total)
        print(
            f"  {name} {mode}: agreement {ok}/{total} = {ok / max(1, total):.0%} (95% CI {low:.0%}-{high:.0%}), "
            f"{calls} calls, {seconds:.0f} s, {errors} judgments with errors",
            flush=True,
        )
    shared = [k for k in labels[True] if k in labels[False] and k[2] in steps_wanted]
    same = sum(labels[True][k] == labels[False][k] for k in shared)
    print(f"  {name}: the two modes gave the same label on {same}/{len(shared)} judgments", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hotpot", type=int, default=20, help="HotPotQA traces (the bundled sample has 20)")
    parser.add_argument("--cep", type=int, default=15, help="CEP traces with a decision")
    args = parser.parse_args()
    print(f"machine: {machine()}; judge: the offline local model")
    hotpot = load_traces([ROOT / "traces" / "agentprocessbench-hotpotqa-sample.jsonl"]).traces
    truth = {}
    for t in hotpot:
        for ref, label in t.metadata["step_labels"].items():
            truth[(t.id, ref, "step_correct")] = HUMAN[label]
    compare(
        "HotPotQA step_correct vs people", hotpot, load_rubric(ROOT / "rubrics" / "step-quality.yaml"), truth, {"step_correct"}, args.hotpot
    )
    cep = load_traces([ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl"]).traces
    cep = [t for t in cep if t.metadata.get("status") == "ok"]
    labels = ground_truth_labels(cep, load_scenarios(ROOT / "chainjudge" / "packs" / "cep" / "traces" / "scenarios.jsonl"))
    cep_truth = {(label.trace_id, label.step_ref, label.criterion): label.value for label in labels}
    compare(
        "CEP offer/language vs ground truth",
        cep,
        load_rubric(ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml"),
        cep_truth,
        {"offer_fits", "language_and_tone"},
        args.cep,
    )


if __name__ == "__main__":
    main()
