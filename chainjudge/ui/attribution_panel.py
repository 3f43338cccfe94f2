"""The review app's Attribution tab: a failed multi-agent trace in per-agent lanes (one column per
agent, one row per step, in order), the attributions recorded so far (the benchmark's annotation, a
reviewer's earlier answer), the first step a stored run's judges failed, and a form to confirm or correct
who made the decisive mistake and at which step.  The form starts empty (no anchor recorded as a choice);
the answer is a new human label row (criterion `attribution`) that `chainjudge attribute` scores against.
Trace text is shown as text, never as Markdown.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from chainjudge.core.schema import Trace
from chainjudge.core.store import Store
from chainjudge.review import attribution

WINDOW = 40  # steps shown at once: long logs page through


def _candidates(store: Store, run: str | None) -> list[str]:
    """Annotated traces first, then the multi-agent traces of the chosen run (at most 500 looked at)."""
    ids = attribution.annotated_traces(store)
    if run:
        seen = set(ids)
        for trace_id in sorted({j.trace_id for j in store.judgments(run)})[:500]:
            trace = store.get_trace(trace_id, run=run)
            if trace_id not in seen and trace is not None and attribution.is_multi_agent(trace):
                ids.append(trace_id)
    return ids


def attribution_tab(store: Store, reviewer: str, still_signed_in: Callable[[], bool]) -> None:
    runs = [r.name for r in store.runs()]
    c1, c2 = st.columns([1, 2])
    picked = c1.selectbox("Run (its judges' first failing step; its multi-agent traces)", ["(none)", *runs], key="attr_run")
    run = None if picked == "(none)" else picked
    ids = _candidates(store, run)
    if not ids:
        st.info("No multi-agent trace to attribute: import annotated logs (chainjudge labels import FOLDER) or pick a run.")
        return
    trace_id = c2.selectbox("Trace", ids, key="attr_trace")
    trace = store.get_trace(trace_id, run=run) or store.get_trace(trace_id)
    if trace is None:
        st.warning(f"The trace {trace_id} is not in the store (only its labels are).")
        return
    names, placed = attribution.lanes(trace)
    _recorded(store, trace_id, run)
    _lanes(names, placed)
    _attribution_form(store, trace, reviewer, len(placed), still_signed_in)


def _recorded(store: Store, trace_id: str, run: str | None) -> None:
    """The attributions recorded so far (as text), and where the run's judges first failed the trace."""
    recorded = attribution.attributions(store, trace_id)
    st.markdown("**Attributions recorded so far** (the newest counts)")
    for label in recorded:
        where = label.step_ref if label.step_ref is not None else label.step_index
        st.text(f"{label.annotator} ({label.kind}): {label.value} at step {where}" + (f" \u2014 {label.note}" if label.note else ""))
    if not recorded:
        st.caption("none yet")
    if run:
        failing = sorted((j.step_index for j in store.judgments(run) if j.trace_id == trace_id and j.passed is False))
        st.text(f"first step the run's judges failed: {failing[0]}" if failing else "the run's judges failed no step of this trace")


def _lanes(names: list[str], placed: list) -> None:
    """The steps in one lane per agent, a window at a time."""
    start = int(st.number_input("Show steps from", min_value=0, max_value=max(0, len(placed) - 1), value=0, step=WINDOW, key="attr_from"))
    header = st.columns(len(names))
    for column, name in zip(header, names, strict=True):
        column.text(name)  # the lane's agent, as text: agent names come from the trace
    for step in placed[start : start + WINDOW]:
        cells = st.columns(len(names))
        cells[step.lane].text(f"step {step.index} \u00b7 {step.kind}\n{step.text or '(empty)'}")
    if start + WINDOW < len(placed):
        st.caption(f"steps {start}-{start + WINDOW - 1} of {len(placed)}: raise 'Show steps from' for the rest")


def _attribution_form(store: Store, trace: Trace, reviewer: str, steps: int, still_signed_in: Callable[[], bool]) -> None:
    """The reviewer's attribution: the responsible agent and the decisive step, saved only while signed in."""
    agents = attribution.responsible_candidates(trace)
    with st.form("attribute", clear_on_submit=True):
        agent = st.selectbox("Responsible agent", agents, index=None, key="attr_agent")
        step_index = st.number_input("Decisive step", min_value=0, max_value=max(0, steps - 1), value=None, step=1, key="attr_step")
        note = st.text_input("Why", key="attr_note")
        if st.form_submit_button("Save attribution"):
            if agent is None or step_index is None:
                st.error("Pick the agent and the step first: nothing was saved.")
                return
            if not still_signed_in():
                return
            try:
                attribution.record(store, trace, reviewer, agent, int(step_index), note)
            except attribution.AttributionRejected as exc:
                st.error(str(exc))
                return
            st.session_state["saved"] = f"saved: {agent} at step {int(step_index)} for {trace.id}"
            st.rerun()
