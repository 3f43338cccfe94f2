"""Long traces within a token budget: what the judge sees of the longest shared trace files, before (the
default layout: the judged step cut at max_step_chars, up to max_context_chars of earlier steps) and
after (a rubric `context:` budget: the task, the call a result answers and the last steps verbatim,
every earlier step as a one-line digest while the budget lasts).

Prints per file: judged steps, prompt tokens per judged step (median, max), the share of earlier steps
the judge sees (verbatim or as a digest), and whether the budget held on every step.

    .venv/bin/python bench/long_traces.py --budget 3000
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from chainjudge.core import offline  # noqa: E402

offline.apply()  # a benchmark is an entry point: token counting must not reach for the network

from chainjudge.core.context import prompt_tokens  # noqa: E402
from chainjudge.core.engine import plan  # noqa: E402
from chainjudge.core.rubric import load_rubric  # noqa: E402
from chainjudge.core.schema import ContextBudget, JudgeSettings  # noqa: E402
from chainjudge.pipeline import load_traces  # noqa: E402

FILES = {
    "SWE-agent": ROOT / "tests/data/trace-formats/swe-agent/sweagent_function_calling_marshmallow-1867.traj",
    "OpenHands": ROOT / "tests/data/trace-formats/openhands/openhands_basic_gui_mode.json",
    "Langfuse": ROOT / "tests/data/trace-formats/langfuse/langfuse_langgraph-python-2025-08-22.trace.json",
    "ATIF": ROOT / "tests/data/trace-formats/atif/atif_harbor_terminus2_timeout.json",
}


def stretched(trace, times: int):
    """A long trace from a real one: its steps repeated `times` times (hundreds of steps, like a coding
    agent's long session), refs kept unique."""
    steps = []
    for round_ in range(times):
        for s in trace.steps:
            if round_ and s.kind.value == "system":
                continue
            parent = f"r{round_}:{s.parent_ref}" if s.parent_ref else None
            steps.append(s.model_copy(update={"index": len(steps), "ref": f"r{round_}:{s.ref}", "parent_ref": parent}))
    return trace.model_copy(update={"id": f"{trace.id}-x{times}", "steps": steps})


def whole_trace_tokens(trace, item) -> int:
    """What a judge shown every earlier step in full would be sent (the system message aside)."""
    from chainjudge.core.context import count_tokens

    return sum(count_tokens(s.render()) for s in trace.steps[: item.step.index + 1]) + prompt_tokens(item.messages[:1])


def visible(messages: list[dict], trace, step) -> float:
    """Share of the earlier steps whose ref appears in the prompt (verbatim or as a digest line)."""
    earlier = [s for s in trace.steps[: step.index] if s.kind.value != "system"]  # instructions are never shown
    if not earlier:
        return 1.0
    text = messages[-1]["content"]
    return sum(1 for s in earlier if f"[{s.ref} {s.kind.value}]" in text) / len(earlier)


def measure(traces, rubric, settings):
    started = time.perf_counter()
    items = plan(traces, rubric, settings, "bench")
    seconds = time.perf_counter() - started
    by_id = {t.id: t for t in traces}
    tokens = [prompt_tokens(i.messages) for i in items]
    seen = [visible(i.messages, by_id[i.trace_id], i.step) for i in items]
    return items, tokens, seen, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=3000)
    args = parser.parse_args()
    base = load_rubric(ROOT / "rubrics" / "step-quality.yaml")
    budgeted = base.model_copy(update={"context": ContextBudget(tokens=args.budget)})
    settings = JudgeSettings(model="openai/bench", batch=True)
    print(f"step-quality rubric, batched; budget {args.budget} tokens (cl100k_base); before (default layout) -> after (budget)")
    workloads = [(name, load_traces([path]).traces) for name, path in FILES.items()]
    workloads.append(("SWE-agent x12", [stretched(workloads[0][1][0], 12)]))
    for name, traces in workloads:
        steps = sum(len(t.steps) for t in traces)
        _, before, seen_before, _ = measure(traces, base, settings)
        items, after, seen_after, seconds = measure(traces, budgeted, settings)
        held = sum(1 for t in after if t <= args.budget)
        by_id = {t.id: t for t in traces}
        whole = [whole_trace_tokens(by_id[i.trace_id], i) for i in items]
        print(f"{name:13} {steps:4} steps, {len(items):3} judged | whole trace: median {statistics.median(whole):6.0f}, max {max(whole):6}")
        print(
            f"{'':13} tokens/judged step median {statistics.median(before):6.0f} -> "
            f"{statistics.median(after):6.0f}, max {max(before):6} -> {max(after):6} | earlier steps visible "
            f"{statistics.mean(seen_before):4.0%} -> {statistics.mean(seen_after):4.0%} | budget held on {held}/{len(after)} "
            f"| planning {seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
