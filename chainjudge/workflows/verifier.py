"""Train a verifier on the tune split and test it on the sealed test split (the store in, typed results out).

Training sees only reference labels of tune traces, and of those only traces whose task has no trace on
the test side (a verifier that has seen another trajectory of the same question has seen its answer); the
test reads only test traces and records the look, as every look at the test split is recorded.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from chainjudge.analysis.calibrate import DEFAULT_FAILING, agreement
from chainjudge.analysis.reference import reference_labels
from chainjudge.analysis.selective import upper_bound
from chainjudge.analysis.splits import TEST, TUNE, task_group
from chainjudge.analysis.verifier import Row, VerifierDataError, decisions, fit_verifier, p_fail
from chainjudge.analysis.verifier_features import feature_names, run_features, step_features
from chainjudge.core.schema import AgreementReport, Label, Trace, Verifier
from chainjudge.core.store import Store
from chainjudge.errors import ChainjudgeError

VERIFIER_ANNOTATOR = "verifier:"
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class VerifierError(ChainjudgeError):
    """The store cannot train or test a verifier as asked (no split, no labels, no stored traces)."""


@dataclass
class Gathered:
    rows: list[Row] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)  # the reference label of each row, in order
    no_trace: int = 0  # labels whose trace (or step) is not in the store
    shares_a_task: int = 0  # tune labels left out: their task has a trace on the test side


def _find_step(trace: Trace, label: Label):
    if label.step_ref is not None:
        return next((s for s in trace.steps if s.ref == label.step_ref), None)
    if label.step_index is not None and label.step_index < len(trace.steps):
        return trace.steps[label.step_index]
    return None


RunVerdicts = dict[tuple[str, str], dict[str, tuple[bool, float]]]  # (trace, step ref) -> criterion -> (fails, P(fail))


def run_verdicts(store: Store, run: str) -> tuple[RunVerdicts, list[str]]:
    """Every scored judgment of RUN as (fails, P(fail)) by step and criterion, and the run's criteria."""
    stored = store.get_run(run)
    if stored is None:
        raise VerifierError(f"no run named {run!r} in {store.location}; see: chainjudge runs")
    if stored.judge.aligned or stored.judge.verifier or stored.judge.model.startswith("verifier:"):
        raise VerifierError(
            f"run {run!r} was judged by a judge that learned from labels "
            f"({stored.judge.aligned or stored.judge.verifier or stored.judge.model}): "
            "its verdicts on tune steps would carry those labels into training; use a run of a plain judge or of checks"
        )
    rubric = stored.rubric
    found: RunVerdicts = {}
    criteria: set[str] = set()
    for j in store.judgments(run):
        criteria.add(j.criterion_id)
        if j.verdict is None or j.error is not None or j.passed is None:
            continue
        fails = not j.passed
        probability = 1.0 if fails else 0.0
        if j.label_probs and rubric is not None:
            try:
                scale = rubric.criterion(j.criterion_id).scale
                probability = sum(p for label, p in j.label_probs.items() if not scale.passes(label))
            except KeyError:
                pass
        elif j.verdict.confidence is not None:
            probability = j.verdict.confidence if fails else 1 - j.verdict.confidence
        found.setdefault((j.trace_id, j.step_ref), {})[j.criterion_id] = (fails, probability)
    return found, sorted(criteria)


class _TraceCache:
    """Each stored trace read once, and the task it belongs to (its group in the sealed split)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.traces: dict[str, Trace | None] = {}

    def trace_of(self, trace_id: str) -> Trace | None:
        if trace_id not in self.traces:
            self.traces[trace_id] = self.store.get_trace(trace_id)
        return self.traces[trace_id]

    def group_of(self, trace_id: str) -> str:
        trace = self.trace_of(trace_id)
        return task_group(trace_id, trace.metadata if trace else None)


def gather(
    store: Store,
    criterion: str,
    side: str,
    reference: bool,
    failing: Sequence[str],
    verdicts: RunVerdicts | None = None,
    run_criteria: Sequence[str] = (),
) -> Gathered:
    """The labelled steps of one side of the sealed split, as feature rows (one per reference label);
    with VERDICTS, another run's judgments of each step are features too."""
    split = store.split()
    if not split:
        raise VerifierError(f"no test split in {store.location}: chainjudge labels split (a verifier learns from tune only)")
    fail = {f.lower() for f in failing}
    traces = _TraceCache(store)
    trace_of, group_of = traces.trace_of, traces.group_of
    test_groups = {group_of(t) for t, s in split.items() if s == TEST} if side == TUNE else set()
    out = Gathered()
    names = feature_names(reference, run_criteria)
    for label in reference_labels(store.labels()):
        if label.criterion != criterion or not label.step_key or split.get(label.trace_id) != side:
            continue
        trace = trace_of(label.trace_id)
        step = _find_step(trace, label) if trace else None
        if step is None:
            out.no_trace += 1
            continue
        group = group_of(label.trace_id)
        if group in test_groups:
            out.shares_a_task += 1
            continue
        assert trace is not None  # a step was found in it
        features = step_features(trace, step, reference)
        if run_criteria:
            features += run_features(dict((verdicts or {}).get((label.trace_id, step.ref), {})), run_criteria)
        assert len(features) == len(names)
        out.rows.append(Row(features, label.value.lower() in fail, group, (label.trace_id, label.step_key)))
        out.labels.append(label)
    return out


