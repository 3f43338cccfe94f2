"""`chainjudge align`: an aligned judge built from the tune split (worked examples, decision thresholds),
proposed rubric clarifications, and the plain-vs-aligned comparison on the sealed test split."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml

from chainjudge.cli.align_report import print_comparison, print_examples, use_it, write_proposal
from chainjudge.cli.app import app
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.rubric import RubricError, load_rubric


@dataclass(frozen=True, kw_only=True)
class AlignOptions:
    """What `align` is asked: its options, parsed into one request."""

    rubric: Annotated[Path, typer.Option("--rubric", "-r", help="The rubric whose model criteria the aligned judge is for.")]
    name: Annotated[str, typer.Option("--name", help="Name of the aligned judge (chainjudge judge --aligned NAME).")]
    k: Annotated[
        int, typer.Option(min=1, max=16, help="Worked examples per criterion in each prompt, nearest first, balanced across labels.")
    ] = 4
    judge: Annotated[str, typer.Option("--judge", "-j", help="The judge to align: 'local' (offline) or a litellm model string.")] = "local"
    api_base: Annotated[Optional[str], typer.Option("--api-base", help="OpenAI-compatible server URL for the judge.")] = None
    examples_only: Annotated[
        bool,
        typer.Option(
            "--examples-only",
            help="Only build the worked examples (seconds, no judge): no thresholds, no proposals, no test-split comparison.",
        ),
    ] = False
    tune_steps: Annotated[int, typer.Option(min=0, help="Labelled tune steps judged to fit the decision thresholds (0: all).")] = 120
    test_steps: Annotated[int, typer.Option(min=0, help="Labelled test steps judged by the plain and the aligned judge (0: all).")] = 120
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate/--no-evaluate", help="End by comparing the plain and the aligned judge on the test split (each a recorded look)."
        ),
    ] = True
    propose: Annotated[
        bool,
        typer.Option(
            "--propose",
            help="Also write proposed rubric clarifications from the tune disagreements, as a diff for a person to accept (never applied).",
        ),
    ] = False
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Where --propose writes RUBRIC.proposed.yaml and .diff (default: beside the rubric).")
    ] = None
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Judge calls in flight (the local judge serves one at a time).")] = 8
    seed: Annotated[int, typer.Option(help="Seed of the tune and test step samples.")] = 0
    db: DbOption = None


@app.command()
@from_options(AlignOptions)
def align(args: AlignOptions) -> None:
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
    if args.propose and args.examples_only:
        fail("--propose needs the judge's tune judgments: drop --examples-only")
    try:
        rubric_model = load_rubric(args.rubric)
    except RubricError as exc:
        fail(str(exc))
    with open_store(args.db) as store:
        aligned = _worked_examples(store, rubric_model, args)
        if args.examples_only:
            store.save_aligned(aligned)
            use_it(aligned, args.rubric)
            return
        result = _align_with_judge(store, rubric_model, aligned, args)
    if result.proposal is not None:
        write_proposal(result.proposal, args.rubric, args.out_dir or args.rubric.parent)
    if result.comparison is not None:
        print_comparison(result.comparison)
    use_it(result.aligned, args.rubric)


def _worked_examples(store, rubric, args: AlignOptions):
    """Step 1: the aligned judge's worked examples from the tune labels, printed."""
    from chainjudge.workflows.alignment import build_aligned

    try:
        aligned, report = build_aligned(store, rubric, args.name, args.k)
    except ValueError as exc:  # labels that cannot make examples (AlignmentError is one)
        fail(str(exc))
    print_examples(report)
    return aligned


def _align_with_judge(store, rubric, aligned, args: AlignOptions):
    """Steps 2-4: thresholds on tune, proposals, and the before/after on test, with the judge running."""
    from chainjudge.core.judges.resolve import JudgeSetupError
    from chainjudge.core.progress import live_progress
    from chainjudge.workflows.align_run import AlignRequest, JudgeChoice, align_with_judge

    choice = JudgeChoice(spec=args.judge, api_base=args.api_base, concurrency=args.concurrency)
    data = yaml.safe_load(args.rubric.read_text(encoding="utf-8")) if args.propose else None
    request = AlignRequest(choice, args.tune_steps, args.test_steps, args.evaluate, args.seed, data, str(args.rubric))
    try:
        progress = functools.partial(live_progress, err)
        return align_with_judge(store, rubric, aligned, request, progress, note=lambda line: out.print(line, highlight=False))
    except JudgeSetupError as exc:
        fail(f"{exc} (or build the examples alone: --examples-only)")
