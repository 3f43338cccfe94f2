"""chainjudge: an offline evaluation harness for LLM agents' recorded reasoning traces.

The public API (everything else is internal and may change): read traces, load a rubric, judge, store,
measure agreement with people, gather the go-live evidence and ask the gate.

    import chainjudge as cj

    cj.apply_offline_settings()                      # what the command line does first
    loaded = cj.load_traces(["chainjudge/packs/cep/traces/traces.jsonl"])
    rubric = cj.load_rubric("chainjudge/packs/cep/rubrics/cep.yaml")
    checks = rubric.model_copy(update={"criteria": [c for c in rubric.criteria if c.deterministic]})
    with cj.Store("results.db") as store:
        settings, judge = cj.checks_only_judge()       # no model; for model criteria: with cj.open_judge(spec) as (settings, judge)
        cj.judge_traces(loaded.traces, checks, settings, judge, store, "my-run")
        evidence = cj.collect_evidence(store, "my-run", cj.load_space("chainjudge/packs/cep/rubrics/space.yaml"))
        print(evidence.score.score, cj.gate_reasons(evidence, cj.GatePolicy()))

Importing chainjudge changes nothing in the host process and imports nothing heavy: each name is loaded
on first use, and the offline settings (no price-map fetch by litellm, no hub lookups) are applied by the
entry points (`chainjudge.cli.main()`, the review app) or by calling `apply_offline_settings()`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    # reading traces and rubrics
    "load_traces": ("chainjudge.pipeline", "load_traces"),
    "load_rubric": ("chainjudge.core.rubric", "load_rubric"),
    "Trace": ("chainjudge.core.schema", "Trace"),
    "Step": ("chainjudge.core.schema", "Step"),
    "Rubric": ("chainjudge.core.schema", "Rubric"),
    "Label": ("chainjudge.core.schema", "Label"),
    "Judgment": ("chainjudge.core.schema", "Judgment"),
    # judging
    "open_judge": ("chainjudge.core.judges.resolve", "open_judge"),
    "checks_only_judge": ("chainjudge.core.engine", "checks_only_judge"),
    "judge_traces": ("chainjudge.pipeline", "judge_traces"),
    # the store
    "Store": ("chainjudge.core.store", "Store"),
    # agreement with people
    "agreement": ("chainjudge.analysis.calibrate", "agreement"),
    # go-live evidence and the gate
    "load_space": ("chainjudge.workflows.golive", "load_space"),
    "collect_evidence": ("chainjudge.workflows.golive", "gather_evidence"),
    "gate_reasons": ("chainjudge.analysis.golive", "gate_reasons"),
    "GatePolicy": ("chainjudge.core.schema", "GatePolicy"),
    # errors and settings
    "ChainjudgeError": ("chainjudge.errors", "ChainjudgeError"),
    "apply_offline_settings": ("chainjudge.core.offline", "apply"),
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562), so `import chainjudge` stays cheap and side-effect free."""
    try:
        module, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'chainjudge' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
