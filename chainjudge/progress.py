"""A rich progress bar for judging runs: done/total, rate, ETA, errors and cost so far."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from chainjudge.engine import Progress as RunProgress


@contextmanager
def live_progress(console: Console, description: str) -> Iterator[tuple[Callable[[int], None], Callable[[RunProgress], None]]]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("errors {task.fields[errors]}  ${task.fields[cost]}"),
        console=console,
        transient=False,
    )
    task = bar.add_task(description, total=None, rate="", errors=0, cost="0.0000")

    def on_start(total: int) -> None:
        bar.update(task, total=total)

    def on_progress(p: RunProgress) -> None:
        speed = bar.tasks[task].speed
        bar.update(
            task,
            completed=p.done,
            errors=p.errors,
            cost=f"{p.cost_usd:.4f}",
            rate=f"{speed:.2f}/s" if speed else "",
        )

    with bar:
        yield on_start, on_progress
