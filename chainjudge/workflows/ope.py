"""Off-policy evaluation of logged decisions: read the logs and the target policy, fit the reward model,
hand arrays to the pure estimators (`analysis/ope.py`).

Logs are CSV, JSONL or Parquet, one row per logged decision, with columns named by the caller: the reward,
the logging policy's propensity for the logged action, the action, optionally a slot (position in a
slate, a send window), a group (user id: resampling keeps a user's rows together), context features for
the reward model and segments to break the figures down by.  A row whose reward, propensity or action
cannot be read is rejected with its line, column and reason; the rest go on.

The target policy is a YAML or JSON file:

- `kind: slots`: a context-free distribution per slot, `probabilities: {SLOT: {ACTION: p}}` (one slot: `all`);
- `kind: thompson`: Bernoulli Thompson sampling from a Beta prior per action (`actions`, `alpha`, `beta`,
  `slots`, `samples`), its slate probabilities computed as its own sampling gives them;
- `kind: decisions`: what an agent decided per group (user) or row, `decisions: [{group: ID, action: A}]`
  or `{row: N, probabilities: {A: p}}` (deterministic decisions are probability 1).

`exploration: uniform` in the policy file says the logging policy gave every action a positive probability
(a random holdout, uniform exploration): support is then known; otherwise only the logged action's
propensity is known and support is reported as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainjudge.analysis.ope import Logged, OpeResult, by_segment, estimate
from chainjudge.errors import ChainjudgeError


class OpeInputError(ChainjudgeError):
    """Logs or a policy file that cannot be evaluated (named file, column or key)."""


@dataclass(frozen=True)
class Columns:
    reward: str = "reward"
    propensity: str = "propensity"
    action: str = "action"
    slot: str | None = None
    group: str | None = None
    features: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()


@dataclass
class OpeReport:
    logs: str
    rows: int
    rejected: list[str]  # "line N, column C: reason", the first few
    rejected_count: int
    actions: int
    overall: OpeResult
    segments: dict[str, dict[str, OpeResult]] = field(default_factory=dict)
    policy: str = ""
    reward_model: str = "none"
    support_known: bool = False


def _read_table(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise OpeInputError(f"{path}: cannot be read as {suffix.lstrip('.') or 'csv'} ({str(exc).splitlines()[0][:200]})") from None


def read_logs(path: str | Path, columns: Columns):
    """(table of good rows, rejected reasons): numbers parsed, bad rows named and left out."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise OpeInputError(f"{path}: no such file")
    table = _read_table(path)
    needed = [columns.reward, columns.propensity, columns.action, columns.slot, columns.group, *columns.features, *columns.segments]
    missing = [c for c in needed if c is not None and c not in table.columns]
    if missing:
        raise OpeInputError(f"{path}: no column {', '.join(map(repr, missing))} (it has {', '.join(map(str, table.columns[:20]))})")
    bad = pd.Series("", index=table.index)
    reward = pd.to_numeric(table[columns.reward], errors="coerce")
    propensity = pd.to_numeric(table[columns.propensity], errors="coerce")
    bad[reward.isna() | ~np.isfinite(reward.fillna(0))] = f"column {columns.reward}: not a number"
    bad[(bad == "") & ~((propensity > 0) & (propensity <= 1))] = f"column {columns.propensity}: not a probability in (0, 1]"
    action = table[columns.action].astype(str)
    bad[(bad == "") & (action.str.strip() == "")] = f"column {columns.action}: empty"
    features = {}
    for name in columns.features:
        values = pd.to_numeric(table[name], errors="coerce")
        if values.isna().all():  # a categorical feature: its codes
            values = pd.Series(pd.factorize(table[name].astype(str))[0], index=table.index, dtype=float)
        bad[(bad == "") & values.isna()] = f"column {name}: not a number"
        features[name] = values
    first_line = 2 if path.suffix.lower() not in (".jsonl", ".ndjson", ".parquet") else 1
    rejected_rows = bad[bad != ""]
    rejected = [f"line {i + first_line}: {reason}" for i, reason in rejected_rows.head(10).items()]
    keep = bad == ""
    good = pd.DataFrame({"reward": reward[keep].astype(float), "propensity": propensity[keep].astype(float), "action": action[keep]})
    good["slot"] = table.loc[keep, columns.slot].astype(str) if columns.slot else "all"
    good["group"] = table.loc[keep, columns.group].astype(str) if columns.group else np.arange(int(keep.sum())).astype(str)
    for name, values in features.items():
        good[f"feature:{name}"] = values[keep].astype(float)
    for name in columns.segments:
        good[f"segment:{name}"] = table.loc[keep, name].astype(str)
    return good.reset_index(drop=True), rejected, int((~keep).sum())


