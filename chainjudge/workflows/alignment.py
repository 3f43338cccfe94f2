"""Aligning a judge with people by retrieved worked examples: building them from the store.

`build_aligned` collects the reference labels of the **tune** split only (imported labels, ground truth,
the review app's adjudications, whose notes become the example's reason) with the text of the step each
labels; the retrieval itself is `analysis/alignment.py` (pure).  No test-split trace is ever an example:
the split is read from the store and the tune side is all `build_aligned` looks at.  The rest is what the
review app's alignment panel asks of the store: status, the rubric and judge a version was used with, its
test-split figures, and re-aligning from today's labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chainjudge.analysis.alignment import MAX_TEXT
from chainjudge.analysis.reference import reference_labels
from chainjudge.core.schema import AgreementReport, AlignedExample, AlignedJudge, Rubric
from chainjudge.core.store import Store
from chainjudge.errors import ChainjudgeError


class AlignmentError(ChainjudgeError, ValueError):
    pass


@dataclass
class BuildReport:
    examples: int = 0
    per_criterion: dict[str, dict[str, int]] = field(default_factory=dict)  # criterion -> label -> examples
    missing_trace: int = 0  # labels whose trace or step is not in the store (no text to show)
    test_labels_left_out: int = 0


def build_aligned(store: Store, rubric: Rubric, name: str, k: int = 4) -> tuple[AlignedJudge, BuildReport]:
    split = store.split()
    if not split:
        raise AlignmentError("no test split yet: chainjudge labels split --test-share 0.3 --seed N (alignment learns from tune only)")
    wanted = {c.id for c in rubric.criteria if not c.deterministic}
    report, examples, traces = BuildReport(), [], {}
    for label in reference_labels(store.labels()):
        if label.criterion not in wanted or not label.step_key:
            continue
        if split.get(label.trace_id) != "tune":
            report.test_labels_left_out += split.get(label.trace_id) == "test"
            continue
        if label.trace_id not in traces:
            traces[label.trace_id] = store.get_trace(label.trace_id)
        trace = traces[label.trace_id]
        step = next((s for s in trace.steps if s.ref == label.step_key), None) if trace else None
        if step is None:
            report.missing_trace += 1
            continue
        reason = label.note or f"{label.annotator} labelled this step {label.value}"
        examples.append(
            AlignedExample(
                criterion=label.criterion,
                text=step.render()[:MAX_TEXT],
                label=label.value,
                reason=reason[:600],
                trace_id=label.trace_id,
                step_ref=step.ref,
            )
        )
        counts = report.per_criterion.setdefault(label.criterion, {})
        counts[label.value] = counts.get(label.value, 0) + 1
    if not examples:
        raise AlignmentError("no labelled step of the tune split has its trace in the store: judge or import the traces first")
    examples.sort(key=lambda e: (e.criterion, e.trace_id, e.step_ref))  # the version does not depend on label order
    report.examples = len(examples)
    from chainjudge.core.rubric import rubric_hash

    return AlignedJudge(name=name, rubric_id=rubric.id, rubric_hash=rubric_hash(rubric), k=k, examples=examples), report


@dataclass
class AlignmentStatus:
    """Where one aligned judge stands (the review app's alignment panel): what it was built from, what
    people have labelled on the tune split since, which runs used it and how often the test split was
    looked at by them (each look makes later test figures less of a test)."""

    aligned: AlignedJudge
    examples: dict[str, int]  # criterion -> worked examples in this version
    new_labels: dict[str, int]  # criterion -> tune-split reference labels newer than this version
    runs: list[str]  # runs judged with this version
    test_looks: int  # looks at the test split by those runs


def alignment_status(store: Store, aligned: AlignedJudge) -> AlignmentStatus:
    from chainjudge.analysis.splits import judge_version
    from chainjudge.core.store.base import utc_text

    split = store.split()
    built = utc_text(aligned.created_at)
    criteria = {e.criterion for e in aligned.examples}
    examples = {c: sum(1 for e in aligned.examples if e.criterion == c) for c in sorted(criteria)}
    new_labels = {c: 0 for c in examples}
    for trace_id, criterion, stored_at in store.reference_label_times():
        if criterion in new_labels and split.get(trace_id) == "tune" and stored_at > built:
            new_labels[criterion] += 1
    runs = [r for r in _stored_runs(store) if r.judge.aligned == aligned.tag]
    looks = sum(store.looks(judge_version(r)) for r in runs)
    return AlignmentStatus(aligned, examples, new_labels, [r.name for r in runs], looks)


def _stored_runs(store: Store) -> list:
    """Every stored run with its settings (the summaries `store.runs()` gives hold names and counts only)."""
    return [run for run in (store.get_run(s.name) for s in store.runs()) if run is not None]


def rubric_of(store: Store, aligned: AlignedJudge) -> Rubric:
    """The rubric an aligned judge was built for, from a stored run that used the same rubric version (an
    aligned judge keeps the rubric's hash, not its text)."""
    rubric = next((r.rubric for r in _stored_runs(store) if r.rubric is not None and r.rubric_hash == aligned.rubric_hash), None)
    if rubric is None:
        raise AlignmentError(
            f"no stored run used rubric {aligned.rubric_id}@{aligned.rubric_hash}: "
            f"re-align from the command line: chainjudge align --rubric FILE --name {aligned.name}"
        )
    return rubric


def judge_of(store: Store, aligned: AlignedJudge) -> tuple[str, str | None] | None:
    """(judge spec, api_base) of the newest run made with any version of this aligned judge, else of the
    newest run on its rubric: the judge a background re-align fits thresholds with."""
    from chainjudge.core.judges.local import LOCAL_MODEL_STRING

    runs = sorted(_stored_runs(store), key=lambda r: r.created_at, reverse=True)
    mine = [r for r in runs if r.judge.aligned and r.judge.aligned.split("@")[0] == aligned.name]
    same_rubric = [r for r in runs if r.rubric_hash == aligned.rubric_hash]
    run = next(iter(mine or same_rubric), None)
    if run is None:
        return None
    if run.judge.model == LOCAL_MODEL_STRING:
        return "local", None  # the local judge's server gets a new port every time
    return run.judge.model, run.judge.api_base


def agreement_on_test_split(store: Store, aligned: AlignedJudge, seed: int = 0) -> dict[str, AgreementReport]:
    """Criterion -> agreement with people on the test split of the run `chainjudge align` judged with this
    version (the figure align printed, and counted as a look; shown again, it is not a new look)."""
    from chainjudge.analysis.calibrate import agreement
    from chainjudge.analysis.reference import judgment_labels

    run = store.get_run(f"align-{aligned.tag}-test")
    if run is None or run.rubric is None:
        return {}
    split = store.split()
    judgments = [j for j in store.judgments(run.name) if j.judge_kind == "model"]
    judged = {(j.trace_id, j.step_ref) for j in judgments}
    people = [
        label
        for label in reference_labels(store.labels())
        if label.step_key and split.get(label.trace_id) == "test" and (label.trace_id, label.step_key) in judged
    ]
    reports = {}
    for criterion in (c for c in run.rubric.criteria if not c.deterministic):
        wanted = [label for label in people if label.criterion == criterion.id and label.value in criterion.scale.labels]
        if wanted:
            reports[criterion.id] = agreement(
                wanted,
                judgment_labels(judgments, f"run:{run.name}", criterion.id),
                "people",
                f"run:{run.name}",
                criterion.id,
                order=criterion.scale.labels,
                seed=seed,
                failing=[x for x in criterion.scale.labels if not criterion.scale.passes(x)],
            )
    return reports


def realign(store: Store, aligned: AlignedJudge) -> tuple[AlignedJudge, BuildReport]:
    """Build the judge's worked examples again from today's tune labels (seconds, no model: decision
    thresholds need a judge, see the panel's background re-align); saved only if its version is new."""
    rebuilt, report = build_aligned(store, rubric_of(store, aligned), aligned.name, aligned.k)
    if rebuilt.version != aligned.version:
        store.save_aligned(rebuilt)
    return rebuilt, report
