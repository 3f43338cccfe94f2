"""Judging a set of traces, as `chainjudge judge` asks it: one typed request in, one run per judge (and per
sample) out, every judgment in the store.

The command line parses its options into a `JudgeRequest` and prints what comes back; everything between
(refusing options that cannot work together, reading the traces, the aligned judge's retriever, the
verifiers, the Ray executor, opening each judge and judging with progress) is here, so a notebook or another
front end judges exactly as the command does.  Problems a user can act on raise `JudgeRequestError` with the
one line to show; progress and notes go to the callables the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from chainjudge.core.engine import checks_only_judge
from chainjudge.core.judges.resolve import JudgeSetupError, is_loopback, open_judge
from chainjudge.core.offline import quiet_libraries
from chainjudge.core.redact import DEFAULT_PATTERNS, Redactor, custom_pattern
from chainjudge.core.rubric import RubricError, load_rubric, rubric_hash
from chainjudge.core.schema import JudgeSettings, Rubric, Verifier
from chainjudge.core.store import RunMismatch, Store
from chainjudge.errors import ChainjudgeError
from chainjudge.pipeline import LoadedTraces, RunOutcome, judge_traces, load_traces
from chainjudge.reading import formats

Progress = Callable[[str], AbstractContextManager]  # description -> (on_start, on_progress) hooks
Note = Callable[[str], None]


class JudgeRequestError(ChainjudgeError):
    """Options that cannot work together, or a named judge, verifier or file that is not there."""


@dataclass(frozen=True)
class JudgeRequest:
    """Everything `chainjudge judge` takes, typed; defaults are the command's."""

    traces: list[Path]
    rubric: Path
    judges: list[str] = field(default_factory=list)  # empty: 'local', or the verifiers alone when given
    api_base: str | None = None
    concurrency: int = 8
    run: str | None = None
    fmt: str = "auto"
    split: str = "none"
    limit: int | None = None
    batch: bool | None = None
    mode: str | None = None
    retry_errors: bool = True
    samples: int = 1
    temperature: float = 0.0
    redact: bool | None = None
    redact_patterns: list[str] = field(default_factory=list)
    expected: Path | None = None
    space: Path | None = None
    reference: Path | None = None
    aligned: str | None = None
    executor: str = "local"  # or "ray"
    ray_address: str | None = None
    workers: int = 2
    verifiers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Accept what a command line hands over as it is: None for an empty list, an option's enum for its text."""
        for name in ("judges", "redact_patterns", "verifiers"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, [])
        for name in ("split", "mode", "executor"):
            value = getattr(self, name)
            if isinstance(value, Enum):
                object.__setattr__(self, name, value.value)

    @property
    def specs(self) -> list[str]:
        return self.judges or (["verifier-only"] if self.verifiers else ["local"])

    @property
    def panel(self) -> bool:
        return len(self.specs) > 1 or self.samples > 1


@dataclass
class JudgedRun:
    name: str
    outcome: RunOutcome
    verifier_note: str | None = None


@dataclass
class JudgeResult:
    loaded: LoadedTraces
    runs: list[JudgedRun]

    @property
    def aborted(self) -> bool:
        return any(r.outcome.progress.aborted for r in self.runs)

    @property
    def failed_records_or_judgments(self) -> bool:
        return bool(self.loaded.errors) or any(r.outcome.progress.errors for r in self.runs)


def checked_rubric(request: JudgeRequest) -> Rubric:
    """The rubric, once the options that cannot work together are refused."""
    try:
        rubric = load_rubric(request.rubric)
    except RubricError as exc:
        raise JudgeRequestError(str(exc)) from exc
    if request.fmt not in formats():
        raise JudgeRequestError(f"unknown --format {request.fmt!r}; choose one of {', '.join(formats())}")
    if request.samples > 1 and request.temperature == 0:
        raise JudgeRequestError("--samples > 1 needs --temperature > 0: at temperature 0 every sample is the same answer")
    if request.executor == "local" and request.ray_address:
        raise JudgeRequestError("--ray-address needs --executor ray")
    if request.verifiers and request.executor != "local":
        raise JudgeRequestError("--verifier runs in this process (it scores from the whole trace): use --executor local")
    return rubric


def redactor(patterns: list[str]) -> Redactor:
    """The default PII patterns plus each KIND=REGEX given."""
    extra = []
    for spec in patterns:
        kind, sep, regex = spec.partition("=")
        if not sep or not kind or not regex:
            raise JudgeRequestError(f"--redact-pattern takes KIND=REGEX; got {spec!r}")
        try:
            extra.append(custom_pattern(kind, regex))
        except re.error as exc:
            raise JudgeRequestError(f"--redact-pattern {kind}: invalid regular expression: {exc}") from exc
    return Redactor((*DEFAULT_PATTERNS, *extra))


