"""One stored run as `chainjudge show` presents it: its counts per criterion, errors, flagged steps, its
calibration against people's labels, and the verifier versions that judged it with what they abstained on."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chainjudge.core.schema import ErrorKind, Run, Verifier
from chainjudge.core.store import CriterionSummary, Store, UnknownRun
from chainjudge.workflows.golive import RunCalibration, calibrate_run


@dataclass
class RunView:
    run: Run
    criteria: list[CriterionSummary]
    errors: dict[str, int]
    flagged: int
    calibrated: RunCalibration
    verifiers: list[Verifier]  # the versions that judged the run
    abstained: Counter[str]  # criterion -> steps a verifier abstained on


def run_view(store: Store, name: str) -> RunView:
    stored = store.get_run(name)
    if stored is None:
        raise UnknownRun(name, store.location)
    judge = stored.judge
    tags = judge.verifier or (judge.model.split(":", 1)[1] if judge.model.startswith("verifier:") else "")
    verifiers = [
        v for tag in tags.split(",") if "@" in tag for v in [store.verifier(*tag.removeprefix("verifier:").split("@", 1))] if v is not None
    ]
    abstained: Counter[str] = Counter()
    if verifiers:
        abstained.update(j.criterion_id for j in store.judgments(name) if j.error_kind == ErrorKind.abstained)
    return RunView(
        stored,
        store.criterion_summaries(name),
        store.error_counts(name),
        store.flagged_count(name),
        calibrate_run(store, name),
        verifiers,
        abstained,
    )
