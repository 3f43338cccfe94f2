"""What a learned verifier sees of one step: numbers computed from the recorded trace around it (pure).

A prompted 1.5B judge is at chance on AgentProcessBench HotPotQA; people's step labels there follow the
trace's structure and its outcome closely, which a small calibrated classifier can learn from a few
hundred labels.  Two families:

- structure (always): the step's kind and position, whether it repeats an earlier call, how much of its
  claim earlier tool output supports, what its tool call got back, lengths;
- reference-aware (only when the trace carries a reference answer: AgentProcessBench `ground_truth`,
  an `expected_answer` / `reference_answer` field): whether the step, what it got back and the final
  answer contain or match the reference.  Asked for by name (`reference=True`), never slipped in.

Every feature is a float; the names are the columns a stored verifier keeps, in order.  Tokenising is
linear (one pass of a bounded regex) and every text is capped, so a huge step costs no more than its cap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from chainjudge.core.schema import Step, StepKind, Trace

MAX_CHARS = 20_000  # per text read for features: a 10 MB tool result costs what 20 KB do
_TOKEN = re.compile(r"[0-9a-z]{2,40}")
_STOP = frozenset(
    "the a an of in on at to for and or is was were be by with as from that this it its his her "
    "their who what which when where how did does do are not no yes".split()
)
_ERROR_WORDS = ("error", "exception", "not found", "no result", "failed", "timeout", "invalid")

STRUCTURE = (
    "kind_tool_call",
    "kind_decision",
    "kind_message",
    "kind_reasoning",
    "position",
    "is_last_agent_step",
    "prior_calls_log",
    "repeats_a_call",
    "query_overlap_with_earlier",
    "result_empty_or_error",
    "claim_supported_by_earlier_results",
    "result_overlap_with_question",
    "step_overlap_with_question",
    "step_chars_log",
    "result_chars_log",
    "has_answer_tag",
)
REFERENCE = (
    "reference_in_step",
    "reference_in_result",
    "reference_seen_before",
    "final_matches_reference",
    "final_token_f1",
    "step_token_f1",
)


def feature_names(reference: bool, run_criteria: Sequence[str] = ()) -> tuple[str, ...]:
    return STRUCTURE + (REFERENCE if reference else ()) + run_feature_names(run_criteria)


def run_feature_names(criteria: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"run:{c}:{part}" for c in criteria for part in ("answered", "fails", "p_fail"))


def run_features(verdicts: dict[str, tuple[bool, float] | None], criteria: Sequence[str]) -> list[float]:
    """Another run's judgments of the same step, as features, never as the answer: per criterion, whether
    it answered, whether it failed the step, and its P(fail) (label probabilities where the judge gave them,
    else its stated confidence, else 0 or 1).  A deterministic check is a judge like any other here, so a
    pack's policy checks enter the same way.  verdicts: criterion -> (fails, P(fail)), None if no verdict."""
    values: list[float] = []
    for criterion in criteria:
        found = verdicts.get(criterion)
        values += [0.0, 0.5, 0.5] if found is None else [1.0, float(found[0]), float(found[1])]
    return values


def tokens(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text[:MAX_CHARS].lower()) if t not in _STOP]


def _overlap(part: Sequence[str], whole: set[str]) -> float:
    """Share of PART's distinct tokens found in WHOLE (0 when PART has none)."""
    distinct = set(part)
    return len(distinct & whole) / len(distinct) if distinct else 0.0


def _f1(a: Sequence[str], b: Sequence[str]) -> float:
    common = len(set(a) & set(b))
    if not a or not b or not common:
        return 0.0
    precision, recall = common / len(set(a)), common / len(set(b))
    return 2 * precision * recall / (precision + recall)


def _normal(text: str) -> str:
    return " ".join(tokens(text))


def reference_answers(trace: Trace) -> list[str]:
    """The trace's reference answers, where it carries any (AgentProcessBench: ground_truth.target)."""
    found: list[str] = []
    meta = trace.metadata
    truth = meta.get("ground_truth")
    if isinstance(truth, dict):
        target = truth.get("target")
        found += [str(t) for t in (target if isinstance(target, list) else [target]) if t not in (None, "")]
    elif isinstance(truth, (str, int, float)) and str(truth):
        found.append(str(truth))
    for key in ("expected_answer", "reference_answer"):
        value = meta.get(key)
        if isinstance(value, (str, int, float)) and str(value):
            found.append(str(value))
    return [a for a in found if _normal(a)]


