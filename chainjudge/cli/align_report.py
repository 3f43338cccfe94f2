"""What `align` prints: the proposed clarifications written as a diff, the plain-vs-aligned comparison on the
sealed test split beside the baselines, one honest sentence reading it, and how to use the aligned judge."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.table import Table
from rich.text import Text

from chainjudge.cli.support import err, out
from chainjudge.core.atomic import write_text_atomic


def write_proposal(proposal, rubric: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = rubric.name.rsplit(".", 1)[0]
    if not proposal.clarifications:
        out.print("proposals: the judge and people agreed on every judged tune step; nothing to propose")
        return
    full, diff = directory / f"{stem}.proposed.yaml", directory / f"{stem}.proposed.diff"
    write_text_atomic(full, yaml.safe_dump(proposal.data, sort_keys=False, allow_unicode=True, width=100))
    write_text_atomic(diff, proposal.diff)
    out.print(
        f"proposals: {len(proposal.clarifications)} clarifications from {proposal.disagreements} tune disagreements "
        f"-> {diff} (review it; to accept, apply it or use {full}; nothing was changed)",
        highlight=False,
    )
    for c in proposal.clarifications:
        shown = ", ".join(c.keywords[:4]) or "a single step"
        out.print(
            f"  {c.criterion}: {c.size} x {c.direction} ({shown}): people said {c.example.reference}, the judge {c.example.decided}",
            highlight=False,
            markup=False,
        )


def print_comparison(comparison) -> None:
    """Per criterion: the plain and the aligned judge on the sealed test split beside the baselines, one
    sentence reading it, and a warning for every extra look at the test split."""
    for criterion, sides in comparison.by_criterion.items():
        out.print(_comparison_table(criterion, sides))
        out.print(reading(sides), highlight=False)
        for side in sides:
            if side.looks > 1:
                err.print(
                    Text("warning:", style="yellow"),
                    f"the test split has now been looked at {side.looks} times by the {side.name} "
                    f"judge's version ({side.run}): choosing by these figures makes them less of a test",
                    highlight=False,
                )


_COMPARISON_COLUMNS = (
    "judge",
    "Cohen's kappa",
    "TPR (failing)",
    "TNR",
    "step accuracy",
    "first-error accuracy",
    "s / step",
    "prompt tokens / step",
)


def _comparison_table(criterion: str, sides) -> Table:
    first = sides[0].report
    table = Table(
        *_COMPARISON_COLUMNS,
        title=f"{criterion}: plain vs aligned on the sealed test split ({first.reference_items} labelled steps, "
        f"{first.failing_reference_labels} failing, in {first.traces} traces; 95% intervals resample traces)",
    )
    for side in sides:
        r = side.report
        table.add_row(
            side.name,
            interval(r.cohen_kappa, 3),
            interval(r.tpr, 2),
            interval(r.tnr, 2),
            interval(r.step_accuracy, 3),
            interval(r.first_error_accuracy, 3),
            f"{side.seconds_per_step:.1f}",
            f"{side.prompt_tokens_per_step:,.0f}",
        )
    for base in first.baselines:
        fails = base.label in first.failing if base.label else None
        table.add_row(
            f"baseline: {base.name}" + (f" ({base.label})" if base.label else ""),
            "0",
            "-" if fails is None else ("1" if fails else "0"),
            "-" if fails is None else ("0" if fails else "1"),
            "-" if base.step_accuracy is None else f"{base.step_accuracy:.3f}",
            "-" if base.first_error_accuracy is None else f"{base.first_error_accuracy:.3f}",
            "",
        )
    return table


def interval(estimate, digits: int) -> str:
    """value [low, high] (the item count is in the table's title; unanswered items count against the judge)."""
    from chainjudge.analysis.figures import format_estimate

    return format_estimate(estimate.model_copy(update={"n": None}), 1, digits)


def reading(sides) -> str:
    """One honest sentence: does the aligned judge beat the plain one and chance, on held-out traces."""
    by = {s.name: s.report.cohen_kappa for s in sides}
    plain, aligned = by.get("plain"), by.get("aligned")
    if plain is None or aligned is None or plain.value is None or aligned.value is None:
        return "reading: not enough paired test items to compare"
    beats_chance = aligned.low is not None and aligned.low > 0
    clearer = plain.high is not None and aligned.low is not None and aligned.low > plain.high
    return (
        f"reading: aligned kappa {aligned.value:.3f} vs plain {plain.value:.3f}; "
        + (
            "the aligned judge beats chance on held-out traces (interval above 0)"
            if beats_chance
            else "the aligned judge does not beat chance on held-out traces (interval reaches 0)"
        )
        + ("; and clearly beats the plain one" if clearer else "; intervals overlap: no clear gain over the plain judge")
    )


def use_it(aligned, rubric: Path) -> None:
    thresholds = ", ".join(f"{c} fails at P >= {t.p_fail:.3g}" for c, t in sorted(aligned.thresholds.items())) or "none"
    out.print(
        f"aligned judge {aligned.tag}: {len(aligned.examples)} worked examples, k={aligned.k}, thresholds: {thresholds}", highlight=False
    )
    out.print(
        f"use it: chainjudge judge TRACES --rubric {rubric} --aligned {aligned.name} (a new --run: the settings differ)", highlight=False
    )


def print_examples(report) -> None:
    """How many worked examples the tune split gave, per criterion and label."""
    out.print(
        f"worked examples: {report.examples} from the tune split ({report.test_labels_left_out} test-split labels "
        f"left out; {report.missing_trace} labels without a stored trace)",
        highlight=False,
    )
    for criterion, counts in sorted(report.per_criterion.items()):
        out.print(f"  {criterion}: " + ", ".join(f"{label} {n}" for label, n in sorted(counts.items())), highlight=False)
