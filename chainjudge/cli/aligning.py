"""`chainjudge align`: an aligned judge built from the tune split (worked examples, decision thresholds),
proposed rubric clarifications, and the plain-vs-aligned comparison on the sealed test split."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from chainjudge.cli.app import app
from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.atomic import write_text_atomic

# seconds per judgment of the local judge on 2 cores (README, bench/alignment.py), for the time estimate only:
# plain, and aligned (longer prompts, and token log-probabilities, which llama-cpp-python computes slowly)
LOCAL_SECONDS = {"plain": 8.0, "aligned": 31.0}


@app.command()
def align(
    rubric: Annotated[Path, typer.Option("--rubric", "-r", help="The rubric whose model criteria the aligned judge is for.")],
    name: Annotated[str, typer.Option("--name", help="Name of the aligned judge (chainjudge judge --aligned NAME).")],
    k: Annotated[int, typer.Option(min=1, max=16, help="Worked examples per criterion in each prompt, nearest first, balanced across labels.")] = 4,
    judge: Annotated[str, typer.Option("--judge", "-j", help="The judge to align: 'local' (offline) or a litellm model string.")] = "local",
    api_base: Annotated[Optional[str], typer.Option("--api-base", help="OpenAI-compatible server URL for the judge.")] = None,
    examples_only: Annotated[bool, typer.Option("--examples-only", help="Only build the worked examples (seconds, no judge): no thresholds, no proposals, no test-split comparison.")] = False,
    tune_steps: Annotated[int, typer.Option(min=0, help="Labelled tune steps judged to fit the decision thresholds (0: all).")] = 120,
    test_steps: Annotated[int, typer.Option(min=0, help="Labelled test steps judged by the plain and the aligned judge (0: all).")] = 120,
    evaluate: Annotated[bool, typer.Option("--evaluate/--no-evaluate", help="End by comparing the plain and the aligned judge on the test split (each a recorded look).")] = True,
    propose: Annotated[bool, typer.Option("--propose", help="Also write proposed rubric clarifications from the tune disagreements, as a diff for a person to accept (never applied).")] = False,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where --propose writes RUBRIC.proposed.yaml and .diff (default: beside the rubric).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Judge calls in flight (the local judge serves one at a time).")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the tune and test step samples.")] = 0,
    db: DbOption = None,
) -> None:
    """Align a judge with people, from the tune split only, and show on the sealed test split what it bought.

    1. Worked examples: each judged step's prompt carries its k most similar labelled tune steps (imported
    labels, ground truth, review-app adjudications whose notes become the reasons).

    2. Decision thresholds: the aligned judge judges labelled tune steps (examples from other traces) and,
    per criterion, the cut on its probability of failing (label log-probabilities, else its confidence)
    that maximises kappa on tune is kept if it beats the judge's own labels there, on all tune steps and
    cross-validated with one trace held out at a time.

    3. With --propose: the tune disagreements clustered into proposed rubric wording and examples, written
    as a diff for a person to accept.

    4. The plain and the aligned judge on the same labelled test steps: kappa, TPR, TNR, step and
    first-error accuracy with trace-clustered intervals, beside the always-pass / always-fail / majority
    baselines (a recorded look at the test split).

    Judging runs are stored (named align-NAME-...): an interrupted align resumes."""
    import yaml

    from chainjudge.core.judges.resolve import JudgeSetupError
    from chainjudge.core.rubric import RubricError, load_rubric
    from chainjudge.core.store.base import RunMismatch
    from chainjudge.workflows.alignment import AlignmentError, build_aligned

    if propose and examples_only:
        fail("--propose needs the judge's tune judgments: drop --examples-only")
    try:
        rubric_model = load_rubric(rubric)
    except RubricError as exc:
        fail(str(exc))
    with open_store(db) as store:
        try:
            aligned, report = build_aligned(store, rubric_model, name, k)
        except (AlignmentError, ValueError) as exc:
            fail(str(exc))
        out.print(f"worked examples: {report.examples} from the tune split ({report.test_labels_left_out} test-split labels "
                  f"left out; {report.missing_trace} labels without a stored trace)", highlight=False)
        for criterion, counts in sorted(report.per_criterion.items()):
            out.print(f"  {criterion}: " + ", ".join(f"{label} {n}" for label, n in sorted(counts.items())), highlight=False)
        if examples_only:
            store.save_aligned(aligned)
            _use_it(aligned, rubric)
            return
        try:
            aligned, fitted, comparison, proposal = _with_judge(store, rubric_model, aligned, judge, api_base, concurrency,
                                                                tune_steps, test_steps, evaluate, seed,
                                                                yaml.safe_load(rubric.read_text(encoding="utf-8")) if propose else None,
                                                                str(rubric))
        except JudgeSetupError as exc:
            fail(f"{exc} (or build the examples alone: --examples-only)")
        except RunMismatch as exc:
            fail(str(exc))
    if proposal is not None:
        _write_proposal(proposal, rubric, out_dir or rubric.parent)
    if comparison is not None:
        _print_comparison(comparison)
    _use_it(aligned, rubric)


def _with_judge(store, rubric_model, aligned, judge, api_base, concurrency, tune_steps, test_steps, evaluate, seed,
                rubric_data, source):
    """The judge-using steps: thresholds on tune, the proposal, the test-split comparison."""
    from chainjudge.analysis.proposals import disagreements, propose
    from chainjudge.core.progress import live_progress
    from chainjudge.workflows.align_run import JudgeChoice, before_after, fit_thresholds, labelled
    from chainjudge.workflows.embed import SentenceTransformerEmbedder, embed_cached

    embedder = SentenceTransformerEmbedder()
    embed = functools.partial(embed_cached, embedder=embedder, store=store)
    choice = JudgeChoice(spec=judge, api_base=api_base, concurrency=concurrency)
    progress = functools.partial(live_progress, err)
    n_tune = min(tune_steps or 10**9, len({(l.trace_id, l.step_key) for l in labelled(store, rubric_model, "tune")}))
    n_test = min(test_steps or 10**9, len({(l.trace_id, l.step_key) for l in labelled(store, rubric_model, "test")})) if evaluate else 0
    criteria = sum(1 for c in rubric_model.criteria if not c.deterministic)
    if judge == "local":
        seconds = criteria * (n_tune * LOCAL_SECONDS["aligned"] + n_test * (LOCAL_SECONDS["plain"] + LOCAL_SECONDS["aligned"]))
        err.print(f"judging {n_tune} tune steps (thresholds){f' and {n_test} test steps twice (plain, aligned)' if n_test else ''} "
                  f"with the local judge: about {seconds / 60:.0f} min on 2 cores (stored as it goes: an interrupted align resumes; "
                  "--tune-steps / --test-steps make it shorter)", highlight=False)
    fitted = fit_thresholds(store, rubric_model, aligned, choice, embed, tune_steps or None, seed, progress)
    for criterion, note in sorted(fitted.notes.items()):
        out.print(f"threshold {criterion}: {note}", highlight=False)
    aligned = aligned.model_copy(update={"thresholds": fitted.thresholds})
    store.save_aligned(aligned)
    proposal = None
    if rubric_data is not None:
        traces = {tid: store.get_trace(tid) for tid in {j.trace_id for j in fitted.judgments}}
        found = disagreements(fitted.judgments, fitted.reference, rubric_model, fitted.thresholds, traces)
        proposal = propose(rubric_data, found, embed, source)
    comparison = before_after(store, rubric_model, aligned, choice, embed, test_steps or None, seed, progress=progress) if evaluate else None
    return aligned, fitted, comparison, proposal


def _write_proposal(proposal, rubric: Path, directory: Path) -> None:
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    stem = rubric.name.rsplit(".", 1)[0]
    if not proposal.clarifications:
        out.print("proposals: the judge and people agreed on every judged tune step; nothing to propose")
        return
    full, diff = directory / f"{stem}.proposed.yaml", directory / f"{stem}.proposed.diff"
    write_text_atomic(full, yaml.safe_dump(proposal.data, sort_keys=False, allow_unicode=True, width=100))
    write_text_atomic(diff, proposal.diff)
    out.print(f"proposals: {len(proposal.clarifications)} clarifications from {proposal.disagreements} tune disagreements "
              f"-> {diff} (review it; to accept, apply it or use {full}; nothing was changed)", highlight=False)
    for c in proposal.clarifications:
        shown = ", ".join(c.keywords[:4]) or "a single step"
        out.print(f"  {c.criterion}: {c.size} x {c.direction} ({shown}): people said {c.example.reference}, "
                  f"the judge {c.example.decided}", highlight=False, markup=False)


def _print_comparison(comparison) -> None:
    for criterion, sides in comparison.by_criterion.items():
        first = sides[0].report
        table = Table(title=f"{criterion}: plain vs aligned on the sealed test split ({first.reference_items} labelled steps, "
                            f"{first.failing_reference_labels} failing, in {first.traces} traces; 95% intervals resample traces)")
        for column in ("judge", "Cohen's kappa", "TPR (failing)", "TNR", "step accuracy", "first-error accuracy", "s / step", "prompt tokens / step"):
            table.add_column(column)
        for side in sides:
            r = side.report
            table.add_row(side.name, _interval(r.cohen_kappa, 3), _interval(r.tpr, 2), _interval(r.tnr, 2),
                          _interval(r.step_accuracy, 3), _interval(r.first_error_accuracy, 3),
                          f"{side.seconds_per_step:.1f}", f"{side.prompt_tokens_per_step:,.0f}")
        for base in sides[0].report.baselines:
            fails = base.label in sides[0].report.failing if base.label else None
            table.add_row(f"baseline: {base.name}" + (f" ({base.label})" if base.label else ""), "0",
                          "-" if fails is None else ("1" if fails else "0"), "-" if fails is None else ("0" if fails else "1"),
                          "-" if base.step_accuracy is None else f"{base.step_accuracy:.3f}",
                          "-" if base.first_error_accuracy is None else f"{base.first_error_accuracy:.3f}", "")
        out.print(table)
        out.print(_reading(sides), highlight=False)
        for side in sides:
            if side.looks > 1:
                err.print(Text("warning:", style="yellow"), f"the test split has now been looked at {side.looks} times by the {side.name} "
                          f"judge's version ({side.run}): choosing by these figures makes them less of a test", highlight=False)


def _interval(estimate, digits: int) -> str:
    """value [low, high] (the item count is in the table's title; unanswered items count against the judge)."""
    from chainjudge.analysis.figures import format_estimate

    return format_estimate(estimate.model_copy(update={"n": None}), 1, digits)


def _reading(sides) -> str:
    """One honest sentence: does the aligned judge beat the plain one and chance, on held-out traces."""
    by = {s.name: s.report.cohen_kappa for s in sides}
    plain, aligned = by.get("plain"), by.get("aligned")
    if plain is None or aligned is None or plain.value is None or aligned.value is None:
        return "reading: not enough paired test items to compare"
    beats_chance = aligned.low is not None and aligned.low > 0
    clearer = plain.high is not None and aligned.low is not None and aligned.low > plain.high
    return (f"reading: aligned kappa {aligned.value:.3f} vs plain {plain.value:.3f}; "
            + ("the aligned judge beats chance on held-out traces (interval above 0)" if beats_chance
               else "the aligned judge does not beat chance on held-out traces (interval reaches 0)")
            + ("; and clearly beats the plain one" if clearer else "; intervals overlap: no clear gain over the plain judge"))


def _use_it(aligned, rubric: Path) -> None:
    thresholds = ", ".join(f"{c} fails at P >= {t.p_fail:.3g}" for c, t in sorted(aligned.thresholds.items())) or "none"
    out.print(f"aligned judge {aligned.tag}: {len(aligned.examples)} worked examples, k={aligned.k}, thresholds: {thresholds}", highlight=False)
    out.print(f"use it: chainjudge judge TRACES --rubric {rubric} --aligned {aligned.name} (a new --run: the settings differ)", highlight=False)
