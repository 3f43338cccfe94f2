"""Strategists annotate imported user states with the expected next action (the review app's Ground truth
tab), two per state; a state goes to a third person when the two disagree, or when they agree with each
other but not with the contact policy.  Their agreement is reported per field with intervals, and the
settled states become scenarios whose `annotated` action is the strategists' consensus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from chainjudge.core.schema import Estimate
from chainjudge.core.store import Store
from chainjudge.packs.cep.scenario import ExpectedAction, Scenario, UserState
from chainjudge.packs.cep.state_tables import StateTables

FIELDS = ("action", "channel", "send_window", "content_language", "offer")
PER_STATE = 2


def register(store: Store, scenarios: Sequence[Scenario]) -> int:
    """Put states up for annotation (their policy-derived action travels with them). Returns how many are new."""
    return StateTables(store).save_states([(s.user.id, s.origin, s.model_dump_json()) for s in scenarios])


def _key(action: ExpectedAction) -> tuple:
    return action.action, action.channel if action.action == "send" else None


def strategist_annotations(store: Store) -> dict[str, dict[str, ExpectedAction]]:
    """state id -> annotator -> their newest expected action."""
    result: dict[str, dict[str, ExpectedAction]] = {}
    for state_id, annotator, data in StateTables(store).state_annotations():
        result.setdefault(state_id, {})[annotator] = ExpectedAction.model_validate_json(data)
    return result


def consensus(given: dict[str, ExpectedAction]) -> ExpectedAction | None:
    """The action at least two annotators agree on (action and, for a send, channel); None without one."""
    if not given:
        return None
    key, votes = Counter(_key(a) for a in given.values()).most_common(1)[0]
    if votes < 2:
        return None
    return next(a for a in given.values() if _key(a) == key)


def wanted(scenario: Scenario, given: dict[str, ExpectedAction]) -> int:
    """How many annotations the state should have: two, or three when the two disagree with each other or,
    agreeing, with the policy's derivation."""
    if len(given) < PER_STATE:
        return PER_STATE
    agreed = consensus(given)
    policy = scenario.expected
    if agreed is None or (policy is not None and _key(agreed) != _key(policy)):
        return PER_STATE + 1
    return len(given)


def next_state(store: Store, annotator: str) -> tuple[Scenario, dict[str, ExpectedAction]] | None:
    """The first state that still needs an annotation this annotator has not given, with those given."""
    given = strategist_annotations(store)
    for state_id, _, data in StateTables(store).states():
        mine = given.get(state_id, {})
        scenario = Scenario.model_validate_json(data)
        if annotator not in mine and len(mine) < wanted(scenario, mine):
            return scenario, mine
    return None


def record(store: Store, state_id: str, annotator: str, action: ExpectedAction) -> None:
    StateTables(store).add_state_annotation(state_id, annotator, action.model_dump_json())


def settled(store: Store) -> list[Scenario]:
    """States whose strategists reached a consensus and need no one else, as scenarios with `annotated`."""
    given = strategist_annotations(store)
    out = []
    for state_id, _, data in StateTables(store).states():
        scenario, mine = Scenario.model_validate_json(data), given.get(state_id, {})
        agreed = consensus(mine)
        if agreed is not None and len(mine) >= wanted(scenario, mine):
            out.append(scenario.model_copy(update={"annotated": agreed, "annotated_by": "strategists:" + ",".join(sorted(mine))}))
    return out


def _alpha(codes: np.ndarray) -> float | None:
    from chainjudge.analysis.stats import krippendorff_alpha

    return krippendorff_alpha(codes, "nominal")


def field_agreement(store: Store, bootstrap: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Per field: Krippendorff's alpha among strategists (units: states with two or more annotations) with a
    bootstrap 95% interval over states, the raw agreement of the first two annotations, and the agreement
    two annotators would reach by chance given how often each value is chosen (the trivial baseline)."""
    given = {k: v for k, v in strategist_annotations(store).items() if len(v) >= 2}
    people = sorted({a for v in given.values() for a in v})
    result = {}
    for field in FIELDS:
        values = {s: {a: str(getattr(e, field)) for a, e in v.items()} for s, v in given.items()}
        vocabulary = sorted({x for v in values.values() for x in v.values()})
        code = {x: i for i, x in enumerate(vocabulary)}
        codes = np.full((len(people), len(values)), np.nan)
        for column, per in enumerate(values.values()):
            for a, x in per.items():
                codes[people.index(a), column] = code[x]
        alpha = _alpha(codes) if len(values) >= 2 else None
        rng, samples = np.random.default_rng(seed), []
        for _ in range(bootstrap if alpha is not None else 0):
            picked = codes[:, rng.integers(0, codes.shape[1], codes.shape[1])]
            value = _alpha(picked)
            if value is not None and not np.isnan(value):
                samples.append(value)
        firsts = [list(v.values())[:2] for v in values.values()]
        observed = sum(a == b for a, b in firsts) / len(firsts) if firsts else None
        shares = Counter(x for pair in firsts for x in pair)
        total = sum(shares.values())
        chance = sum((n / total) ** 2 for n in shares.values()) if total else None
        interval = (float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))) if samples else (None, None)
        result[field] = {
            "alpha": Estimate(value=alpha, low=interval[0], high=interval[1], n=len(values)),
            "observed": observed,
            "chance": chance,
        }
    return result


def describe(user: UserState) -> str:
    """One user state as a strategist reads it (plain text, not JSON)."""
    consented = [c for c, s in user.channels.items() if s.consent and s.reachable]
    touch = f"last touched on {user.last_touch.channel} at {user.last_touch.at:%Y-%m-%d %H:%M} UTC" if user.last_touch else "never touched"
    lines = [
        f"Customer {user.id} in {user.market} ({user.timezone}); now {user.now:%Y-%m-%d %H:%M} UTC",
        f"Lifecycle: {user.lifecycle}, {user.days_since_active} days since active; value: {user.ltv_segment}",
        f"{touch}; sent {user.sent_today} today, {user.sent_this_week} this week",
        f"Reachable with consent on: {', '.join(consented) or 'no channel'}",
        f"Speaks: {', '.join(user.languages)}; devices: {', '.join(d.platform for d in user.devices) or 'unknown'}",
        f"Campaign: {user.campaign.name} ({user.campaign.kind}), content in {user.campaign.content_language}"
        f" (available: {', '.join(user.campaign.available_languages) or '-'})",
    ]
    flags = [
        name
        for name, on in (
            ("unsubscribed from everything", user.global_unsubscribe),
            ("complained recently", user.recent_complaint),
            ("already converted", user.converted_in_window),
            ("shared account", user.shared_account),
        )
        if on
    ]
    if flags:
        lines.append("Careful: " + ", ".join(flags))
    return "\n".join(lines)
