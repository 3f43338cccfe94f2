"""What `chainjudge align` does with a judge: fit decision thresholds on the tune split, then judge the
sealed test split with the plain and the aligned judge and compare them beside the trivial baselines.

Every judging pass is an ordinary stored run (named after the aligned judge), so an interrupted `align`
resumes where it stopped and a repeated one asks the judge nothing new.  Thresholds are fitted on tune
judgments whose worked examples come from *other* tune traces (a step's own trace would be an answer key),
and only tune labels are read before the test split is judged.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from chainjudge.analysis.alignment import Retriever
from chainjudge.analysis.calibrate import agreement
from chainjudge.analysis.reference import judgment_labels, reference_labels
from chainjudge.analysis.splits import judge_version
from chainjudge.analysis.threshold_fit import Point, choose_threshold
from chainjudge.core.decision_threshold import fail_probability
from chainjudge.core.judges.resolve import open_judge
from chainjudge.core.schema import AgreementReport, AlignedJudge, Criterion, Judgment, Label, Rubric, Threshold
from chainjudge.core.store import Store
from chainjudge.pipeline import judge_traces

Hooks = Callable[[str], AbstractContextManager]  # description -> context giving (on_start, on_progress)


@dataclass(frozen=True)
class JudgeChoice:
    """How to open the judge that alignment measures (the arguments of `open_judge`)."""

    spec: str = "local"
    api_base: str | None = None
    mode: str | None = None
    batch: bool | None = None
    concurrency: int = 8

    @property
    def slug(self) -> str:
        return hashlib.sha256(f"{self.spec}|{self.api_base}|{self.mode}|{self.batch}".encode()).hexdigest()[:8]


def failing_labels(scale) -> list[str]:
    return [label for label in scale.labels if not scale.passes(label)]


def labelled(store: Store, rubric: Rubric, side: str) -> list[Label]:
    """The reference labels of one side of the split on the rubric's model criteria, on labels of their scale,
    whose step is in the store (a label on a step that cannot be judged would count as a miss)."""
    split = store.split()
    scales = {c.id: c.scale for c in rubric.criteria if not c.deterministic}
    candidates = [
        label
        for label in reference_labels(store.labels())
        if label.step_key
        and label.criterion in scales
        and split.get(label.trace_id) == side
        and label.value in scales[label.criterion].labels
    ]
    steps: dict[str, set[str]] = {}
    for trace_id in sorted({label.trace_id for label in candidates}):
        trace = store.get_trace(trace_id)
        steps[trace_id] = {step.ref for step in trace.steps} if trace else set()
    return [label for label in candidates if label.step_key in steps[label.trace_id]]


def sample_steps(labels: Sequence[Label], limit: int | None, seed: int) -> set[tuple[str, str]]:
    """Up to `limit` labelled steps, a seeded sample (the same labels and seed give the same steps)."""
    steps = sorted({(label.trace_id, label.step_key) for label in labels})
    if limit is None or limit >= len(steps):
        return set(steps)
    return set(random.Random(seed).sample(steps, limit))


def judge_steps(
    store: Store,
    rubric: Rubric,
    choice: JudgeChoice,
    run: str,
    steps: set[tuple[str, str]],
    aligned: str | None = None,
    thresholds: dict[str, float] | None = None,
    examples=None,
    progress: Hooks | None = None,
    label_probs: bool | None = None,
) -> list[Judgment]:
    """Judge the chosen steps in a stored run (resumed on the trace versions it pinned); its model judgments of them."""
    traces = [t for t in (store.get_trace(tid, run=run) for tid in sorted({tid for tid, _ in steps})) if t is not None]

    with open_judge(
        choice.spec,
        api_base=choice.api_base,
        mode=choice.mode,
        batch=choice.batch,
        log_dir=store.log_dir,
        aligned=aligned,
        thresholds=thresholds,
        label_probs=label_probs,
    ) as (settings, judge):
        with progress(f"{run}: {len(steps)} steps") if progress else nullcontext((None, None)) as (on_start, on_progress):
            judge_traces(
                traces,
                rubric,
                settings,
                judge,
                store,
                run,
                select=lambda items: [i for i in items if (i.trace_id, i.step.ref) in steps],
                examples=examples,
                concurrency=choice.concurrency,
                on_start=on_start,
                on_progress=on_progress,
            )
    return [j for j in store.judgments(run) if j.judge_kind == "model" and (j.trace_id, j.step_ref) in steps]


@dataclass
class Fitted:
    thresholds: dict[str, Threshold]
    notes: dict[str, str]  # criterion -> what was decided and why
    judgments: list[Judgment]  # the tune judgments the thresholds were fitted on
    reference: list[Label]


def _points(criterion, judgments: list[Judgment], reference: dict) -> tuple[list[Point], set[str]]:
    """Per judged labelled step of CRITERION: the judge's P(fail), the reference's and the judge's verdicts;
    and what graded them (label log-probabilities, or the verdict's confidence)."""
    points, graded_by = [], set()
    for j in judgments:
        ref = reference.get((j.trace_id, j.step_ref, criterion.id))
        if j.criterion_id != criterion.id or ref is None or not j.scored or j.verdict is None:
            continue
        p = fail_probability(j.verdict, j.label_probs, criterion.scale)
        if p is not None:
            graded_by.add("label log-probabilities" if j.label_probs else "verdict confidence")
            points.append(Point(p, not criterion.scale.passes(ref), not criterion.scale.passes(j.verdict.label), group=j.trace_id))
    return points, graded_by


def fit_thresholds(
    store: Store,
    rubric: Rubric,
    aligned: AlignedJudge,
    choice: JudgeChoice,
    embed,
    limit: int | None,
    seed: int,
    progress: Hooks | None = None,
) -> Fitted:
    """Judge up to `limit` labelled tune steps with the aligned judge (no thresholds yet) and choose, per
    criterion, the cut on P(fail) that maximises kappa there."""
    labels = labelled(store, rubric, "tune")
    steps = sample_steps(labels, limit, seed)
    examples = Retriever(aligned, embed, exclude_same_trace=True).examples_for
    run = f"align-{aligned.name}-{aligned.version}-tune"
    judgments = judge_steps(store, rubric, choice, run, steps, aligned=aligned.tag, examples=examples, progress=progress, label_probs=True)
    reference = {(label.trace_id, label.step_key, label.criterion): label.value for label in labels}
    thresholds, notes = {}, {}
    for criterion in (c for c in rubric.criteria if not c.deterministic):
        points, graded_by = _points(criterion, judgments, reference)
        if not points:
            notes[criterion.id] = "no threshold: the judge returned neither label log-probabilities nor a confidence"
            continue
        source = "label log-probabilities" if "label log-probabilities" in graded_by else "verdict confidence"
        threshold, notes[criterion.id] = choose_threshold(points, source)
        if threshold is not None:
            thresholds[criterion.id] = threshold
    return Fitted(thresholds, notes, judgments, [label for label in labels if (label.trace_id, label.step_key) in steps])


@dataclass
class Side:
    """One judge on the test split, for one criterion."""

    name: str
    run: str
    report: AgreementReport
    seconds_per_step: float
    prompt_tokens_per_step: float
    looks: int  # looks at the test split by this judge version, this one included


@dataclass
class BeforeAfter:
    steps: int
    by_criterion: dict[str, list[Side]] = field(default_factory=dict)


def _passes(aligned: AlignedJudge, choice: JudgeChoice, embed) -> list[tuple[str, str, dict[str, Any]]]:
    """The two judges compared on test: (name, run, judging options) of the plain and the aligned one."""
    aligned_options = {
        "aligned": aligned.tag,
        "examples": Retriever(aligned, embed).examples_for,
        "thresholds": {c: t.p_fail for c, t in aligned.thresholds.items()},
    }
    return [("plain", f"align-{aligned.name}-plain-{choice.slug}", {}), ("aligned", f"align-{aligned.tag}-test", aligned_options)]


def before_after(
    store: Store,
    rubric: Rubric,
    aligned: AlignedJudge,
    choice: JudgeChoice,
    embed,
    limit: int | None,
    seed: int,
    bootstrap: int = 1000,
    progress: Hooks | None = None,
) -> BeforeAfter:
    """Judge the same labelled test steps with the plain and the aligned judge; agreement of each with
    people, per criterion, with trace-clustered intervals and baselines. Each is a recorded look."""
    labels = labelled(store, rubric, "test")
    steps = sample_steps(labels, limit, seed)
    reference = [label for label in labels if (label.trace_id, label.step_key) in steps]
    result = BeforeAfter(steps=len(steps))
    for name, run, options in _passes(aligned, choice, embed):
        judgments = judge_steps(store, rubric, choice, run, steps, progress=progress, **options)
        stored = store.get_run(run)
        for criterion in (c for c in rubric.criteria if not c.deterministic):
            wanted = [label for label in reference if label.criterion == criterion.id]
            if wanted:
                side = _side(
                    store, name, run, stored, criterion, wanted, [j for j in judgments if j.criterion_id == criterion.id], bootstrap, seed
                )
                result.by_criterion.setdefault(criterion.id, []).append(side)
    return result


def _side(
    store: Store,
    name: str,
    run: str,
    stored: Any,
    criterion: Criterion,
    wanted: list[Label],
    mine: list[Judgment],
    bootstrap: int,
    seed: int,
) -> Side:
    """One judge on one criterion against people on the test steps, its cost per step, and the look recorded."""
    report = agreement(
        wanted,
        judgment_labels(mine, f"run:{run}", criterion.id),
        "people",
        f"run:{run}",
        criterion.id,
        failing=failing_labels(criterion.scale),
        order=criterion.scale.labels,
        bootstrap=bootstrap,
        seed=seed,
    )
    looks = store.record_look(f"run:{run}", judge_version(stored), criterion.id)
    n = max(1, len(mine))
    latency = sum(j.latency_s for j in mine) / n
    return Side(name, run, report, latency, sum(j.usage.prompt_tokens * j.criteria_in_call for j in mine) / n, looks)


# seconds per judgment of the local judge on 2 cores (bench/alignment.py), for the time estimate only: plain,
# and aligned (longer prompts, and token log-probabilities, which llama-cpp-python computes slowly)
LOCAL_SECONDS = {"plain": 8.0, "aligned": 31.0}


@dataclass(frozen=True)
class AlignRequest:
    """What `chainjudge align` asks of the judge once the worked examples are built."""

    choice: JudgeChoice
    tune_steps: int = 120  # 0: all
    test_steps: int = 120  # 0: all
    evaluate: bool = True
    seed: int = 0
    rubric_data: dict | None = None  # the rubric file's YAML, when clarifications are to be proposed
    rubric_source: str = ""


@dataclass
class AlignResult:
    aligned: AlignedJudge
    fitted: Fitted
    comparison: BeforeAfter | None
    proposal: Any


def align_with_judge(
    store: Store, rubric: Rubric, aligned: AlignedJudge, request: AlignRequest, progress, note: Callable[[str], None]
) -> AlignResult:
    """The judge-using steps of alignment: thresholds fitted on tune (the aligned judge saved with them), the
    proposal from the tune disagreements, and the plain-vs-aligned comparison on the sealed test split."""
    from chainjudge.analysis.proposals import disagreements, propose
    from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached

    embed = functools.partial(embed_cached, embedder=SentenceTransformerEmbedder(), store=store)
    n_tune = min(request.tune_steps or 10**9, len({(label.trace_id, label.step_key) for label in labelled(store, rubric, "tune")}))
    n_test = (
        min(request.test_steps or 10**9, len({(label.trace_id, label.step_key) for label in labelled(store, rubric, "test")}))
        if request.evaluate
        else 0
    )
    if request.choice.spec == "local":
        criteria = sum(1 for c in rubric.criteria if not c.deterministic)
        seconds = criteria * (n_tune * LOCAL_SECONDS["aligned"] + n_test * (LOCAL_SECONDS["plain"] + LOCAL_SECONDS["aligned"]))
        note(
            f"judging {n_tune} tune steps (thresholds){f' and {n_test} test steps twice (plain, aligned)' if n_test else ''} "
            f"with the local judge: about {seconds / 60:.0f} min on 2 cores (stored as it goes: an interrupted align resumes; "
            "--tune-steps / --test-steps make it shorter)"
        )
    fitted = fit_thresholds(store, rubric, aligned, request.choice, embed, request.tune_steps or None, request.seed, progress)
    for criterion, line in sorted(fitted.notes.items()):
        note(f"threshold {criterion}: {line}")
    aligned = aligned.model_copy(update={"thresholds": fitted.thresholds})
    store.save_aligned(aligned)
    proposal = None
    if request.rubric_data is not None:
        traces = {tid: t for tid in {j.trace_id for j in fitted.judgments} if (t := store.get_trace(tid)) is not None}
        found = disagreements(fitted.judgments, fitted.reference, rubric, fitted.thresholds, traces)
        proposal = propose(request.rubric_data, found, embed, request.rubric_source)
    comparison = (
        before_after(store, rubric, aligned, request.choice, embed, request.test_steps or None, request.seed, progress=progress)
        if request.evaluate
        else None
    )
    return AlignResult(aligned, fitted, comparison, proposal)
