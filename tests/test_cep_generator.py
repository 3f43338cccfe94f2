"""Scenario generation: pairwise coverage, adversarial variants that say what they carry, and
metamorphic relations of the policy (changes that must not change a decision)."""

import itertools
from datetime import timedelta

import pytest

from chainjudge.packs.cep.generator import DIMENSIONS, generate, pairwise
from chainjudge.packs.cep.policy import expected_action, load_policy
from chainjudge.packs.cep.scenario import PERTURBATIONS

POLICY = load_policy()
SCENARIOS = generate()


def test_every_pair_of_dimension_values_is_covered():
    rows = pairwise(DIMENSIONS, seed=7)
    for a, b in itertools.combinations(DIMENSIONS, 2):
        seen = {(r[a], r[b]) for r in rows}
        assert seen == set(itertools.product(DIMENSIONS[a], DIMENSIONS[b])), (a, b)
    assert len(rows) < 60  # far fewer than the full product (6*5*4*4*5*5 = 12,000)


def test_generation_is_deterministic_and_a_third_adversarial():
    again = generate()
    assert [s.model_dump() for s in again] == [s.model_dump() for s in SCENARIOS]
    adversarial = [s for s in SCENARIOS if s.user.perturbations]
    assert len(SCENARIOS) >= 60 and len(adversarial) * 3 >= len(SCENARIOS)
    assert {p for s in adversarial for p in s.user.perturbations} == set(PERTURBATIONS)
    assert {s.expected.action for s in SCENARIOS} == {"send", "wait", "suppress"}


def test_conflicting_signals_are_declared_not_silently_fixed():
    conflicting = [s for s in SCENARIOS if "conflicting_signals" in s.user.perturbations]
    assert conflicting and all(s.user.last_touch.channel == "whatsapp" and not s.user.channels["whatsapp"].consent for s in conflicting)
    assert all(s.expected.channel != "whatsapp" for s in conflicting)


def _translated(user, language):
    data = user.model_dump()
    data["campaign"]["content_language"] = language
    return type(user).model_validate(data)


@pytest.mark.parametrize(
    "scenario", [s for s in SCENARIOS if s.expected.action == "suppress" and "language" not in s.expected.rules], ids=lambda s: s.user.id
)
def test_translating_the_trigger_never_changes_a_suppression(scenario):
    for language in ("en", "th", "id", "vi", "zh"):
        assert expected_action(_translated(scenario.user, language), POLICY).action == "suppress"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.user.id)
def test_the_same_moment_a_day_later_gives_the_same_decision(scenario):
    data = scenario.user.model_dump()
    data["now"] = scenario.user.now + timedelta(days=1)
    later = expected_action(type(scenario.user).model_validate(data), POLICY)
    assert (later.action, later.channel, later.offer) == (scenario.expected.action, scenario.expected.channel, scenario.expected.offer)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.expected.action == "send"], ids=lambda s: s.user.id)
def test_consent_on_a_less_preferred_channel_does_not_move_the_decision(scenario):
    preference = POLICY.channel_preference[scenario.user.market]
    chosen = preference.index(scenario.expected.channel)
    data = scenario.user.model_dump()
    for channel in preference[chosen + 1 :]:
        data["channels"][channel] = {"consent": True, "reachable": True, "window_open": True}
    assert expected_action(type(scenario.user).model_validate(data), POLICY).channel == scenario.expected.channel