def _load_policy_file(path: Path) -> dict:
    from chainjudge.core.yamlfile import read_yaml

    if not path.is_file():
        raise OpeInputError(f"{path}: no such policy file")
    data = read_yaml(path)
    if not isinstance(data, dict) or data.get("kind") not in ("slots", "thompson", "decisions"):
        raise OpeInputError(f"{path}: a policy file needs kind: slots, thompson or decisions")
    return data


def target_probabilities(policy: dict, logs, actions: list[str], source: str) -> np.ndarray:
    """rows x actions: the target policy's probability of every action on every logged row."""
    index = {a: i for i, a in enumerate(actions)}
    probs = np.zeros((len(logs), len(actions)))
    kind = policy["kind"]
    if kind in ("slots", "thompson"):
        per_slot = _slot_table(policy, source)
        for slot, table in per_slot.items():
            rows = (logs["slot"] == slot).to_numpy() if slot != "all" else np.ones(len(logs), dtype=bool)
            for action, p in table.items():
                if action in index:
                    probs[rows, index[action]] = p
        unknown_slots = sorted(set(logs["slot"]) - set(per_slot)) if "all" not in per_slot else []
        if unknown_slots:
            raise OpeInputError(f"{source}: no probabilities for slot(s) {', '.join(unknown_slots[:5])}")
        return probs
    by_group: dict[str, dict[str, float]] = {}
    by_row: dict[int, dict[str, float]] = {}
    for number, entry in enumerate(policy.get("decisions") or []):
        if not isinstance(entry, dict):
            raise OpeInputError(f"{source}: decisions[{number}] is not a mapping")
        given = entry.get("probabilities") or ({str(entry["action"]): 1.0} if "action" in entry else None)
        if not isinstance(given, dict):
            raise OpeInputError(f"{source}: decisions[{number}] needs action or probabilities")
        clean = {str(a): float(p) for a, p in given.items()}
        if "row" in entry:
            by_row[int(entry["row"])] = clean
        elif "group" in entry:
            by_group[str(entry["group"])] = clean
        else:
            raise OpeInputError(f"{source}: decisions[{number}] needs group or row")
    groups = logs["group"].tolist()
    for row in range(len(logs)):
        chosen = by_row.get(row) or by_group.get(groups[row])
        for action, p in (chosen or {}).items():
            if action in index:
                probs[row, index[action]] = p
    return probs


