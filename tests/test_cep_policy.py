"""The contact policy, rule by rule, on hand-written user states (every platform constraint included)."""

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from chainjudge.packs.cep.policy import expected_action, load_policy
from chainjudge.packs.cep.scenario import UserState

POLICY = load_policy()


def user(**changes) -> UserState:
    base = dict(
        id="u1",
        market="TH",
        timezone="Asia/Bangkok",
        now=datetime(2026, 9, 9, 3, 0, tzinfo=timezone.utc),  # 10:00 in Bangkok
        lifecycle="active",
        days_since_active=2,
        ltv_segment="mid",
        channels={
            "line": {"consent": True, "reachable": True},
            "push": {"consent": True, "reachable": True},
            "email": {"consent": True, "reachable": True},
            "sms": {"consent": True, "reachable": True},
            "whatsapp": {"consent": False, "reachable": False},
            "in_app": {"consent": True, "reachable": True},
        },
        languages=["th"],
        campaign={"name": "9.9 sale", "kind": "sale", "content_language": "th", "available_languages": ["th", "en"]},
    )
    for key, value in changes.items():
        if key == "channel":
            for name, state in value.items():
                base["channels"] = {**base["channels"], name: state}
        elif key == "campaign_":
            base["campaign"] = {**base["campaign"], **value}
        else:
            base[key] = value
    return UserState.model_validate(base)


def test_default_sends_on_the_markets_first_channel():
    action = expected_action(user(), POLICY)
    assert (action.action, action.channel, action.content_language, action.offer) == ("send", "line", "th", None)
    assert action.send_window == ("10:00", "21:00")


@pytest.mark.parametrize(
    "flag,reason", [("global_unsubscribe", "unsubscribed"), ("recent_complaint", "complaint"), ("converted_in_window", "converted")]
)
def test_suppression_first(flag, reason):
    action = expected_action(user(**{flag: True}), POLICY)
    assert action.action == "suppress" and reason in action.reason and action.rules == ["suppression"]


def test_transactional_is_not_suppressed_by_conversion_and_ignores_caps():
    action = expected_action(user(converted_in_window=True, sent_today=5, sent_this_week=9, campaign_={"kind": "transactional"}), POLICY)
    assert action.action == "send"


def test_line_only_for_friends_and_in_markets_that_offer_it():
    assert expected_action(user(channel={"line": {"consent": True, "reachable": False}}), POLICY).channel == "push"
    vn = user(
        market="VN", timezone="Asia/Ho_Chi_Minh", languages=["vi"], campaign_={"content_language": "vi", "available_languages": ["vi"]}
    )
    assert expected_action(vn, POLICY).channel == "push"  # VN's preference has no LINE at all
    my = user(
        market="MY",
        timezone="Asia/Kuala_Lumpur",
        channel={"push": {"consent": True, "reachable": False}, "in_app": {"consent": False, "reachable": False}},
    )
    assert expected_action(my, POLICY).channel == "email"  # LINE consent exists but LINE is not offered in MY


def test_push_needs_a_token():
    action = expected_action(
        user(channel={"line": {"consent": False, "reachable": True}, "push": {"consent": True, "reachable": False}}), POLICY
    )
    assert action.channel == "in_app"


def test_whatsapp_outside_the_window_needs_an_approved_template():
    base = dict(market="ID", timezone="Asia/Jakarta", languages=["id"], campaign_={"content_language": "id", "available_languages": ["id"]})
    closed = user(**base, channel={"whatsapp": {"consent": True, "reachable": True, "window_open": False}})
    assert expected_action(closed, POLICY).channel == "push"
    opened = user(**base, channel={"whatsapp": {"consent": True, "reachable": True, "window_open": True}})
    assert expected_action(opened, POLICY).channel == "whatsapp"
    approved = user(
        market="ID",
        timezone="Asia/Jakarta",
        languages=["id"],
        campaign_={"content_language": "id", "available_languages": ["id"], "whatsapp_template_approved": True},
        channel={"whatsapp": {"consent": True, "reachable": True}},
    )
    assert expected_action(approved, POLICY).channel == "whatsapp"


