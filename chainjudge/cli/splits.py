"""`labels split`: the sealed test split, and what `labels list` says of it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.text import Text

from chainjudge.cli.app import labels_app
from chainjudge.cli.support import DbOption, err, open_store, out


class GroupBy(str, Enum):
    task = "task"
    trace = "trace"


@labels_app.command("split")
def labels_split(
    test_share: Annotated[float, typer.Option("--test-share", min=0.01, max=0.99, help="Share of labelled traces kept for testing.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the assignment (the same labels and seed give the same split).")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing split made with other settings (test figures made before become stale).")
    ] = False,
    group_by: Annotated[
        GroupBy,
        typer.Option(
            "--group-by",
            help="task: traces of one task (AgentProcessBench question, tau-bench task_id; detected from metadata or id) always on one "
            "side; trace: each trace alone.",
        ),
    ] = GroupBy.task,
    db: DbOption = None,
) -> None:
    """Assign every labelled trace, whole, to `tune` or `test`, stratified so both hold traces with failing
    and with only passing reference labels; the traces of one task always together (--group-by). A trace
    once placed never moves; traces labelled later are placed on their own. What learns from labels sees tune only; `agreement --split
    test` measures on test and counts every look."""
    from chainjudge.workflows.splits import make_split

    with open_store(db) as store:
        outcome = make_split(store, test_share, seed, force, by_task=GroupBy(group_by) is GroupBy.task)
    for name, (traces, failing) in outcome.counts.items():
        out.print(f"{name}: {traces} traces ({failing} with a failing reference label)", highlight=False)
    if outcome.unchanged:
        out.print("the stored split is already this one (unchanged)")
    elif outcome.placed_before and outcome.placed_now:
        out.print(
            f"{outcome.placed_now} newly labelled traces placed on their own; the {outcome.placed_before} placed before kept their side",
            highlight=False,
        )
    if outcome.thin:
        err.print(Text("note:", style="yellow"), "a side lacks failing or passing traces: too few labelled traces for a useful test split")


def split_lines(store) -> list[str]:
    """What `labels list` says about the split."""
    assignment, settings = store.split(), store.split_settings()
    if settings is None:
        return ["no test split yet: chainjudge labels split --test-share 0.3 --seed N"]
    tune = sum(1 for s in assignment.values() if s == "tune")
    return [f"split (seed {settings[0]}, test share {settings[1]}): {tune} tune traces, {len(assignment) - tune} test traces"]
