"""`labels split`: the sealed test split, and what `labels list` says of it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.text import Text

from chainjudge.cli.app import labels_app
from chainjudge.cli.support import DbOption, err, fail, open_store, out


@labels_app.command("split")
def labels_split(
    test_share: Annotated[float, typer.Option("--test-share", min=0.01, max=0.99, help="Share of labelled traces kept for testing.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the assignment (the same labels and seed give the same split).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing split made with other settings (test figures made before become stale).")] = False,
    group_by: Annotated[GroupBy, typer.Option("--group-by", help="task: traces of one task (AgentProcessBench question, tau-bench task_id; detected from metadata or id) always on one side; trace: each trace alone.")] = "task",
    db: DbOption = None,
) -> None:
    """Assign every labelled trace, whole, to `tune` or `test`, stratified so both hold traces with failing
    and with only passing reference labels; the traces of one task always together (--group-by). A trace
    once placed never moves; traces labelled later are placed on their own. What learns from labels sees tune only; `agreement --split
    test` measures on test and counts every look."""
    from chainjudge.analysis.calibrate import DEFAULT_FAILING
    from chainjudge.analysis.reference import reference_labels
    from chainjudge.analysis.splits import assign_split, split_counts

    with open_store(db) as store:
        labels = reference_labels(store.labels())
        if not labels:
            fail(f"no reference labels in {store.location}: chainjudge labels import FILE")
        existing = store.split_settings()
        if existing is not None and existing != (seed, test_share) and not force:
            fail(f"a split made with seed {existing[0]} and test share {existing[1]} exists; re-splitting after "
                 "looking at the test split leaks it into tuning. Pass --force to replace it anyway")
        kept = {} if force else store.split()
        group_of = (lambda trace: trace) if GroupBy(group_by) is GroupBy.trace else task_grouping(store)
        assignment = assign_split(labels, test_share, seed, set(DEFAULT_FAILING), existing=kept, group_of=group_of)
        new = {t: s for t, s in assignment.items() if t not in kept}
        unchanged = not new and (not force or store.split() == assignment)
        if force and not unchanged:
            store.save_split(assignment, seed, test_share)
        elif new:
            store.add_to_split(new, seed, test_share)  # the traces already placed never move
        counts = split_counts(assignment, labels, set(DEFAULT_FAILING))
    for name, (traces, failing) in counts.items():
        out.print(f"{name}: {traces} traces ({failing} with a failing reference label)", highlight=False)
    if unchanged:
        out.print("the stored split is already this one (unchanged)")
    elif kept and new:
        out.print(f"{len(new)} newly labelled traces placed on their own; the {len(kept)} placed before kept their side",
                  highlight=False)
    if any(f == 0 or f == t for t, f in counts.values()):
        err.print(Text("note:", style="yellow"), "a side lacks failing or passing traces: too few labelled traces for a useful test split")


class GroupBy(str, Enum):
    task = "task"
    trace = "trace"


def task_grouping(store):
    """trace id -> its task, from the stored trace's metadata when it is stored, else from its id."""
    from chainjudge.analysis.splits import task_group

    cache: dict[str, str] = {}

    def group_of(trace_id: str) -> str:
        if trace_id not in cache:
            trace = store.get_trace(trace_id)
            cache[trace_id] = task_group(trace_id, trace.metadata if trace else None)
        return cache[trace_id]

    return group_of


def split_lines(store) -> list[str]:
    """What `labels list` says about the split."""
    assignment, settings = store.split(), store.split_settings()
    if settings is None:
        return ["no test split yet: chainjudge labels split --test-share 0.3 --seed N"]
    tune = sum(1 for s in assignment.values() if s == "tune")
    return [f"split (seed {settings[0]}, test share {settings[1]}): {tune} tune traces, {len(assignment) - tune} test traces"]
