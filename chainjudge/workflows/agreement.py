"""Agreement of judges (or people) with a reference, as `chainjudge agreement` asks it: the labels read from
the store (an annotator's, a run's judgments as labels, or the one reference label per item), one side of the
split when asked (every look at test recorded), and the pure statistics of `analysis.calibrate` over them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chainjudge.analysis.calibrate import agreement as compute
from chainjudge.analysis.panel import labels_alpha
from chainjudge.analysis.reference import judgment_labels, parse_precedence, reference_labels
from chainjudge.analysis.splits import judge_version
from chainjudge.core.schema import AgreementReport, Label, TrustPolicy
from chainjudge.core.store import Store
from chainjudge.errors import ChainjudgeError


class AgreementError(ChainjudgeError):
    """A reference or candidate with no labels, an unknown run or split side, or labels that cannot be compared."""


@dataclass(frozen=True)
class AgreementRequest:
    reference: str  # 'reference' (one label per item) or an annotator name
    against: list[str]  # annotators; run:NAME for a stored run's judgments
    criterion: str = "step"
    order: list[str] | None = None  # low to high: the scale is ordinal
    failing: list[str] | None = None
    sources: str | None = None  # precedence of reference sources, most trusted first
    bootstrap: int = 1000
    seed: int = 0
    policy: TrustPolicy = field(default_factory=TrustPolicy)
    split: str | None = None  # tune or test


@dataclass
class AgreementResult:
    reports: list[AgreementReport]
    panel_alpha: float | None  # Krippendorff's alpha across the reference and every candidate


def annotator_labels(store: Store, name: str, criterion: str) -> list[Label]:
    """Labels of an annotator, or of a stored run's judgments when the name is run:NAME."""
    if name.startswith("run:"):
        run_name = name[4:]
        if store.get_run(run_name) is None:
            raise AgreementError(f"no run named {run_name!r} in {store.location}; see: chainjudge runs")
        return judgment_labels(list(store.judgments(run_name)), name, criterion)
    return store.labels(criterion=criterion, annotators=[name])


def reference_or_annotator(store: Store, name: str, criterion: str, sources: str | None) -> list[Label]:
    """`reference` is the one reference label per item (adjudication > ground truth > imported human by
    default); any other name is an annotator, or run:NAME for a stored run's judgments."""
    if name != "reference":
        return annotator_labels(store, name, criterion)
    try:
        precedence = parse_precedence(sources)
    except ValueError as exc:
        raise AgreementError(str(exc)) from exc
    return reference_labels(store.labels(criterion=criterion), precedence)


def on_split(
    store: Store, labels: list[Label], split: str, against: list[str], criterion: str, warn: Callable[[str, bool], None]
) -> list[Label]:
    """The labels of one side of the split; a look at test is recorded per candidate and judge version
    (WARN hears how many looks, and whether the test is still unbiased)."""
    if split not in ("tune", "test"):
        raise AgreementError(f"--split is tune or test, not {split!r}")
    sides = store.split()
    if not sides:
        raise AgreementError("no test split yet: chainjudge labels split --test-share 0.3 --seed N")
    if split == "test":
        for name in against:
            run = store.get_run(name[4:]) if name.startswith("run:") else None
            version = judge_version(run) if run else name  # a judge changes with its model, rubric or aligned examples
            looks = store.record_look(name, version, criterion)
            warn(f"the test split has been looked at {looks} time(s) by {name} since its judge last changed", looks > 1)
    return [label for label in labels if sides.get(label.trace_id) == split]


def measure(store: Store, request: AgreementRequest, warn: Callable[[str, bool], None]) -> AgreementResult:
    """Each candidate's agreement with the reference, with intervals, baselines and trust."""
    where = f" in the {request.split} split" if request.split else ""
    ref_labels = reference_or_annotator(store, request.reference, request.criterion, request.sources)
    if request.split is not None:
        ref_labels = on_split(store, ref_labels, request.split, request.against, request.criterion, warn)
    if not ref_labels:
        raise AgreementError(f"no labels from {request.reference!r} on criterion {request.criterion!r}{where}; see: chainjudge labels list")
    reports, everyone = [], []
    for name in request.against:
        candidate = annotator_labels(store, name, request.criterion)
        if not candidate:
            raise AgreementError(f"no labels from {name!r} on criterion {request.criterion!r}; see: chainjudge labels list")
        try:
            reports.append(
                compute(
                    ref_labels,
                    candidate,
                    request.reference,
                    name,
                    request.criterion,
                    failing=request.failing,
                    order=request.order,
                    ordinal=request.order is not None,
                    bootstrap=request.bootstrap,
                    seed=request.seed,
                    policy=request.policy,
                )
            )
        except ValueError as exc:
            raise AgreementError(f"{name}: {exc}") from exc
        everyone.append(candidate)
    return AgreementResult(reports, labels_alpha([ref_labels, *everyone], reports[0].labels))
