"""Logged outcomes in: a team's send log (CSV, JSONL or Parquet) through the same mapping as `scenarios
import`, extended with what was sent, how likely the logging policy was to send it, and what happened.

Each row becomes (1) the user state at the send, pseudonymised like every imported state, so the agent
can be recorded on it (`record --scenarios`), and (2) one logged decision for off-policy evaluation: the
user, the logged action (the mapping's `granularity` fields joined with ':', e.g. `send:email`, the form
`ope --decisions` builds from the agent's decisions), its propensity, and the outcomes.  A row is
imported whole or rejected with its line, column and reason: a propensity outside (0, 1], an outcome
that is not a number, a missing logged action.  With `exploration: uniform` (a random holdout) the
propensity is one over the number of distinct logged actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainjudge.packs.cep.mapping import Mapping
from chainjudge.packs.cep.policy import Policy, expected_action
from chainjudge.packs.cep.scenario import Scenario
from chainjudge.packs.cep.state_import import ImportReport, RowError, _present, mapped_rows

OUTCOMES = ("converted", "revenue", "opened", "clicked", "unsubscribed", "complained")
LOGGED_FIELDS = ("action", "channel", "send_window", "offer")
_FLAGS = {"true": 1.0, "yes": 1.0, "y": 1.0, "false": 0.0, "no": 0.0, "n": 0.0}


class OutcomeMappingError(ValueError):
    """The mapping lacks what an outcomes import needs (nothing was read)."""


@dataclass
class OutcomesReport(ImportReport):
    actions: dict[str, int] = field(default_factory=dict)  # logged action -> rows
    users: int = 0


def check_mapping(mapping: Mapping) -> None:
    missing = [f for f in mapping.granularity if f not in mapping.logged]
    if not mapping.logged or missing:
        raise OutcomeMappingError(f"the mapping's `logged` section must name a column for {', '.join(missing or mapping.granularity)}")
    unknown = sorted(set(mapping.logged) - set(LOGGED_FIELDS)) + sorted(set(mapping.outcomes) - set(OUTCOMES))
    if unknown:
        raise OutcomeMappingError(f"unknown logged or outcome fields {unknown}; logged: {list(LOGGED_FIELDS)}, outcomes: {list(OUTCOMES)}")
    if not mapping.outcomes:
        raise OutcomeMappingError(f"the mapping's `outcomes` section must name at least one of {list(OUTCOMES)}")
    if (mapping.propensity is None) == (mapping.exploration is None):
        raise OutcomeMappingError("give the mapping either `propensity: COLUMN` or `exploration: uniform`")


def _number(raw: Any) -> float:
    text = str(raw).strip().lower()
    if text in _FLAGS:
        return _FLAGS[text]
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _logged(row: dict, mapping: Mapping, line: int) -> dict | RowError:
    fields = {}
    for name, column in mapping.logged.items():
        raw = row.get(column)
        if name == "action" and not _present(raw):  # a missing channel or offer is 'none' (a suppression has no channel)
            return RowError(line, column, "missing", "no logged action")
        fields[name] = str(raw).strip().lower() if _present(raw) else None
    record: dict[str, Any] = {
        "action": ":".join(fields[f] or "none" for f in mapping.granularity),
        **{f"logged_{k}": v for k, v in fields.items()},
    }
    if mapping.propensity:
        raw = row.get(mapping.propensity)
        try:
            propensity = _number(raw)
        except (TypeError, ValueError):
            return RowError(line, mapping.propensity, "bad_value", f"propensity {str(raw)[:40]!r} is not a number")
        if not 0 < propensity <= 1:
            return RowError(line, mapping.propensity, "bad_value", f"propensity {propensity:g} is outside (0, 1]")
        record["propensity"] = propensity
    for name, column in mapping.outcomes.items():
        raw = row.get(column)
        if not _present(raw):
            return RowError(line, column, "missing", f"no {name} outcome")
        try:
            record[name] = _number(raw)
        except (TypeError, ValueError):
            return RowError(line, column, "bad_value", f"{name} {str(raw)[:40]!r} is not a number or yes/no")
    if mapping.horizon_days is not None:
        record["horizon_days"] = mapping.horizon_days
    return record


def import_outcomes(path: Path, mapping: Mapping, key: bytes, policy: Policy) -> tuple[list[dict], list[Scenario], OutcomesReport]:
    """(logged decisions, the users' states as scenarios, report).  A user with several rows keeps the
    state of its first row as its scenario; every row is a logged decision."""
    check_mapping(mapping)
    report = OutcomesReport(hashed=mapping.id_column, dropped=list(mapping.drop))
    rows: list[dict] = []
    scenarios: dict[str, Scenario] = {}
    for line, row, state in mapped_rows(path, mapping, key, report):
        logged = _logged(row, mapping, line)
        if isinstance(logged, RowError):
            report.errors.append(logged)
            continue
        rows.append(
            {"user": state.id, **logged, "segment": state.ltv_segment, "market": state.market, "lifecycle": state.lifecycle, "line": line}
        )
        if state.id not in scenarios:
            scenarios[state.id] = Scenario(user=state, expected=expected_action(state, policy), origin="imported")
        report.actions[logged["action"]] = report.actions.get(logged["action"], 0) + 1
    if mapping.exploration == "uniform" and rows:
        share = 1 / len(report.actions)
        for record in rows:
            record["propensity"] = share
    report.imported, report.users = len(rows), len(scenarios)
    return rows, list(scenarios.values()), report
