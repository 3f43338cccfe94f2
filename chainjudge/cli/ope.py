"""`ope`: what a target policy (the agent) would have earned on logged decisions, with diagnostics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

import chainjudge.cli.ope_options as opt
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import err, out


@dataclass(frozen=True, kw_only=True)
class OpeOptions:
    """What `ope` is asked: its options, parsed into one request."""

    logs: opt.LogsOption
    policy: opt.PolicyOption = None
    decisions: opt.DecisionsOption = None
    decision_field: opt.DecisionFieldOption = None
    trace_key: opt.TraceKeyOption = "scenario_id"
    exploration: opt.ExplorationOption = None
    reward: opt.RewardOption = "reward"
    propensity: opt.PropensityOption = "propensity"
    action: opt.ActionOption = "action"
    slot: opt.SlotOption = None
    group: opt.GroupOption = None
    feature: opt.FeatureOption = None
    by: opt.ByOption = None
    reward_model: opt.RewardModelOption = "boosting"
    clip: opt.ClipOption = None
    switch_tau: opt.SwitchTauOption = None
    bootstrap: opt.BootstrapOption = 200
    min_ess: opt.MinEssOption = 100.0
    seed: opt.SeedOption = 0
    out_file: opt.OutFileOption = None


@from_options(OpeOptions)
def ope(args: OpeOptions) -> None:
    """Estimate what the target policy would have earned on the logged decisions (direct method, IPS,
    self-normalised IPS, doubly robust, Switch-DR), beside what the logged policy earned, with 95% intervals
    over users and the diagnostics that say whether to believe them (effective sample size, largest weight,
    logging support). Figures whose support or effective sample size is too thin are withheld, not shown."""
    from chainjudge.core.atomic import write_text_atomic
    from chainjudge.workflows.ope import columns_from, evaluate_logs

    if args.reward_model not in ("boosting", "logistic", "none"):
        raise typer.BadParameter("choose boosting, logistic or none", param_hint="--reward-model")
    if (args.policy is None) == (not args.decisions):
        raise typer.BadParameter("give either --policy FILE or --decisions TRACES", param_hint="--policy")
    if args.exploration not in (None, "uniform"):
        raise typer.BadParameter("the only declared exploration is 'uniform'", param_hint="--exploration")
    columns = columns_from(args.reward, args.propensity, args.action, args.slot, args.group, args.feature or [], args.by or [])
    target = _target_policy(args)
    options = (args.reward_model, args.clip, args.switch_tau, args.bootstrap, args.seed, args.min_ess)
    report = evaluate_logs(args.logs, columns, target, *options)
    _print_report(report)
    if args.out_file is not None:
        write_text_atomic(args.out_file, json.dumps(_as_json(report), indent=2, default=str) + "\n")
        out.print(f"figures written to {args.out_file}", highlight=False)


def _target_policy(args: OpeOptions) -> Path | dict:
    """The policy file, or the recorded agent decisions (--decisions) as the target policy."""
    if not args.decisions:
        assert args.policy is not None
        return args.policy
    from chainjudge.workflows.ope import decisions_policy

    target, problems = decisions_policy(args.decisions, args.decision_field or ["channel"], args.trace_key, args.exploration)
    for problem in problems[:5]:
        err.print(Text(f"skipped: {problem}", style="yellow"))
    out.print(f"{len(target['decisions'])} recorded agent decisions are the target policy", highlight=False)
    return target


def _print_report(report) -> None:
    if report.rejected_count:
        err.print(Text(f"{report.rejected_count} rows rejected (first: {'; '.join(report.rejected[:3])})", style="yellow"))
    _print_result(report.overall, f"{report.logs}: {report.rows} logged rows, {report.actions} actions; policy {report.policy}")
    for name, parts in report.segments.items():
        for value, result in parts.items():
            _print_result(result, f"{name} = {value}")
    if not report.support_known:
        out.print(
            "support: unknown (the logs give only the logged action's propensity; declare exploration: uniform "
            "in the policy file when the logging policy could take every action)",
            highlight=False,
        )


def _figure(value, digits: int = 4) -> str:
    if value.value is None:
        return "withheld"
    if value.low is None:
        return f"{value.value:.{digits}f}"
    return f"{value.value:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"


def _print_result(result, title: str) -> None:
    d = result.diagnostics
    table = Table("estimator", "value [95%]", "minus the logged policy [95%]", "ratio to it [95%]", title=title, title_justify="left")
    table.add_row("logged policy (mean reward)", _figure(result.incumbent), "-", "1")
    for e in result.estimates:
        table.add_row(e.estimator, _figure(e.value), _figure(e.difference), _figure(e.ratio, 3))
    out.print(table)
    out.print(
        f"  {d.rows} rows in {d.groups} groups; effective sample size {d.ess:.0f} ({d.ess / max(1, d.rows):.1%}); "
        f"largest weight {d.max_weight:.1f}; support {d.support:.0%}"
        + (f"; weights clipped at {result.clip:g}" if result.clip else "")
        + (f"; Switch-DR tau {result.switch_tau:.1f}" if result.switch_tau else ""),
        highlight=False,
    )
    for warning in d.warnings:
        err.print(Text(f"  warning: {warning}", style="yellow"))
    for note in result.notes:
        out.print(f"  note: {note}", highlight=False)


def _as_json(report) -> dict:
    from dataclasses import asdict

    return {
        "logs": report.logs,
        "rows": report.rows,
        "rejected": report.rejected_count,
        "policy": report.policy,
        "reward_model": report.reward_model,
        "overall": asdict(report.overall),
        "segments": {n: {v: asdict(r) for v, r in parts.items()} for n, parts in report.segments.items()},
    }