def _slot_table(policy: dict, source: str) -> dict[str, dict[str, float]]:
    if policy["kind"] == "slots":
        raw = policy.get("probabilities")
        if not isinstance(raw, dict) or not raw:
            raise OpeInputError(f"{source}: kind slots needs probabilities: {{SLOT: {{ACTION: p}}}}")
        return {str(slot): {str(a): float(p) for a, p in table.items()} for slot, table in raw.items()}
    from chainjudge.analysis.ope_policies import thompson_slate_probabilities

    try:
        actions = [str(a) for a in policy["actions"]]
        alpha, beta = np.asarray(policy["alpha"], float), np.asarray(policy["beta"], float)
        slots = [str(s) for s in policy.get("slot_names") or range(1, int(policy.get("slots", 1)) + 1)]
        probs = thompson_slate_probabilities(alpha, beta, len(slots), int(policy.get("samples", 100_000)), int(policy.get("seed", 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise OpeInputError(f"{source}: kind thompson needs actions, alpha, beta and slots ({exc})") from None
    if len(actions) != len(alpha):
        raise OpeInputError(f"{source}: {len(actions)} actions but {len(alpha)} alpha values")
    return {slot: {a: float(probs[i, j]) for i, a in enumerate(actions)} for j, slot in enumerate(slots)}


def decisions_policy(
    trace_paths: Sequence[str | Path], fields: Sequence[str], key: str = "scenario_id", exploration: str | None = None
) -> tuple[dict, list[str]]:
    """A `kind: decisions` policy from recorded agent traces: per trace, the user it decided for (its
    metadata KEY, else its id) and its decision's FIELDS joined with ':' (a missing field is 'none'),
    read by the installed pack that understands the decision.  Returns (policy, problems)."""
    from chainjudge.core.plugins import decision_of
    from chainjudge.pipeline import load_traces

    loaded = load_traces(list(trace_paths))
    problems = [str(e) for e in loaded.errors]
    decisions = []
    for trace in loaded.traces:
        decided = decision_of(trace)
        if decided is None:
            problems.append(f"{trace.id}: no decision a pack can read")
            continue
        action = ":".join("none" if decided.get(f) in (None, "") else str(decided.get(f)) for f in fields)
        decisions.append({"group": str(trace.metadata.get(key) or trace.id), "action": action})
    if not decisions:
        raise OpeInputError(
            f"no agent decision could be read from {', '.join(map(str, trace_paths))}" + (f" ({problems[0]})" if problems else "")
        )
    policy: dict = {"kind": "decisions", "decisions": decisions}
    if exploration:
        policy["exploration"] = exploration
    return policy, problems


def _contexts(logs, columns: Columns) -> np.ndarray:
    parts = [logs[f"feature:{name}"].to_numpy(float)[:, None] for name in columns.features]
    if columns.slot:
        slots = sorted(set(logs["slot"]))
        parts.append((logs["slot"].to_numpy()[:, None] == np.array(slots)[None, :]).astype(float))
    return np.hstack(parts) if parts else np.zeros((len(logs), 1))


def _logged(logs: Any, columns: Columns, actions: list, probs: np.ndarray, reward_model: str, seed: int, support_known: bool) -> Logged:
    """The logged rows as the estimators take them: rewards, propensities, the target's probability of the
    logged action, users as groups, and the cross-fitted reward model's predictions (unless 'none')."""
    logged_index = logs["action"].map({a: i for i, a in enumerate(actions)}).to_numpy()
    _, groups = np.unique(logs["group"].to_numpy(), return_inverse=True)
    q_logged = q_target = None
    if reward_model != "none":
        from chainjudge.analysis.ope_model import cross_fitted_rewards  # scikit-learn: only when a model is fitted

        q_logged, q_target = cross_fitted_rewards(
            _contexts(logs, columns), logged_index, logs["reward"].to_numpy(float), groups, probs, kind=reward_model, seed=seed
        )
    return Logged(
        reward=logs["reward"].to_numpy(float),
        propensity=logs["propensity"].to_numpy(float),
        target=probs[np.arange(len(logs)), logged_index],
        groups=groups,
        q_logged=q_logged,
        q_target=q_target,
        supported=np.ones(len(logs), dtype=bool) if support_known else None,
    )


def _target(policy_path: str | Path | dict) -> tuple[dict, Path]:
    """The target policy and what to call it: a policy file read, or a policy already built."""
    if isinstance(policy_path, dict):
        return policy_path, Path("(recorded decisions)")
    return _load_policy_file(Path(policy_path)), Path(policy_path)


def _at_most_one(probs: np.ndarray, policy_path: Path) -> np.ndarray:
    """The target probabilities, refused when a row's sum to more than 1."""
    sums = probs.sum(axis=1)
    over = np.flatnonzero(sums > 1 + 1e-6)
    if over.size:
        raise OpeInputError(f"{policy_path}: the target probabilities of row {int(over[0])} sum to {sums[over[0]]:.3f} (> 1)")
    return probs


def evaluate_logs(
    path: str | Path,
    columns: Columns,
    policy_path: str | Path | dict,
    reward_model: str = "boosting",
    clip: float | None = None,
    switch_tau: float | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    min_ess: float = 100.0,
) -> OpeReport:
    """POLICY_PATH: a policy file, or a policy already built (`decisions_policy`)."""
    policy, policy_path = _target(policy_path)
    logs, rejected, rejected_count = read_logs(path, columns)
    if logs.empty:
        raise OpeInputError(f"{path}: no readable logged rows" + (f" (first: {rejected[0]})" if rejected else ""))
    actions = sorted(set(logs["action"]))
    probs = _at_most_one(target_probabilities(policy, logs, actions, str(policy_path)), policy_path)
    support_known = policy.get("exploration") == "uniform"
    logged = _logged(logs, columns, actions, probs, reward_model, seed, support_known)
    options: dict[str, Any] = dict(clip=clip, switch_tau=switch_tau, bootstrap=bootstrap, seed=seed, min_ess=min_ess)
    report = OpeReport(
        logs=str(path),
        rows=len(logs),
        rejected=rejected,
        rejected_count=rejected_count,
        actions=len(actions),
        overall=estimate(logged, **options),
        policy=str(policy_path),
        reward_model=reward_model,
        support_known=support_known,
    )
    for name in columns.segments:
        report.segments[name] = by_segment(logged, logs[f"segment:{name}"].tolist(), **options)
    return report


def columns_from(
    reward: str, propensity: str, action: str, slot: str | None, group: str | None, features: Sequence[str], segments: Sequence[str]
) -> Columns:
    return Columns(
        reward=reward, propensity=propensity, action=action, slot=slot, group=group, features=tuple(features), segments=tuple(segments)
    )
