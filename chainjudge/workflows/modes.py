"""The failure-mode catalogue's edges: its YAML file, and a run's failing steps from the store.

Reading and writing the catalogue (atomically: never a half-written file) and gathering the failing
judgments clustering embeds live here; what is done with them (update, rename, merge, split, trend) is
`analysis/modes.py` (pure).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chainjudge.analysis.modes import HEADER, Failure, failure_text
from chainjudge.core.atomic import write_text_atomic
from chainjudge.core.schema import Catalogue
from chainjudge.core.store import Store


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