def executor_for(request: JudgeRequest, store: Store) -> Any:
    """None (this process) or a RayExecutor; a cluster elsewhere cannot write to a SQLite file here."""
    if request.executor == "local":
        return None
    try:
        import ray  # noqa: F401  (only to say plainly when it is missing)

        from chainjudge.scale import RayExecutor
    except ImportError as exc:
        raise JudgeRequestError("--executor ray needs Ray: pip install 'chainjudge[ray]'") from exc
    address = request.ray_address
    if address and store.path is not None and address != "auto" and not is_loopback(address if "://" in address else f"ray://{address}"):
        raise JudgeRequestError(
            f"the Ray cluster at {address} cannot write to the SQLite file {store.location} on this machine: "
            "give a shared store, --db postgresql://..."
        )
    return RayExecutor(store.connect_to, address=address, workers=request.workers)


def read_traces(request: JudgeRequest, note: Note) -> LoadedTraces:
    """The traces (bad records kept in `errors` for the caller to report), with reference trajectories if given;
    none readable is an error (exit 1 when records were bad, 2 when there were none)."""
    from chainjudge.reading.references import ReferenceFileError, read_references, with_references

    loaded = load_traces(request.traces, request.fmt, request.split)  # type: ignore[arg-type]
    if not loaded.traces:
        for problem in loaded.errors:
            note(f"skipped {problem}")
        raise JudgeRequestError("no readable traces", 1 if loaded.errors else 2)
    if request.reference:
        try:
            loaded.traces, matched = with_references(loaded.traces, read_references(request.reference))
        except ReferenceFileError as exc:
            raise JudgeRequestError(str(exc)) from exc
        note(f"reference trajectories: {matched} of {len(loaded.traces)} traces have one from {request.reference}")
    return loaded


def aligned_retriever(store: Store, name: str, rubric: Rubric, note: Note) -> tuple[str, dict[str, float], Callable]:
    """The aligned judge NAME for this rubric: (NAME@VERSION, its decision thresholds, its example finder)."""
    from chainjudge.analysis.alignment import Retriever
    from chainjudge.workflows.embed import EmbeddingModelMissing, SentenceTransformerEmbedder, embed_cached

    aligned = store.aligned(name)
    if aligned is None:
        raise JudgeRequestError(f"no aligned judge named {name!r} in {store.location}: chainjudge align --rubric RUBRIC --name {name}")
    if aligned.rubric_hash != rubric_hash(rubric):
        raise JudgeRequestError(
            f"{name} was aligned on rubric {aligned.rubric_id}@{aligned.rubric_hash}; this rubric is "
            f"{rubric.id}@{rubric_hash(rubric)}: align again"
        )
    try:
        embedder = SentenceTransformerEmbedder()
    except EmbeddingModelMissing as exc:
        raise JudgeRequestError(str(exc)) from exc
    retriever = Retriever(aligned, lambda texts: embed_cached(texts, embedder, store))
    shown = ", ".join(f"{c} fails at P >= {t.p_fail:.3g}" for c, t in sorted(aligned.thresholds.items())) or "none"
    note(
        f"aligned judge {aligned.tag}: {len(aligned.examples)} worked examples, {aligned.k} nearest per criterion "
        f"in each prompt; decision thresholds: {shown}"
    )
    return aligned.tag, {c: t.p_fail for c, t in aligned.thresholds.items()}, retriever.examples_for


def chosen_verifiers(store: Store, names: list[str], rubric: Rubric) -> list[Verifier]:
    """The verifiers NAMES, each checked against the rubric, one per criterion."""
    chosen: list[Verifier] = []
    for name in names:
        found = store.verifier(name)
        if found is None:
            raise JudgeRequestError(
                f"no verifier named {name!r} in {store.location}: chainjudge verifier train --criterion C --name {name}"
            )
        if found.criterion not in {c.id for c in rubric.criteria}:
            raise JudgeRequestError(f"verifier {found.tag} judges {found.criterion!r}, which rubric {rubric.id} does not have")
        if any(v.criterion == found.criterion for v in chosen):
            raise JudgeRequestError(f"two verifiers for criterion {found.criterion!r}: give one per criterion")
        chosen.append(found)
    return chosen


@contextmanager
def verifier_only(chosen: list[Verifier]) -> Iterator[tuple[JudgeSettings, None]]:
    """Settings for a run the verifiers judge alone (no model is opened)."""
    yield JudgeSettings(model="verifier:" + ",".join(v.tag for v in chosen), batch=False), None


@contextmanager
def checks_only() -> Iterator[tuple[JudgeSettings, Any]]:
    """A rubric of deterministic checks only needs no model: no server is started or reached."""
    yield checks_only_judge()


