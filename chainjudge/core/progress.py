"""Progress of a judging run: a rich bar on a terminal; plain lines when the output is a file or a pipe.

A run redirected to a file (CI, nohup) used to print nothing for 45 minutes: a live bar only redraws a
terminal.  Off a terminal, a plain line (done / total, rate, ETA, errors, timeouts) is printed every
30 seconds and once at the end, never wrapped, so each line can be read (and grepped) whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from chainjudge.core.engine import Progress as RunProgress

PLAIN_EVERY_S = 30.0
Hooks = tuple[Callable[[int], None], Callable[[RunProgress], None]]


@contextmanager
def live_progress(
    console: Console, description: str, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic
) -> Iterator[Hooks]:
    if not console.is_terminal:
        with plain_progress(console, description, every_s, clock) as hooks:
            yield hooks
        return
    bar = Progress(
        TextColumn("{task.description}", style="bold", markup=False),  # the description names a model: data
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


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h" if hours else "") + f"{rest // 60:02d}m{rest % 60:02d}s"


def progress_line(description: str, p: RunProgress, elapsed_s: float, worked_since_start: int) -> str:
    """done/total, the rate of items worked on this session, and the ETA that rate gives."""
    total = p.total or 0
    rate = worked_since_start / elapsed_s if elapsed_s > 0 else 0.0
    remaining = max(0, total - p.done)
    eta = _duration(remaining / rate) if rate > 0 else "unknown"
    share = f" ({p.done / total:.0%})" if total else ""
    return (
        f"{description}: {p.done}/{total} done{share}, {rate * 60:.1f}/min, ETA {eta}, errors {p.errors}, "
        f"timeouts {p.timed_out}, elapsed {_duration(elapsed_s)}"
    )


@contextmanager
def plain_progress(
    console: Console, description: str, every_s: float = PLAIN_EVERY_S, clock: Callable[[], float] = time.monotonic
) -> Iterator[Hooks]:
    started = clock()
    state: dict[str, Any] = {"last": started, "latest": None, "first_done": None}

    def on_start(total: int) -> None:
        console.print(f"{description}: {total} work items", highlight=False, soft_wrap=True)

    def on_progress(p: RunProgress) -> None:
        if state["first_done"] is None:
            state["first_done"] = p.done  # already stored or copied: not part of this session's rate
        state["latest"] = p
        now = clock()
        if now - state["last"] >= every_s:
            state["last"] = now
            console.print(progress_line(description, p, now - started, p.done - state["first_done"]), highlight=False, soft_wrap=True)

    yield on_start, on_progress
    if state["latest"] is not None:
        p = state["latest"]
        console.print(progress_line(description, p, clock() - started, p.done - state["first_done"]), highlight=False, soft_wrap=True)
