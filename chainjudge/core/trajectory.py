"""Trajectory assertions, judged without a model (pure): did the agent call the right tools, in the
right order, with the right arguments, without errors?

The semantics people keep asking peers about, decided once here:
- a trace's calls are read from its tool_call steps, in order; calls made in parallel (several calls in
  one step, or separate steps under the same parent whose recorded times overlap) form one group whose
  members may come in any order;
- `tool_sequence` modes: strict (the reference's calls in its order, parallel groups unordered inside),
  unordered (the same calls, any order), subset (nothing beyond the reference), superset (every
  reference call made; extras allowed).  Calls are paired by a maximum matching, so one call never
  satisfies two reference calls;
- arguments: ignore, exact (parsed JSON equal), subset (the expected keys, recursively, with equal
  values), normalised (exact after normalising numbers (250 == 250.0), strings (case, surrounding
  space) and dates/times (ISO forms of the same instant));
- every failing assertion names the call (its position and step), the argument and what was expected.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from chainjudge.core.schema import Criterion, Step, StepKind, Trace
from chainjudge.core.schema.assertions import ExpectedCall, StepCount, ToolArgs, ToolResultOk, ToolSequence, ToolUsed

REFERENCE_KEY = "reference_trajectory"  # trace metadata: [{tool, args}], from a scenario's expected actions or --reference
_ERROR_TEXT = re.compile(r"\s{0,20}(error|exception|traceback)\b", re.IGNORECASE)  # anchored, bounded: linear
_ERROR_STATUS = {"error", "failed", "failure", "status_code_error"}


class ReferenceMissing(ValueError):
    """No reference trajectory for the trace: a harness problem (recorded as an error), not an agent failure."""


@dataclass(frozen=True)
class Call:
    position: int  # 1-based, in the trace's order
    step_index: int
    step_ref: str
    name: str
    args: Any  # parsed JSON when the arguments parse, else the raw string
    group: int  # calls with the same group were made in parallel

    def where(self) -> str:
        return f"call {self.position} (step {self.step_index}) {self.name}"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    rationale: str


def parse_args(raw: str) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except (ValueError, TypeError):
        return raw


def _times(step: Step) -> tuple[float, float] | None:
    start, end = step.metadata.get("start"), step.metadata.get("end")
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        return float(start), float(end)
    return None


def tool_calls(trace: Trace) -> list[Call]:
    """The trace's calls in order, with their parallel groups."""
    calls: list[Call] = []
    group, last_step = 0, None
    for step in trace.steps:
        if step.kind is not StepKind.tool_call or not step.tool_calls:
            continue
        if not (last_step is not None and _overlaps(last_step, step)):
            group += 1
        for call in step.tool_calls:
            calls.append(Call(len(calls) + 1, step.index, step.ref, call.name, parse_args(call.arguments), group))
        last_step = step
    return calls


def _overlaps(a: Step, b: Step) -> bool:
    """Two call steps made in parallel: same parent and overlapping recorded times."""
    ta, tb = _times(a), _times(b)
    return (
        a.parent_ref is not None and a.parent_ref == b.parent_ref and ta is not None and tb is not None and tb[0] < ta[1] and ta[0] < tb[1]
    )


# -- arguments
def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _when(value: str) -> str | None:
    """The ISO form of a date or a date-time written in an ISO form (aware times in UTC), else None."""
    text = value.strip()
    if not 10 <= len(text) <= 40 or not text[:4].isdigit() or text[4:5] != "-":
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.astimezone(timezone.utc) if moment.tzinfo else moment).isoformat()


