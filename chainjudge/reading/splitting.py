"""Apply text segmentation to a whole trace: long agent messages become several judged steps."""

from __future__ import annotations

from chainjudge.core.schema import Step, StepKind, Trace
from chainjudge.core.segment import SplitMode, split_text

SPLITTABLE = {StepKind.reasoning, StepKind.message, StepKind.decision, StepKind.tool_call}


def split_trace(trace: Trace, mode: SplitMode) -> Trace:
    """Each piece keeps the original ref with a suffix (`4.1`, `4.2`); tool calls stay on the last piece."""
    steps: list[Step] = []
    for step in trace.steps:
        pieces = split_text(step.text, mode) if step.kind in SPLITTABLE and step.text else []
        if len(pieces) <= 1:
            steps.append(step.model_copy(update={"index": len(steps)}))
            continue
        for k, piece in enumerate(pieces, start=1):
            last = k == len(pieces)
            kind = step.kind if last else StepKind.reasoning
            steps.append(
                step.model_copy(
                    update={
                        "index": len(steps),
                        "ref": f"{step.ref}.{k}",
                        "kind": kind,
                        "text": piece,
                        "tool_calls": step.tool_calls if last else [],
                        "metadata": {**step.metadata, "split_from": step.ref},
                    }
                )
            )
    return trace.model_copy(update={"steps": steps})