def train(
    store: Store,
    name: str,
    criterion: str,
    reference: bool = False,
    failing: Sequence[str] | None = None,
    target: float = 0.9,
    risk: float = 0.1,
    seed: int = 0,
    from_run: str | None = None,
    outside: tuple[RunVerdicts, list[str]] | None = None,
) -> tuple[Verifier, Gathered]:
    """Fit, refuse a verifier without skill out of fold, store it.  With FROM_RUN, that run's judgments of
    the same steps are features too, kept only if they raise the out-of-fold kappa beyond what resampling
    the tasks explains (else the verifier is fitted without them, and says so by its empty `run_criteria`)."""
    if not NAME.fullmatch(name):
        raise VerifierError(f"verifier name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    failing = list(failing or sorted(DEFAULT_FAILING))
    if outside is not None and not from_run:
        raise VerifierError("verdicts from outside the store need a name for them (from_run)")
    verdicts, run_criteria = outside if outside is not None else run_verdicts(store, from_run) if from_run else ({}, [])
    gathered = gather(store, criterion, TUNE, reference, failing, verdicts, run_criteria)
    if not gathered.rows:
        raise VerifierError(f"no reference labels for {criterion!r} on tune traces stored in {store.location}")
    fit = functools.partial(fit_verifier, name=name, criterion=criterion, failing=failing, reference_features=reference)
    fit = functools.partial(fit, group_key="task", target=target, risk=risk, seed=seed)
    verifier = _best_fit(fit, gathered, reference, run_criteria, from_run, seed)
    store.save_verifier(verifier)
    return verifier, gathered


def _best_fit(
    fit: Callable[..., Verifier], gathered: Gathered, reference: bool, run_criteria: list[str], from_run: str | None, seed: int
) -> Verifier:
    """The verifier on the step's own features, or on those and the run's verdicts when they help beyond
    chance; VerifierError when neither can be fitted."""
    base_width = len(feature_names(reference))
    plain_rows = [Row(r.features[:base_width], r.fails, r.group, r.item) for r in gathered.rows]
    verifier, problem = None, None
    try:
        verifier = fit(plain_rows, features=feature_names(reference, []))
    except VerifierDataError as exc:
        problem = exc
    if run_criteria and _helps(plain_rows, gathered.rows, seed):
        try:
            verifier = fit(gathered.rows, features=feature_names(reference, run_criteria))
            verifier = verifier.model_copy(update={"from_run": from_run, "run_criteria": run_criteria})
        except VerifierDataError as exc:
            problem = exc
    if verifier is None:
        raise VerifierError(str(problem)) from None
    return verifier


def _helps(without: Sequence[Row], with_more: Sequence[Row], seed: int) -> bool:
    """Whether the extra features raise the out-of-fold kappa beyond chance: the 5th percentile of the
    paired gain over resamples of whole tasks is above 0 (a run of noise lifted it by luck otherwise)."""
    from chainjudge.analysis.verifier import kappa_gain_low, out_of_fold_fails

    y = np.array([r.fails for r in without])
    low = kappa_gain_low(y, out_of_fold_fails(without, seed), out_of_fold_fails(with_more, seed), [r.group for r in without], seed)
    return low is not None and low > 0


@dataclass
class Evaluation:
    verifier: Verifier
    report: AgreementReport  # every test item decided (fail vs pass), with intervals and baselines
    items: int
    decided: int
    decided_agreement: float | None
    decided_agreement_low: float | None  # exact one-sided bound at the verifier's risk
    looks: int
    ms_per_1000: float
    no_trace: int


def _binary(labels: Sequence[Label], fails: Sequence[bool], annotator: str) -> list[Label]:
    return [
        label.model_copy(update={"value": "fail" if f else "pass", "annotator": annotator, "kind": "judge"})
        for label, f in zip(labels, fails, strict=True)
    ]


def _agreement_on_test(verifier: Verifier, labels: Sequence[Label], truth: np.ndarray, fails: np.ndarray, bootstrap: int, seed: int):
    """Every test item decided, fail against pass, beside the reference: agreement with intervals and baselines."""
    annotator = VERIFIER_ANNOTATOR + verifier.tag
    reference, candidate = _binary(labels, truth.tolist(), "reference"), _binary(labels, fails.tolist(), annotator)
    return agreement(
        reference,
        candidate,
        "reference",
        annotator,
        verifier.criterion,
        failing=["fail"],
        order=["pass", "fail"],
        bootstrap=bootstrap,
        seed=seed,
    )


def evaluate(store: Store, name: str, bootstrap: int = 1000, seed: int = 0, outside: RunVerdicts | None = None) -> Evaluation:
    """The verifier on the sealed test split: every item decided (agreement with intervals and baselines),
    and the selective view (what it decides above its cut, and the agreement there).  Records the look.
    OUTSIDE: the verdicts it was trained with when they came from outside the store (`train(outside=...)`)."""
    verifier = store.verifier(name)
    if verifier is None:
        raise VerifierError(f"no verifier named {name!r} in {store.location}; see: chainjudge verifier list")
    verdicts = outside if outside is not None else run_verdicts(store, verifier.from_run)[0] if verifier.from_run else {}
    gathered = gather(store, verifier.criterion, TEST, verifier.reference_features, verifier.failing, verdicts, verifier.run_criteria)
    if not gathered.rows:
        raise VerifierError(f"no reference labels for {verifier.criterion!r} on test traces stored in {store.location}")
    started = time.perf_counter()
    probabilities = p_fail(verifier, [r.features for r in gathered.rows])
    seconds = time.perf_counter() - started
    fails, decided = decisions(verifier, probabilities)
    truth = np.array([r.fails for r in gathered.rows])
    report = _agreement_on_test(verifier, gathered.labels, truth, fails, bootstrap, seed)
    n_decided = int(decided.sum())
    errors = int((fails[decided] != truth[decided]).sum())
    looks = store.record_look(VERIFIER_ANNOTATOR + verifier.name, verifier.version, verifier.criterion)
    return Evaluation(
        verifier=verifier,
        report=report,
        items=len(gathered.rows),
        decided=n_decided,
        decided_agreement=None if not n_decided else 1 - errors / n_decided,
        decided_agreement_low=None if not n_decided else 1 - upper_bound(errors, n_decided, verifier.selective.risk),
        looks=looks,
        ms_per_1000=1000 * seconds * 1000 / max(1, len(gathered.rows)),
        no_trace=gathered.no_trace,
    )


@dataclass(frozen=True)
class Alike:
    """A labelled tune step the verifier sees as close to the one it abstained on."""

    trace_id: str
    step_ref: str
    label: str
    distance: float


def alike_tune_steps(store: Store, verifier: Verifier, trace: Trace, step_ref: str, k: int = 3) -> list[Alike]:
    """The K labelled tune steps nearest to the step in the verifier's own standardised feature space:
    what it learned from that looks most like what it would not decide (shown to the reviewer)."""
    step = next((s for s in trace.steps if s.ref == step_ref), None)
    if step is None:
        return []
    verdicts = run_verdicts(store, verifier.from_run)[0] if verifier.from_run else {}
    gathered = gather(store, verifier.criterion, TUNE, verifier.reference_features, verifier.failing, verdicts, verifier.run_criteria)
    if not gathered.rows:
        return []
    mine = step_features(trace, step, verifier.reference_features)
    if verifier.run_criteria:
        mine += run_features(dict(verdicts.get((trace.id, step.ref), {})), verifier.run_criteria)
    mean, scale = np.array(verifier.mean), np.array(verifier.scale)
    rows = (np.array([r.features for r in gathered.rows]) - mean) / scale
    distance = np.linalg.norm(rows - (np.array(mine) - mean) / scale, axis=1)
    order = np.argsort(distance, kind="stable")[:k]
    return [Alike(gathered.labels[i].trace_id, gathered.labels[i].step_key, gathered.labels[i].value, float(distance[i])) for i in order]