def normalise(value: Any) -> Any:
    """The comparable form of an argument value (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return round(float(value), 9)
    if isinstance(value, str):
        when = _when(value)
        if when:
            return when
        number = _number(value)
        return round(number, 9) if number is not None else " ".join(value.split()).casefold()
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def args_problem(expected: Any, actual: Any, mode: str, path: str = "") -> str | None:
    """None when `actual` satisfies `expected` under `mode`; else what differs, naming the argument."""
    if mode == "ignore" or expected is None:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"arguments{' ' + repr(path) if path else ''} are {_show(actual)}, expected an object"
        for key, want in expected.items():
            name = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"argument {name!r} is missing, expected {_show(want)}"
            problem = args_problem(want, actual[key], mode, name)
            if problem:
                return problem
        extra = [k for k in actual if k not in expected]
        if mode in ("exact", "normalised") and extra:
            return f"unexpected argument {(f'{path}.' if path else '') + str(extra[0])!r} = {_show(actual[extra[0]])}"
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (want, got) in enumerate(zip(expected, actual, strict=False)):
            problem = args_problem(want, got, mode, f"{path}[{i}]")
            if problem:
                return problem
        return None
    same = normalise(expected) == normalise(actual) if mode in ("normalised", "subset") else expected == actual
    return None if same else f"argument {path or 'value'!r} is {_show(actual)}, expected {_show(expected)}"


def _problem(expected: ExpectedCall, call: Call, mode: str) -> str | None:
    if expected.tool != call.name:
        return f"is {call.name}, expected {expected.tool}"
    return args_problem(expected.args, call.args, mode)


# -- matching
def _matching(reference: Sequence[ExpectedCall], calls: Sequence[Call], mode: str) -> dict[int, int]:
    """A maximum matching reference index -> call index (Kuhn's augmenting paths; traces are small)."""
    fits = [[j for j, c in enumerate(calls) if _problem(r, c, mode) is None] for r in reference]
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(reference)):
        place(i, set())
    return {i: j for j, i in owner.items()}


def _describe(expected: ExpectedCall) -> str:
    return expected.tool + (f"({_show(expected.args)})" if expected.args else "")


def _missing(reference: Any, calls: Sequence[Any], matched: dict[int, int], mode: str) -> list[str]:
    used = set(matched.values())
    problems = []
    for i, expected in enumerate(reference):
        if i in matched:
            continue
        near = next((c for j, c in enumerate(calls) if j not in used and c.name == expected.tool), None)
        why = f"; the nearest, {near.where()}: {_problem(expected, near, mode)}" if near else ""
        problems.append(f"reference call {i + 1} {_describe(expected)} was not made{why}")
    return problems


def _extra(calls: Sequence[Any], matched: dict[int, int]) -> list[str]:
    used = set(matched.values())
    return [f"{c.where()} is not in the reference" for j, c in enumerate(calls) if j not in used]


def _strict(reference: Sequence[ExpectedCall], calls: Sequence[Call], mode: str) -> list[str]:
    """In order, group by group; inside a parallel group any order."""
    position = 0
    groups: dict[int, list[Call]] = {}
    for call in calls:
        groups.setdefault(call.group, []).append(call)
    for members in groups.values():
        window = list(reference[position : position + len(members)])
        matched = _matching(window, members, mode)
        if len(matched) < len(members):
            call = next(c for k, c in enumerate(members) if k not in matched.values())
            i = next((k for k in range(len(window)) if k not in matched), None)
            if i is None:  # the reference ran out: this call is one too many
                return [f"{call.where()} is beyond the reference's {len(reference)} calls"]
            return [f"{call.where()} {_problem(window[i], call, mode)} (reference call {position + i + 1} {_describe(window[i])})"]
        position += len(members)
    return [f"reference call {i + 1} {_describe(e)} was not made" for i, e in enumerate(reference[position:], position)]


def sequence_problems(assertion: ToolSequence, reference: Sequence[ExpectedCall], calls: Sequence[Call]) -> list[str]:
    skip = set(assertion.ignore_tools)
    reference = [r for r in reference if r.tool not in skip]
    calls = [c for c in calls if c.name not in skip]
    if assertion.mode == "strict":
        return _strict(reference, calls, assertion.args)
    matched = _matching(reference, calls, assertion.args)
    missing = _missing(reference, calls, matched, assertion.args) if assertion.mode in ("unordered", "superset") else []
    extra = _extra(calls, matched) if assertion.mode in ("unordered", "subset") else []
    return missing + extra


# -- one assertion on one trace
def reference_of(assertion: ToolSequence, trace: Trace) -> list[ExpectedCall]:
    if assertion.reference is not None:
        return assertion.reference
    stored = trace.metadata.get(REFERENCE_KEY)
    if not isinstance(stored, list):
        raise ReferenceMissing(
            f"no reference trajectory: the rubric gives none and the trace has no {REFERENCE_KEY!r} "
            "(a scenario's expected actions, or chainjudge judge --reference FILE)"
        )
    try:
        return [ExpectedCall.model_validate(item) for item in stored]
    except ValueError as exc:
        raise ReferenceMissing(f"the trace's {REFERENCE_KEY!r} is not a list of {{tool, args}}: {exc}") from exc


