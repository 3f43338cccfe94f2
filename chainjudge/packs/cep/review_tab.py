"""The review app's Ground truth tab: a strategist reads one imported user state (as text, not JSON) and
records the expected next action with a reason; two strategists per state, a third when they disagree
or agree against the contact policy; strategist agreement per field, with intervals and the chance
baseline.  Everything a strategist or the state carries is shown as text, never rendered."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from chainjudge.analysis.figures import format_estimate
from chainjudge.core.plugins import ReviewTab
from chainjudge.core.store import Store
from chainjudge.packs.cep import annotation
from chainjudge.packs.cep.scenario import ExpectedAction
from chainjudge.packs.cep.state_tables import StateTables

CHANNELS = ["(none)", "push", "email", "in_app", "sms", "line", "whatsapp"]


def ground_truth_tab(store: Store, annotator: str, still_signed_in: Callable[[], bool]) -> None:
    """The tab the CEP pack offers the review app (`CepPack.review_tabs`)."""
    if not StateTables(store).states():
        st.info("No states to annotate. Import some: chainjudge scenarios import EXPORT --mapping MAP --annotate")
        return
    found = annotation.next_state(store, annotator)
    if found is None:
        st.success("No state needs your annotation now.")
    else:
        _annotate(store, annotator, still_signed_in, *found)
    _agreement(store)


def _annotate(store: Store, annotator: str, still_signed_in: Callable[[], bool], scenario, given: dict) -> None:
    user = scenario.user
    st.subheader(f"State {user.id}")
    st.text(annotation.describe(user))
    if len(given) >= 2:  # a third opinion: show what the others and the policy said
        st.warning("People disagreed on this state, or agreed against the contact policy: your annotation settles it.")
        for who, action in given.items():
            st.text(f"{who}: {action.action} {action.channel or ''} - {action.reason}")
        if scenario.expected is not None:
            st.text(f"contact policy: {scenario.expected.action} {scenario.expected.channel or ''} - {scenario.expected.reason}")
    key = user.id
    with st.form(f"gt-{key}"):
        action = st.radio("Next action", ["send", "wait", "suppress"], index=None, key=f"gt-action-{key}")
        channel = st.selectbox("Channel", CHANNELS, key=f"gt-channel-{key}")
        window = st.text_input("Send window (local time, HH:MM-HH:MM)", key=f"gt-window-{key}")
        language = st.text_input("Content language (th, en, id, vi ...)", key=f"gt-language-{key}")
        offer = st.text_input("Offer (empty: none)", key=f"gt-offer-{key}")
        reason = st.text_area("Reason", key=f"gt-reason-{key}")
        if st.form_submit_button("Save expected action"):
            if action is None or not reason.strip():
                st.error("Choose the next action and say why.")
                return
            parts = [p.strip() for p in window.split("-", 1)] if window.strip() else None
            try:
                expected = ExpectedAction(
                    action=action,
                    channel=None if channel == "(none)" else channel,
                    send_window=tuple(parts) if parts and len(parts) == 2 else None,
                    content_language=language.strip().lower() or None,
                    offer=offer.strip() or None,
                    reason=reason.strip(),
                )
            except ValidationError as exc:
                st.error(f"Not saved: {exc.errors()[0]['msg']}")
                return
            if not still_signed_in():  # checked again right before the write: a revoked session saves nothing
                return
            annotation.record(store, user.id, annotator, expected)
            st.rerun()


def _agreement(store: Store) -> None:
    figures = annotation.field_agreement(store, bootstrap=300)
    rows = [
        {
            "field": field,
            "states": f["alpha"].n,
            "Krippendorff's alpha (95% interval)": format_estimate(f["alpha"], 10, 2),
            "agreement (first two)": f["observed"],
            "by chance": f["chance"],
        }
        for field, f in figures.items()
    ]
    st.caption("Agreement between strategists (states with two or more annotations)")
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)


TABS = [ReviewTab("Ground truth", ground_truth_tab)]