def open_for(spec: str, rubric: Rubric, chosen: list[Verifier], options: dict) -> AbstractContextManager:
    """The judge SPEC names: the verifiers alone, a model, or (a checks-only rubric) no model at all."""
    if chosen and spec == "verifier-only":
        return verifier_only(chosen)
    if any(not c.deterministic for c in rubric.criteria):
        return open_judge(spec, **options)
    return checks_only()


def judge_one(
    store: Store,
    loaded: LoadedTraces,
    rubric: Rubric,
    spec: str,
    options: dict,
    name: str,
    run_options: dict,
    chosen: list[Verifier],
    progress: Progress,
) -> JudgedRun:
    """One run: open the judge (a verifier cascade in front when verifiers are chosen) and judge with progress."""
    from chainjudge.workflows.cascade import CascadeJudge
    from chainjudge.workflows.verifier import run_verdicts

    quiet_libraries()
    try:
        with open_for(spec, rubric, chosen, options) as (settings, model_judge):
            if chosen:
                verdicts = {v.name: run_verdicts(store, v.from_run)[0] for v in chosen if v.from_run}
                model_judge = CascadeJudge(
                    chosen, {t.id: t for t in loaded.traces}, None if spec == "verifier-only" else model_judge, verdicts
                )
                settings = settings.model_copy(update={"verifier": ",".join(v.tag for v in chosen)})
            with progress(f"judging with {settings.model}") as (on_start, on_progress):
                outcome = judge_traces(
                    loaded.traces, rubric, settings, model_judge, store, name, on_start=on_start, on_progress=on_progress, **run_options
                )
    except (JudgeSetupError, RunMismatch) as exc:
        raise JudgeRequestError(str(exc)) from exc
    note = None
    if chosen:
        note = f"verifier {', '.join(v.tag for v in chosen)}: decided {model_judge.decided} steps, abstained on {model_judge.abstained}" + (
            " (judged by the model)" if spec != "verifier-only" else " (stored as abstentions: first in the review queue)"
        )
    return JudgedRun(name, outcome, note)


def run_names(request: JudgeRequest, rubric: Rubric) -> list[tuple[str, str, int]]:
    """(judge spec, sample, run name) for every run the request makes: RUN, or RUN.<judge>[.sN] for a panel."""
    base = request.run or f"{rubric.id}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    return [
        (spec, base + ("." + spec.split("/")[-1] + (f".s{sample}" if request.samples > 1 else "") if request.panel else ""), sample)
        for spec in request.specs
        for sample in range(request.samples)
    ]


def _judge_options(request: JudgeRequest, sample: int, log_dir: Any, tag: str | None, thresholds: Any) -> dict[str, Any]:
    """What `open_judge` is given for one run of the request (its sample number; an aligned judge's tag)."""
    return dict(
        api_base=request.api_base,
        mode=request.mode,
        batch=request.batch,
        temperature=request.temperature,
        sample=sample,
        redact=request.redact,
        log_dir=log_dir,
        aligned=tag,
        thresholds=thresholds,
    )


def _verifiers_only(rubric: Rubric, criteria: set[str]) -> Rubric:
    """The rubric cut to the verifiers' criteria and the deterministic checks: what runs with no model."""
    return rubric.model_copy(update={"criteria": [c for c in rubric.criteria if c.id in criteria or c.deterministic]})


def judge(
    request: JudgeRequest,
    store: Store,
    progress: Progress,
    note: Note,
    on_run: Callable[[JudgedRun, int], None] = lambda run, traces: None,
    on_skipped: Callable[[object], None] = lambda problem: None,
) -> JudgeResult:
    """Every run the request asks for, one after another; ON_SKIPPED sees each unreadable record as the traces
    are read, ON_RUN each run as it finishes."""
    from chainjudge.workflows.golive import attach_context

    rubric = checked_rubric(request)
    run_options: dict[str, Any] = dict(
        sources=[str(p) for p in request.traces],
        concurrency=request.concurrency,
        limit=request.limit,
        retry_errors=request.retry_errors,
        redactor=redactor(request.redact_patterns),
    )
    loaded = read_traces(request, note)
    for problem in loaded.errors:
        on_skipped(problem)
    run_options["executor"] = executor_for(request, store)
    tag, thresholds = None, None
    if request.aligned:
        tag, thresholds, run_options["examples"] = aligned_retriever(store, request.aligned, rubric, note)
    chosen = chosen_verifiers(store, request.verifiers, rubric)
    if chosen and not request.judges:  # the verifiers alone: their criteria (and the checks), no model
        rubric = _verifiers_only(rubric, {v.criterion for v in chosen})
    runs = []
    for spec, name, sample in run_names(request, rubric):
        options = _judge_options(request, sample, store.log_dir, tag, thresholds)
        judged = judge_one(store, loaded, rubric, spec, options, name, run_options, chosen, progress)
        if request.expected or request.space:
            attach_context(store, name, request.space, request.expected)
        on_run(judged, len(loaded.traces))
        runs.append(judged)
    return JudgeResult(loaded, runs)
