"""Plug-ins through entry points: domain packs, trace adapters and deterministic checks.

Three groups, read from the installed distributions' metadata when first needed (never at import):
- `chainjudge.packs`: an object with `name`, `description` and `score_decisions(traces, expected_text)`
  returning a `DecisionReport`, or None when the expected actions are not of its kind; optionally
  `decision_of(trace)`: the agent's final decision as named fields (off-policy evaluation reads it);
  optionally `default_file(kind)`: the pack's default for a file generic commands otherwise need given
  (`space`: a scenario space, `gate_policy`: a gate policy), so no pack's files are defaults in generic code;
  optionally `register_commands(app)`: adds the pack's commands to the `chainjudge` Typer app (in the spirit
  of `llm`'s `register_commands` hook), and `review_tabs()`: the review app's tabs the pack offers, as
  `ReviewTab`s; so the generic CLI and review app import no pack;
- `chainjudge.adapters`: a module (or object) with `NAME`, `EXPECTS`, `sniff(record)` and
  `parse(record, source, record_label)` like the built-in adapters;
- `chainjudge.checks`: a function `(trace, step) -> CheckResult`, named by the entry point's name, that a
  rubric criterion uses with `check: NAME`.

The CEP pack registers itself exactly this way (see pyproject.toml); the core imports nothing from it.
A plug-in that fails to load is reported by name, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol

from chainjudge.core.schema import DecisionReport, Trace
from chainjudge.errors import ChainjudgeError

PACKS, ADAPTERS, CHECKS = "chainjudge.packs", "chainjudge.adapters", "chainjudge.checks"


class PluginError(ChainjudgeError, RuntimeError):
    pass


class Pack(Protocol):
    """What every pack has; the optional hooks (`decision_of`, `default_file`, `register_commands`,
    `review_tabs`, `migrations`, typed in `PackHooks`) are looked up by name, so a pack offers only what it has."""

    name: str
    description: str

    def score_decisions(self, traces: Sequence[Trace], expected_text: str) -> DecisionReport | None: ...


class PackHooks(Protocol):
    """The optional hooks a pack may offer, with their types (a pack need not have all of them)."""

    def decision_of(self, trace: Trace) -> dict[str, object] | None: ...

    def default_file(self, kind: str) -> object: ...

    def register_commands(self, app: object) -> None: ...

    def review_tabs(self) -> Sequence[ReviewTab]: ...

    def migrations(self) -> Sequence[tuple[str, object]]: ...


class Adapter(Protocol):
    """A trace format (a module or object under `chainjudge.adapters`): its NAME, what it EXPECTS (said when a
    record matches no format), whether a parsed JSON record is of its kind, and the trace it makes of one."""

    NAME: str
    EXPECTS: str

    def sniff(self, record: object) -> bool: ...

    def parse(self, record: object, source: str, record_label: str) -> Trace: ...


@dataclass(frozen=True)
class ReviewTab:
    """A tab a pack adds to the review app.  `render(store, reviewer, still_signed_in)` draws it; it must call
    `still_signed_in()` right before any write and write nothing when that is False."""

    title: str
    render: Callable[..., None]


@lru_cache(maxsize=None)
def load(group: str) -> dict[str, object]:
    """name -> loaded object for every entry point of the group (cached per process)."""
    found: dict[str, object] = {}
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        try:
            found[point.name] = point.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must say which one it is
            raise PluginError(f"plug-in {point.name!r} ({point.value}) in {group} failed to load: {exc}") from exc
    return found


def packs() -> dict[str, Pack]:
    return load(PACKS)  # type: ignore[return-value]


def checks() -> dict[str, Callable[..., Any]]:
    return load(CHECKS)  # type: ignore[return-value]


def adapters() -> dict[str, Adapter]:
    return load(ADAPTERS)  # type: ignore[return-value]


def score_decisions(traces: Sequence[Trace], expected_text: str) -> DecisionReport | None:
    """The first installed pack that understands these expected actions scores the decisions."""
    for pack in packs().values():
        report = pack.score_decisions(traces, expected_text)
        if report is not None:
            return report
    return None


def decision_of(trace: Trace) -> dict[str, object] | None:
    """The agent's final decision in TRACE as named fields, from the first installed pack that reads it."""
    for pack in packs().values():
        reader = getattr(pack, "decision_of", None)
        if reader is None:
            continue
        decided = reader(trace)
        if decided is not None:
            return dict(decided)
    return None


def default_file(kind: str) -> Any:
    """An installed pack's default file of KIND ('space', 'gate_policy'), or None when no pack offers one
    (packs asked in name order)."""
    for pack in packs().values():
        offer = getattr(pack, "default_file", None)
        found = offer(kind) if offer is not None else None
        if found is not None:
            return found
    return None


def register_commands(app: object) -> list[str]:
    """Every installed pack's commands added to APP (a Typer app).  A pack that fails to load is reported
    by the caller with its name; returns the names of the packs that added commands."""
    added = []
    for name, pack in packs().items():
        hook = getattr(pack, "register_commands", None)
        if hook is not None:
            hook(app)
            added.append(name)
    return added


def review_tabs() -> list[ReviewTab]:
    """The review app's tabs the installed packs offer, in pack-name order."""
    tabs: list[ReviewTab] = []
    for pack in packs().values():
        offer = getattr(pack, "review_tabs", None)
        if offer is not None:
            tabs += list(offer())
    return tabs


def pack_migrations() -> dict[str, list[tuple[str, object]]]:
    """pack name -> the migrations of its own store tables, for every installed pack that has tables.  A
    pack applies them itself when it first touches a store; `db migrate` and `db copy` apply them all, so a
    team's new database, or a copy's target, has every installed pack's tables from the start."""
    found: dict[str, list[tuple[str, object]]] = {}
    for pack in packs().values():
        offer = getattr(pack, "migrations", None)
        if offer is not None:
            found[pack.name] = list(offer())
    return found
