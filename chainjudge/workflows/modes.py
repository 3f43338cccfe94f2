"""The failure-mode catalogue's edges: its YAML file, and a run's failing steps from the store.

Reading and writing the catalogue (atomically: never a half-written file) and gathering the failing
judgments clustering embeds live here; what is done with them (update, rename, merge, split, trend) is
`analysis/modes.py` (pure).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chainjudge.analysis.cluster import Clustering, cluster_failures
from chainjudge.analysis.modes import HEADER, Failure, failure_text, update_catalogue
from chainjudge.core.atomic import write_text_atomic
from chainjudge.core.schema import Catalogue
from chainjudge.core.store import Store, UnknownRun
from chainjudge.errors import ChainjudgeError
from chainjudge.workflows.embed import embed_cached


def load_catalogue(path: str | Path) -> Catalogue:
    path = Path(path)
    if not path.exists():
        return Catalogue()
    from chainjudge.core.yamlfile import load_model

    return load_model(path, Catalogue)


def save_catalogue(catalogue: Catalogue, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    catalogue = catalogue.model_copy(update={"version": catalogue.version + 1})
    text = HEADER + yaml.safe_dump(catalogue.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=110)
    write_text_atomic(path, text)  # never a half-written catalogue


def failing_steps(store: Store, run: str, with_step: bool = True) -> tuple[list[Failure], list[tuple[str, int, str]]]:
    """A run's failing judgments as the texts clustering embeds, with their item keys (trace, step index,
    criterion): judgments that share a cache key (one prompt, answered once) are still two failing steps."""
    failures, keys = [], []
    traces: dict = {}
    for j in store.judgments(run):
        if j.passed is not False or j.verdict is None:
            continue
        if j.trace_id not in traces:
            traces[j.trace_id] = store.get_trace(j.trace_id, run=run)
        trace = traces[j.trace_id]
        step_text = trace.steps[j.step_index].render() if trace and j.step_index < len(trace.steps) else ""
        segment = trace.metadata.get("segment") if trace else None
        agent = trace.steps[j.step_index].agent if trace and j.step_index < len(trace.steps) else None
        failures.append(
            Failure(
                run=run,
                trace_id=j.trace_id,
                step_ref=j.step_ref,
                step_index=j.step_index,
                criterion_id=j.criterion_id,
                text=failure_text(j.criterion_id, j.verdict.rationale, step_text, with_step),
                segment=segment if isinstance(segment, str) else None,
                agent=agent,
            )
        )
        keys.append((j.trace_id, j.step_index, j.criterion_id))
    return failures, keys


class CatalogueMismatch(ChainjudgeError):
    """The catalogue's modes were embedded by another model: their centroids cannot be compared."""


@dataclass
class Clustered:
    before: Catalogue
    after: Catalogue
    failures: list[Failure]
    clustering: Clustering
    assignment: dict[int, str]  # cluster index -> mode id


def cluster_run(
    store: Store,
    run: str,
    make_embedder: Callable[[], Any],
    catalogue_path: Path,
    threshold: float | None,
    min_size: int,
    match: float,
    with_step: bool = True,
    embedding: Callable[[int], AbstractContextManager] = lambda n: nullcontext(),
) -> Clustered | None:
    """Cluster RUN's failing steps and fold them into the catalogue file (saved), assigning each step its mode
    in the store; None when the run has no failing judgment.  The embedder is made only then (loading a
    model takes seconds); EMBEDDING(n) wraps the embedding of n texts."""
    if store.get_run(run) is None:
        raise UnknownRun(run, store.location)
    failures, keys = failing_steps(store, run, with_step)
    if not failures:
        return None
    embedder = make_embedder()
    current = load_catalogue(catalogue_path)
    if current.modes and current.embedding_model != embedder.name:
        raise CatalogueMismatch(
            f"{catalogue_path} holds modes embedded by {current.embedding_model}; their centroids cannot be compared "
            f"with {embedder.name}'s vectors: use --embedder of that model, or another --catalogue"
        )
    current = current.model_copy(update={"embedding_model": embedder.name})
    with embedding(len(failures)):
        vectors = embed_cached([f.text for f in failures], embedder, store)
    result = cluster_failures(vectors, [f.text for f in failures], threshold=threshold or embedder.default_threshold, min_size=min_size)
    updated, assignment = update_catalogue(current, run, failures, result, match_threshold=match)
    save_catalogue(updated, catalogue_path)
    store.set_assignments(run, [(keys[i], assignment[c]) for c, cl in enumerate(result.clusters) for i in cl.members])
    return Clustered(current, updated, failures, result, assignment)