def _contains(text_normal: str, answers_normal: Sequence[str]) -> float:
    padded = f" {text_normal} "
    return float(any(f" {a} " in padded for a in answers_normal if a))


def _agent_steps(trace: Trace) -> list[Step]:
    return [s for s in trace.steps if s.kind in (StepKind.tool_call, StepKind.decision, StepKind.message, StepKind.reasoning)]


def _question(trace: Trace) -> str:
    return next((s.text for s in trace.steps if s.kind is StepKind.user), "")


def _call_text(step: Step) -> str:
    return " ".join(f"{c.name} {c.arguments}" for c in step.tool_calls) if step.tool_calls else step.render()


def _result_of(trace: Trace, step: Step) -> str:
    """What the step's tool call got back: the tool results that follow it, before the next agent step."""
    texts = []
    for later in trace.steps[step.index + 1 :]:
        if later.kind is not StepKind.tool_result:
            break
        texts.append(later.text[:MAX_CHARS])
    return "\n".join(texts)


def step_features(trace: Trace, step: Step, reference: bool = False) -> list[float]:
    """The step's features, in `feature_names(reference)` order."""
    agent = _agent_steps(trace)
    question = set(tokens(_question(trace)))
    text = step.render()[:MAX_CHARS]
    text_tokens = tokens(text)
    earlier_results = [s for s in trace.steps[: step.index] if s.kind is StepKind.tool_result]
    earlier_result_tokens = set(tokens(" ".join(s.text[:MAX_CHARS] for s in earlier_results)))
    earlier_calls = [s for s in trace.steps[: step.index] if s.kind is StepKind.tool_call]
    call_tokens = tokens(_call_text(step)) if step.kind is StepKind.tool_call else []
    repeats = float(
        step.kind is StepKind.tool_call and any(_call_text(c).strip().lower() == _call_text(step).strip().lower() for c in earlier_calls)
    )
    overlap_earlier = max((_f1(call_tokens, tokens(_call_text(c))) for c in earlier_calls), default=0.0)
    result = _result_of(trace, step) if step.kind is StepKind.tool_call else ""
    result_lower = result.lower()
    empty_or_error = float(step.kind is StepKind.tool_call and (not result.strip() or any(w in result_lower[:2000] for w in _ERROR_WORDS)))
    values = [
        float(step.kind is StepKind.tool_call),
        float(step.kind is StepKind.decision),
        float(step.kind is StepKind.message),
        float(step.kind is StepKind.reasoning),
        step.index / max(1, len(trace.steps) - 1),
        float(bool(agent) and agent[-1].index == step.index),
        math.log1p(len(earlier_calls)),
        repeats,
        overlap_earlier,
        empty_or_error,
        _overlap(text_tokens, earlier_result_tokens) if step.kind is not StepKind.tool_call else 0.0,
        _overlap(tokens(result), question) if result else 0.0,
        _overlap(text_tokens, question),
        math.log1p(len(text)),
        math.log1p(len(result)),
        float("<answer>" in text.lower() or step.kind is StepKind.decision),
    ]
    if reference:
        values += _reference_features(trace, step, text, result, earlier_results, agent)
    return values


def _reference_features(trace: Trace, step: Step, text: str, result: str, earlier_results: list[Step], agent: list[Step]) -> list[float]:
    answers = [_normal(a) for a in reference_answers(trace)]
    if not answers:
        return [0.0] * len(REFERENCE)
    final = agent[-1].render()[:MAX_CHARS] if agent else ""
    final_answer = _answer_part(final)
    best_final = max(_f1(tokens(final_answer), a.split()) for a in answers)
    best_step = max(_f1(tokens(_answer_part(text)), a.split()) for a in answers)
    return [
        _contains(_normal(text), answers),
        _contains(_normal(result), answers),
        _contains(_normal(" ".join(s.text[:MAX_CHARS] for s in earlier_results)), answers),
        float(best_final >= 0.8 or bool(_contains(_normal(final_answer), answers))),
        best_final,
        best_step,
    ]


_ANSWER = re.compile(r"<answer>(.{0,2000}?)</answer>", re.S | re.I)


def _answer_part(text: str) -> str:
    """The text inside <answer>...</answer> when there is one (HotPotQA agents), else the whole text."""
    found = _ANSWER.search(text[:MAX_CHARS])
    return found.group(1) if found else text
