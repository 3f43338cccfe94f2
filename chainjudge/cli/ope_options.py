"""The options of `ope`: each parameter's type and help, declared once (the
commands' signatures name them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ActionOption = Annotated[str, typer.Option(help="Column of the logged action.")]
BootstrapOption = Annotated[int, typer.Option(min=0, max=10_000, help="Resamples of users for the 95% intervals.")]
ByOption = Annotated[
    Optional[list[str]], typer.Option("--by", help="Also break the figures down by this column (segment, market, channel), repeatable.")
]
ClipOption = Annotated[Optional[float], typer.Option(min=1.0, help="Clip importance weights at this value (less variance, some bias).")]
DecisionFieldOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--decision-field",
        help="With --decisions: the decision's fields that make the action, joined with ':' (default: channel; e.g. action, channel).",
    ),
]
DecisionsOption = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--decisions",
        help="Instead of --policy: recorded agent traces (chainjudge record); each one's final decision is the agent's action for "
        "its user.",
    ),
]
ExplorationOption = Annotated[
    Optional[str], typer.Option("--exploration", help="With --decisions: 'uniform' when the logging policy could take every action.")
]
FeatureOption = Annotated[Optional[list[str]], typer.Option("--feature", help="Context column for the reward model, repeatable.")]
GroupOption = Annotated[
    Optional[str], typer.Option(help="Column of the user id: intervals resample users, keeping their rows together (default: rows).")
]
LogsOption = Annotated[Path, typer.Argument(help="Logged decisions: CSV, JSONL or Parquet, one row per decision.")]
MinEssOption = Annotated[
    float, typer.Option("--min-ess", min=1.0, help="Below this effective sample size the weighted estimates are withheld.")
]
OutFileOption = Annotated[Optional[Path], typer.Option("--out", help="Also write every figure as JSON here.")]
PolicyOption = Annotated[
    Optional[Path],
    typer.Option("--policy", help="The target policy (YAML / JSON): kind slots, thompson or decisions (see docs/guides/outcomes.md)."),
]
PropensityOption = Annotated[str, typer.Option(help="Column of the logging policy's probability of the logged action.")]
RewardModelOption = Annotated[
    str,
    typer.Option("--reward-model", help="boosting or logistic (scikit-learn, cross-fitted by user), or none (no DM / DR / Switch-DR)."),
]
RewardOption = Annotated[str, typer.Option(help="Column of the outcome (a click, a conversion, revenue).")]
SeedOption = Annotated[int, typer.Option(help="Seed of the resampling and the reward model's folds.")]
SlotOption = Annotated[Optional[str], typer.Option(help="Column of the slot (slate position, send window) a slot policy is given per.")]
SwitchTauOption = Annotated[
    Optional[float],
    typer.Option("--switch-tau", min=0.0, help="Switch-DR: weights above this use the reward model alone (default: the 99th percentile)."),
]
TraceKeyOption = Annotated[
    str, typer.Option("--trace-key", help="With --decisions: the trace metadata naming the user, matched to --group.")
]