def is_error_result(step: Step) -> bool:
    status = step.metadata.get("status")
    if isinstance(status, str) and status.casefold() in _ERROR_STATUS or step.metadata.get("error") is True:
        return True
    return bool(_ERROR_TEXT.match(step.text[:200]))


def _count(assertion: ToolUsed, calls: Sequence[Call]) -> Outcome:
    made = [c for c in calls if c.name == assertion.tool]
    bound = f"at least {assertion.min}" + (f" and at most {assertion.max}" if assertion.max is not None else "")
    if assertion.max == 0:
        bound = "never"
    least = assertion.min if assertion.min is not None else 1  # set by the model's validator; kept total
    ok = len(made) >= least and (assertion.max is None or len(made) <= assertion.max)
    where = (": " + ", ".join(c.where() for c in made[:5])) if made else ""
    return Outcome(ok, f"{assertion.tool} was called {len(made)} time(s){where}; expected {bound}")


def _args(assertion: ToolArgs, calls: Sequence[Call]) -> Outcome:
    import jsonschema

    made = [c for c in calls if c.name == assertion.tool]
    if not made:
        return Outcome(not assertion.required, f"{assertion.tool} was never called")
    for call in made:
        problem = args_problem(assertion.expected, call.args, assertion.match) if assertion.expected is not None else None
        if problem is None and assertion.json_schema is not None:
            error = next(iter(jsonschema.Draft202012Validator(assertion.json_schema).iter_errors(call.args)), None)
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "arguments"
                problem = f"argument {where!r} breaks the schema: {error.message[:200]}"
        if problem:
            return Outcome(False, f"{call.where()}: {problem}")
    return Outcome(True, f"all {len(made)} call(s) of {assertion.tool} have the expected arguments")


def _steps(assertion: StepCount, trace: Trace) -> Outcome:
    counted = [s for s in trace.steps if not assertion.kinds or s.kind.value in assertion.kinds]
    what = f"{len(counted)} {'/'.join(assertion.kinds) + ' ' if assertion.kinds else ''}steps"
    ok = len(counted) >= assertion.min and (assertion.max is None or len(counted) <= assertion.max)
    bound = f"at least {assertion.min}" + (f" and at most {assertion.max}" if assertion.max is not None else "")
    return Outcome(ok, f"{what}; expected {bound}")


def evaluate(criterion: Criterion, trace: Trace, step: Step) -> Outcome:
    """One trajectory assertion on one trace (on the judged step, for tool_result_ok).  Raises
    ReferenceMissing when a sequence has nothing to be compared with."""
    assertion = criterion.assertion
    if isinstance(assertion, ToolResultOk):
        failed = is_error_result(step)
        answered = f" (answer to step {step.parent_ref})" if step.parent_ref else ""
        return Outcome(
            not failed,
            f"step {step.index} {step.name or 'tool'}{answered} "
            + (f"returned an error: {step.text[:160]!r}" if failed else "returned a result"),
        )
    if isinstance(assertion, StepCount):
        return _steps(assertion, trace)
    calls = tool_calls(trace)
    if isinstance(assertion, ToolUsed):
        return _count(assertion, calls)
    if isinstance(assertion, ToolArgs):
        return _args(assertion, calls)
    if isinstance(assertion, ToolSequence):
        reference = reference_of(assertion, trace)
        problems = sequence_problems(assertion, reference, calls)
        head = f"{assertion.mode} match of {len(calls)} call(s) against a reference of {len(reference)}"
        return Outcome(not problems, head + (": " + "; ".join(problems[:5]) if problems else ": every call matches"))
    raise TypeError(f"unknown assertion {assertion!r}")


def judged_steps(criterion: Criterion, trace: Trace) -> list[Step]:
    """Where an assertion's judgment is recorded: each applicable step for tool_result_ok; otherwise once
    per trace, on the last step of an applicable kind (or the last step)."""
    applicable = [s for s in trace.steps if s.kind in criterion.applies_to]
    if isinstance(criterion.assertion, ToolResultOk):
        return applicable
    chosen = applicable[-1:] or trace.steps[-1:]
    return chosen
