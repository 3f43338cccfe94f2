"""A sealed test split for judge alignment: whole traces (never single steps, so no trace leaks half into
each side) assigned to `tune` or `test`, stratified so both sides hold traces with failing and with only
passing reference labels.  Deterministic: the same labelled traces and seed give the same split.

Sealed means it never moves: once a split exists, a trace keeps its side for good, and a trace labelled
later is assigned on its own (a hash of the seed and its id against the test share), so adding labels
cannot carry a trace across (re-shuffling the whole set used to move old traces when one was added)."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping, Sequence

from chainjudge.core.schema import Label

TUNE, TEST = "tune", "test"


def assign_split(
    labels: Sequence[Label],
    test_share: float,
    seed: int,
    failing: set[str],
    existing: Mapping[str, str] | None = None,
    group_of: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """trace id -> tune | test for every trace that has a label.  Traces of one group (one task: the five
    AgentProcessBench trajectories of a question, the trials of a tau-bench task) always go to the same
    side: a judge tuned on one trajectory of a question has seen its answer.  Without an existing split,
    each stratum of groups (with a failing label, without) is shuffled with the seed and `test_share` of it
    (rounded, at least one group when the stratum has two or more) goes to test.  With one, its traces keep
    their side; a new trace joins its group's side when the group is placed, else `side_of_new_trace`."""
    if not 0 < test_share < 1:
        raise ValueError(f"the test share must be between 0 and 1, not {test_share}")
    group_of = group_of or (lambda trace: trace)
    has_failing: dict[str, bool] = {}
    for label in labels:
        has_failing[label.trace_id] = has_failing.get(label.trace_id, False) or label.value.lower() in failing
    if existing:
        placed = {group_of(t): side for t, side in existing.items()}
        new = {
            t: placed.get(group_of(t)) or side_of_new_trace(group_of(t), seed, test_share) for t in sorted(has_failing) if t not in existing
        }
        return {**dict(existing), **new}
    return _stratified(has_failing, test_share, seed, group_of)


def _stratified(has_failing: dict[str, bool], test_share: float, seed: int, group_of: Callable[[str], str]) -> dict[str, str]:
    """A new split: each stratum of groups (with a failing label, without) shuffled with the seed, and
    `test_share` of it (rounded; at least one group, and not all, when it has two or more) to test."""
    members: dict[str, list[str]] = {}
    for trace in sorted(has_failing):
        members.setdefault(group_of(trace), []).append(trace)
    group_fails = {g: any(has_failing[t] for t in ts) for g, ts in members.items()}
    assignment: dict[str, str] = {}
    for stratum in (True, False):
        groups = sorted(g for g, f in group_fails.items() if f is stratum)
        random.Random(f"{seed}:{stratum}").shuffle(groups)
        n_test = round(len(groups) * test_share)
        if len(groups) >= 2:
            n_test = min(max(n_test, 1), len(groups) - 1)
        for position, group in enumerate(groups):
            for trace in members[group]:
                assignment[trace] = TEST if position < n_test else TUNE
    return assignment


_QUESTION_ID = re.compile(r"([^:]{1,200}):(\d{1,9}):\d{1,9}")  # AgentProcessBench: source:question:sample
_TASK_ID = re.compile(r"(.{0,200}):task-([^:]{1,100})(?::trial-\d{1,9})?")  # tau-bench records read by chainjudge


def task_group(trace_id: str, metadata: Mapping[str, object] | None = None) -> str:
    """The task a trace belongs to, for splits and cross-validation that must not leak: its metadata's
    `query_index` (AgentProcessBench) or `task_id` (tau-bench) when the trace is known, else what its id
    says in those formats' id layouts, else the trace itself."""
    meta = metadata or {}
    if meta.get("query_index") is not None:
        return f"question:{meta.get('data_source', '')}:{meta['query_index']}"
    if meta.get("task_id") is not None:
        return f"task:{meta['task_id']}"
    question = _QUESTION_ID.fullmatch(trace_id)
    if question:
        return f"question:{question.group(1)}:{question.group(2)}"
    task = _TASK_ID.fullmatch(trace_id)
    if task:
        return f"task:{task.group(2)}"
    return trace_id  # its own group (named as itself, so ungrouped splits are the ones made before groups)


def side_of_new_trace(trace_id: str, seed: int, test_share: float) -> str:
    """A trace labelled after the split was made: test with probability `test_share`, from a hash of the
    seed and the id alone, so it never depends on (nor moves) any other trace."""
    digest = hashlib.sha256(f"{seed}:{trace_id}".encode("utf-8", "surrogatepass")).digest()
    return TEST if int.from_bytes(digest[:8], "big") / 2**64 < test_share else TUNE


def judge_version(run) -> str:
    """What a judge's looks at the test split are counted against: its model, its rubric and, for an aligned
    judge, the aligned version (new worked examples are a new judge whose looks start again at one)."""
    version = f"{run.judge.model}@{run.rubric_hash}"
    return f"{version}+{run.judge.aligned}" if run.judge.aligned else version


def split_counts(assignment: dict[str, str], labels: Sequence[Label], failing: set[str]) -> dict[str, tuple[int, int]]:
    """split -> (traces, traces with a failing label)."""
    failing_traces = {label.trace_id for label in labels if label.value.lower() in failing}
    counts: dict[str, tuple[int, int]] = {}
    for name in (TUNE, TEST):
        members = [t for t, s in assignment.items() if s == name]
        counts[name] = (len(members), sum(1 for t in members if t in failing_traces))
    return counts
