"""CLI for failure modes: `cluster`, `modes ...` and `regress ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli.support import DbOption, fail, open_store, out

DEFAULT_CATALOGUE = Path("failure-modes.yaml")
DEFAULT_SUITE = Path("regressions")

CatalogueOption = Annotated[Path, typer.Option("--catalogue", help="The failure-mode catalogue (YAML, yours to version).")]

modes_app = typer.Typer(help="The failure-mode catalogue: list (default), rename, merge, split, status.", invoke_without_command=True)


@modes_app.callback()
def modes_list(ctx: typer.Context, catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """List the failure modes with status, recurrence and trend over runs (oldest run first)."""
    if ctx.invoked_subcommand is not None:
        return
    from chainjudge.analysis.modes import trend
    from chainjudge.workflows.modes import load_catalogue

    cat = load_catalogue(catalogue)
    if not cat.modes:
        out.print(f"no failure modes in {catalogue} yet: chainjudge cluster RUN")
        return
    runs = list(dict.fromkeys(r for m in cat.modes for r in m.counts))
    table = Table(
        "mode", "status", "name", "runs seen", "last run", "trend", "first seen", "last seen", title=f"{catalogue} (version {cat.version})"
    )
    for m in cat.modes:
        status = m.status + (f" -> {m.merged_into}" if m.merged_into else "")
        table.add_row(
            m.id,
            status,
            m.name,
            str(len(m.counts)),
            str(m.counts.get(runs[-1], 0)) if runs else "0",
            trend(m, runs),
            m.first_seen,
            m.last_seen,
        )
    out.print(table)


def _edit(catalogue: Path, change) -> None:
    from chainjudge.workflows.modes import load_catalogue, save_catalogue

    cat = load_catalogue(catalogue)
    try:
        save_catalogue(change(cat), catalogue)
    except KeyError as exc:
        fail(f"no mode {exc.args[0]} in {catalogue}")
    except ValueError as exc:
        fail(str(exc))


@modes_app.command("rename")
def modes_rename(mode_id: str, name: str, catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """Give a mode a name people understand."""
    from chainjudge.analysis.modes import rename

    _edit(catalogue, lambda c: rename(c, mode_id, name))
    out.print(f"{mode_id} is now {name!r}")


@modes_app.command("status")
def modes_status(
    mode_id: str, status: Annotated[str, typer.Argument(help="open, fixed or accepted")], catalogue: CatalogueOption = DEFAULT_CATALOGUE
) -> None:
    """Mark a mode open, fixed (a recurrence reopens it) or accepted."""
    from chainjudge.analysis.modes import set_status

    if status not in ("open", "fixed", "accepted"):
        fail("status is open, fixed or accepted")
    _edit(catalogue, lambda c: set_status(c, mode_id, status))
    out.print(f"{mode_id}: {status}")


@modes_app.command("merge")
def modes_merge(source: str, target: str, catalogue: CatalogueOption = DEFAULT_CATALOGUE) -> None:
    """Fold SOURCE into TARGET (counts and exemplars join; SOURCE stays, marked merged)."""
    from chainjudge.analysis.modes import merge

    _edit(catalogue, lambda c: merge(c, source, target))
    out.print(f"{source} merged into {target}")


@modes_app.command("split")
def modes_split(
    mode_id: str,
    run: Annotated[str, typer.Option(help="Run whose members of the mode are re-clustered.")],
    threshold: Annotated[float, typer.Option(help="A tighter similarity threshold than the one that made the mode.")] = 0.75,
    catalogue: CatalogueOption = DEFAULT_CATALOGUE,
    model: Annotated[Optional[Path], typer.Option(help="Sentence-transformers model directory.")] = None,
    db: DbOption = None,
) -> None:
    """Split a mode: re-cluster its failing steps of RUN more tightly; the largest part keeps the id."""
    from chainjudge.analysis.cluster import cluster_failures
    from chainjudge.analysis.modes import split_mode
    from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached
    from chainjudge.workflows.modes import failing_steps, load_catalogue, save_catalogue

    cat = load_catalogue(catalogue)
    if mode_id not in {m.id for m in cat.modes}:
        fail(f"no mode {mode_id} in {catalogue}")
    with open_store(db) as store:
        assigned = {k for k, m in store.assignments(run).items() if m == mode_id}
        failures, keys = failing_steps(store, run)
        members = [f for f, k in zip(failures, keys, strict=True) if k in assigned]
        if len(members) < 4:
            fail(f"{mode_id} has {len(members)} failing steps in run {run}: too few to split")
        vectors = embed_cached([f.text for f in members], SentenceTransformerEmbedder(model), store)
    result = cluster_failures(vectors, [f.text for f in members], threshold=threshold, min_size=2)
    if len(result.clusters) < 2:
        fail(f"at similarity {threshold} the steps of {mode_id} stay one group; try a higher --threshold")
    split_cat, kept, new_ids = split_mode(cat, mode_id, run, members, result)
    save_catalogue(split_cat, catalogue)
    out.print(f"{mode_id} keeps {kept} steps; new: {', '.join(new_ids)}")
