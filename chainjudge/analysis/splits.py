"""A sealed test split for judge alignment: whole traces (never single steps, so no trace leaks half into
each side) assigned to `tune` or `test`, stratified so both sides hold traces with failing and with only
passing reference labels.  Deterministic: the same labelled traces and seed give the same split.

Sealed means it never moves: once a split exists, a trace keeps its side for good, and a trace labelled
later is assigned on its own (a hash of the seed and its id against the test share), so adding labels
cannot carry a trace across (re-shuffling the whole set used to move old traces when one was added)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence

from chainjudge.core.schema import Label

TUNE, TEST = "tune", "test"


def assign_split(labels: Sequence[Label], test_share: float, seed: int, failing: set[str],
                 existing: Mapping[str, str] | None = None) -> dict[str, str]:
    """trace id -> tune | test for every trace that has a label.  Without an existing split, each stratum
    (traces with a failing label, traces without) is shuffled with the seed and `test_share` of it (rounded,
    at least one trace when the stratum has two or more) goes to test.  With one, its traces keep their
    side and every new trace is placed by `side_of_new_trace`."""
    if not 0 < test_share < 1:
        raise ValueError(f"the test share must be between 0 and 1, not {test_share}")
    has_failing: dict[str, bool] = {}
    for label in labels:
        has_failing[label.trace_id] = has_failing.get(label.trace_id, False) or label.value.lower() in failing
    if existing:
        return {**dict(existing), **{t: side_of_new_trace(t, seed, test_share) for t in has_failing if t not in existing}}
    assignment: dict[str, str] = {}
    for stratum in (True, False):
        traces = sorted(t for t, f in has_failing.items() if f is stratum)
        random.Random(f"{seed}:{stratum}").shuffle(traces)
        n_test = round(len(traces) * test_share)
        if len(traces) >= 2:
            n_test = min(max(n_test, 1), len(traces) - 1)
        for position, trace in enumerate(traces):
            assignment[trace] = TEST if position < n_test else TUNE
    return assignment


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
