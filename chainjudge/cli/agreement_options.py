"""The options of `agreement`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from chainjudge.cli.support import DbOption

AgainstOption = Annotated[
    list[str], typer.Option("--against", help="Annotators to compare, repeatable; run:NAME uses a stored run's judgments.")
]
AsJsonOption = Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")]
BootstrapOption = Annotated[int, typer.Option(min=0, help="Bootstrap resamples of traces for 95% intervals.")]
CriterionOption = Annotated[str, typer.Option(help="Criterion id (as stored in the labels / the rubric).")]
FailingOption = Annotated[Optional[str], typer.Option(help="Failing labels, comma-separated (default: error/fail/-1/...).")]
MinAnsweredOption = Annotated[float, typer.Option(min=0, max=1, help="Trust needs the judge to answer this share of reference items.")]
MinFailingLabelsOption = Annotated[int, typer.Option(min=1, help="Trust needs at least this many failing reference labels ...")]
MinFailingTracesOption = Annotated[int, typer.Option(min=1, help="... from at least this many traces.")]
MinTnrLowOption = Annotated[float, typer.Option(min=0, max=1, help="Trust needs the TNR lower bound at or above this.")]
MinTprLowOption = Annotated[float, typer.Option(min=0, max=1, help="Trust needs the TPR (failing class) lower bound at or above this.")]
OrderOption = Annotated[
    Optional[str], typer.Option(help="Label order, low to high, comma-separated (e.g. error,neutral,correct); makes the scale ordinal.")
]
ReferenceOption = Annotated[
    str,
    typer.Option(
        "--reference",
        help="Reference: 'reference' (one label per item: adjudication > ground truth > imported human) or an annotator name.",
    ),
]
ReviewKappaOption = Annotated[float, typer.Option(help="Otherwise 'needs review' when kappa's lower bound reaches this.")]
SeedOption = Annotated[int, typer.Option(help="Bootstrap seed.")]
SourcesOption = Annotated[
    Optional[str],
    typer.Option(help="With --reference reference: sources most trusted first (default adjudication,ground-truth,human)."),
]
SplitOption = Annotated[
    Optional[str],
    typer.Option(
        "--split", help="Only the traces of this side of `labels split`: tune, or test (every look at test is recorded and counted)."
    ),
]


@dataclass(frozen=True, kw_only=True)
class AgreementOptions:
    """What `agreement` is asked: its options, parsed into one request."""

    reference: ReferenceOption
    against: AgainstOption
    criterion: CriterionOption = "step"
    order: OrderOption = None
    failing: FailingOption = None
    sources: SourcesOption = None
    bootstrap: BootstrapOption = 1000
    seed: SeedOption = 0
    min_failing_labels: MinFailingLabelsOption = 10
    min_failing_traces: MinFailingTracesOption = 5
    min_answered: MinAnsweredOption = 0.9
    min_tpr_low: MinTprLowOption = 0.8
    min_tnr_low: MinTnrLowOption = 0.8
    review_kappa: ReviewKappaOption = 0.4
    as_json: AsJsonOption = False
    split: SplitOption = None
    db: DbOption = None