def test_length_limits_move_a_long_message_off_sms_and_push():
    only_sms_push_email = user(
        channel={"line": {"consent": False, "reachable": False}, "in_app": {"consent": False, "reachable": False}},
        campaign_={"message_length": 400},
    )
    assert expected_action(only_sms_push_email, POLICY).channel == "email"
    nothing_fits = user(
        channel={
            "line": {"consent": False, "reachable": False},
            "in_app": {"consent": False, "reachable": False},
            "email": {"consent": False, "reachable": True},
        },
        campaign_={"message_length": 400},
    )
    assert expected_action(nothing_fits, POLICY).action == "suppress"


def test_no_consented_channel_suppresses():
    none = {c: {"consent": False, "reachable": True} for c in ("line", "push", "email", "sms", "in_app", "whatsapp")}
    action = expected_action(user(channel=none), POLICY)
    assert action.action == "suppress" and action.rules == ["channel"]


@pytest.mark.parametrize("utc_hour,utc_minute,expected", [(13, 59, "send"), (14, 0, "wait"), (0, 59, "wait"), (1, 0, "send")])
def test_quiet_hours_in_local_time_around_the_edges(utc_hour, utc_minute, expected):
    # Bangkok is UTC+7: 13:59 UTC = 20:59 local (send), 14:00 = 21:00 (quiet), 00:59 = 07:59 (quiet), 01:00 = 08:00 (send)
    action = expected_action(user(now=datetime(2026, 9, 9, utc_hour, utc_minute, tzinfo=timezone.utc)), POLICY)
    assert action.action == expected
    if expected == "wait":
        assert action.send_window == ("08:00", "21:00") and action.channel == "line"


def test_same_utc_moment_differs_by_time_zone():
    moment = datetime(2026, 9, 9, 13, 30, tzinfo=timezone.utc)  # 20:30 Bangkok, 21:30 Manila / Singapore
    assert expected_action(user(now=moment), POLICY).action == "send"
    ph = user(now=moment, market="PH", timezone="Asia/Manila", languages=["en"], campaign_={"content_language": "en"})
    assert expected_action(ph, POLICY).action == "wait"
    sg = user(now=moment, market="SG", timezone="Asia/Singapore", languages=["en"], campaign_={"content_language": "en"})
    assert expected_action(sg, POLICY).action == "send"  # SG's quiet hours start at 22:00


def test_frequency_caps():
    assert expected_action(user(sent_today=2, sent_this_week=2), POLICY).action == "wait"
    assert expected_action(user(sent_today=1, sent_this_week=5), POLICY).action == "suppress"


def test_language_match():
    english_trigger = user(languages=["th"], campaign_={"content_language": "en", "available_languages": ["en", "th"]})
    assert expected_action(english_trigger, POLICY).content_language == "th"
    unreadable = user(languages=["th"], campaign_={"content_language": "en", "available_languages": ["en"]})
    assert expected_action(unreadable, POLICY).action == "suppress"
    multi = user(
        languages=["ms", "en"],
        market="MY",
        timezone="Asia/Kuala_Lumpur",
        campaign_={"content_language": "en", "available_languages": ["en"]},
    )
    assert expected_action(multi, POLICY).content_language == "en"


@pytest.mark.parametrize("segment,offer", [("vip", "WINBACK_25"), ("high", "WINBACK_20"), ("mid", "WINBACK_10"), ("low", None)])
def test_winback_offer_by_ltv_and_recency(segment, offer):
    lapsed = user(lifecycle="lapsed", days_since_active=45, ltv_segment=segment)
    assert expected_action(lapsed, POLICY).offer == offer
    recent = user(lifecycle="lapsed", days_since_active=10, ltv_segment=segment)
    assert expected_action(recent, POLICY).offer is None


def test_long_churned_users_are_not_resurrected():
    assert expected_action(user(lifecycle="churned", days_since_active=400), POLICY).action == "suppress"


def test_loader_rejects_contradictions_unless_declared():
    with pytest.raises(ValidationError, match="last_touch.channel whatsapp has no consent"):
        user(last_touch={"channel": "whatsapp", "at": datetime(2026, 9, 8, tzinfo=timezone.utc)})
    declared = user(
        last_touch={"channel": "whatsapp", "at": datetime(2026, 9, 8, tzinfo=timezone.utc)}, perturbations=["conflicting_signals"]
    )
    assert expected_action(declared, POLICY).channel == "line"  # consent, not the last touch, decides
    with pytest.raises(ValidationError, match="sent_today"):
        user(sent_today=3, sent_this_week=1)
    with pytest.raises(ValidationError, match="market"):
        user(market="JP")
