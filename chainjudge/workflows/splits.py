"""The sealed test split, made or extended from the store's reference labels.

One place decides how a split is made, so the command line (`labels split`) and the demo cannot differ:
every labelled trace goes, whole, to tune or test; the traces of one task always together; a trace once
placed never moves (later ones are added on their own), unless the caller replaces the split on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainjudge.analysis.calibrate import DEFAULT_FAILING
from chainjudge.analysis.reference import reference_labels
from chainjudge.analysis.splits import assign_split, split_counts, task_group
from chainjudge.core.store import Store
from chainjudge.errors import ChainjudgeError


class SplitError(ChainjudgeError):
    """No labels to split, or a split with other settings exists and replacing it was not asked for."""


@dataclass(frozen=True)
class SplitOutcome:
    counts: dict[str, tuple[int, int]]  # side -> (traces, traces with a failing reference label)
    placed_before: int  # traces that kept their side
    placed_now: int  # traces newly placed
    unchanged: bool  # the stored split already was this one

    @property
    def thin(self) -> bool:
        """A side lacks failing or passing traces: too few labelled traces for a useful test split."""
        return any(failing == 0 or failing == traces for traces, failing in self.counts.values())


def task_grouping(store: Store) -> Callable[[str], str]:
    """trace id -> its task, from the stored trace's metadata when it is stored, else from its id."""
    cache: dict[str, str] = {}

    def group_of(trace_id: str) -> str:
        if trace_id not in cache:
            trace = store.get_trace(trace_id)
            cache[trace_id] = task_group(trace_id, trace.metadata if trace else None)
        return cache[trace_id]

    return group_of


def make_split(store: Store, test_share: float = 0.3, seed: int = 0, force: bool = False, by_task: bool = True) -> SplitOutcome:
    labels = reference_labels(store.labels())
    if not labels:
        raise SplitError(f"no reference labels in {store.location}: chainjudge labels import FILE")
    existing = store.split_settings()
    if existing is not None and existing != (seed, test_share) and not force:
        raise SplitError(
            f"a split made with seed {existing[0]} and test share {existing[1]} exists; re-splitting after "
            "looking at the test split leaks it into tuning. Pass --force to replace it anyway"
        )
    kept = {} if force else store.split()
    group_of = task_grouping(store) if by_task else (lambda trace: trace)
    assignment = assign_split(labels, test_share, seed, set(DEFAULT_FAILING), existing=kept, group_of=group_of)
    new = {t: s for t, s in assignment.items() if t not in kept}
    unchanged = not new and (not force or store.split() == assignment)
    if force and not unchanged:
        store.save_split(assignment, seed, test_share)
    elif new:
        store.add_to_split(new, seed, test_share)  # the traces already placed never move
    return SplitOutcome(split_counts(assignment, labels, set(DEFAULT_FAILING)), len(kept), len(new), unchanged)
