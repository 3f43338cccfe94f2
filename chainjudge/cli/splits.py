"""`labels split` (the sealed test split, and what `labels list` says of it) and `align` (an aligned judge
built from the tune side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chainjudge.cli.app import app, labels_app
from chainjudge.cli.support import DbOption, err, fail, open_store, out


@labels_app.command("split")
def labels_split(
    test_share: Annotated[float, typer.Option("--test-share", min=0.01, max=0.99, help="Share of labelled traces kept for testing.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the assignment (the same labels and seed give the same split).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing split made with other settings (test figures made before become stale).")] = False,
    db: DbOption = None,
) -> None:
    """Assign every labelled trace, whole, to `tune` or `test`, stratified so both hold traces with failing
    and with only passing reference labels. What learns from labels sees tune only; `agreement --split
    test` measures on test and counts every look."""
    from chainjudge.analysis.calibrate import DEFAULT_FAILING
    from chainjudge.analysis.reference import reference_labels
    from chainjudge.analysis.splits import assign_split, split_counts

    with open_store(db) as store:
        labels = reference_labels(store.labels())
        if not labels:
            fail(f"no reference labels in {store.location}: chainjudge labels import FILE")
        existing = store.split_settings()
        assignment = assign_split(labels, test_share, seed, set(DEFAULT_FAILING))
        if existing is not None and existing != (seed, test_share) and not force:
            fail(f"a split made with seed {existing[0]} and test share {existing[1]} exists; re-splitting after "
                 "looking at the test split leaks it into tuning. Pass --force to replace it anyway")
        unchanged = store.split() == assignment
        if not unchanged:
            store.save_split(assignment, seed, test_share)
        counts = split_counts(assignment, labels, set(DEFAULT_FAILING))
    for name, (traces, failing) in counts.items():
        out.print(f"{name}: {traces} traces ({failing} with a failing reference label)", highlight=False)
    if unchanged:
        out.print("the stored split is already this one (unchanged)")
    if any(f == 0 or f == t for t, f in counts.values()):
        err.print("[yellow]note:[/] a side lacks failing or passing traces: too few labelled traces for a useful test split")


def split_lines(store) -> list[str]:
    """What `labels list` says about the split."""
    assignment, settings = store.split(), store.split_settings()
    if settings is None:
        return ["no test split yet: chainjudge labels split --test-share 0.3 --seed N"]
    tune = sum(1 for s in assignment.values() if s == "tune")
    return [f"split (seed {settings[0]}, test share {settings[1]}): {tune} tune traces, {len(assignment) - tune} test traces"]


@app.command()
def align(
    rubric: Annotated[Path, typer.Option("--rubric", "-r", help="The rubric whose model criteria the aligned judge is for.")],
    name: Annotated[str, typer.Option("--name", help="Name of the aligned judge (chainjudge judge --aligned NAME).")],
    k: Annotated[int, typer.Option(min=1, max=16, help="Worked examples per criterion in each prompt, nearest first, balanced across labels.")] = 4,
    db: DbOption = None,
) -> None:
    """Build an aligned judge from the tune split's reference labels (imported labels, ground truth, the
    review app's adjudications, whose notes become the reasons): each judged step's prompt will carry its
    k most similar labelled steps as worked examples. Versioned: the version is the hash of the rubric and
    the examples, part of every cache key and judgment it makes."""
    from chainjudge.analysis.alignment import AlignmentError, build_aligned
    from chainjudge.core.rubric import RubricError, load_rubric

    try:
        rubric_model = load_rubric(rubric)
    except RubricError as exc:
        fail(str(exc))
    with open_store(db) as store:
        try:
            aligned, report = build_aligned(store, rubric_model, name, k)
        except (AlignmentError, ValueError) as exc:
            fail(str(exc))
        store.save_aligned(aligned)
    out.print(f"aligned judge {aligned.tag}: {report.examples} worked examples from the tune split "
              f"({report.test_labels_left_out} test-split labels left out; {report.missing_trace} labels without a stored trace)",
              highlight=False)
    for criterion, counts in sorted(report.per_criterion.items()):
        out.print(f"  {criterion}: " + ", ".join(f"{label} {n}" for label, n in sorted(counts.items())), highlight=False)
    out.print(f"use it: chainjudge judge TRACES --rubric {rubric} --aligned {name} (a new --run: the settings differ)", highlight=False)
