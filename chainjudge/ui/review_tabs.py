"""The Review and Queue tabs: claim the next item, read its trace and every judge's verdict as text, and
adjudicate; or browse the queue by kind, criterion, run, rubric, segment and failure mode."""

from __future__ import annotations

import os

import altair as alt
import pandas as pd
import streamlit as st

from chainjudge.core.schema import ItemContext
from chainjudge.core.store import Store
from chainjudge.review import queue as review
from chainjudge.review import sessions
from chainjudge.ui.session import sign_out


def queue_tab(store: Store) -> None:
    counts = review.queue_counts(store)
    if not counts:
        st.success("Nothing needs a person right now.")
        return
    chart = pd.DataFrame({"kind": list(counts), "items": list(counts.values())})
    st.altair_chart(alt.Chart(chart).mark_bar().encode(x="items:Q", y=alt.Y("kind:N", sort="-x")), use_container_width=True)
    c1, c2, c3 = st.columns(3)
    kind = c1.selectbox("Disagreement kind", ["(all)", *review.KINDS], key="f_kind")
    criterion = c2.text_input("Criterion", key="f_criterion")
    run = c3.text_input("Run", key="f_run")
    c4, c5, c6 = st.columns(3)
    rubric = c4.text_input("Rubric", key="f_rubric")
    segment = c5.text_input("Segment", key="f_segment")
    mode = c6.text_input("Failure mode (FM-...)", key="f_mode")
    page = st.number_input("Page", min_value=0, value=0, step=1, key="f_page")
    items = review.queue_page(
        store,
        int(page),
        50,
        kind=None if kind == "(all)" else kind,
        criterion=criterion or None,
        run=run or None,
        rubric=rubric or None,
        segment=segment or None,
        mode=mode or None,
    )
    st.dataframe(pd.DataFrame([i.model_dump() for i in items]), use_container_width=True, hide_index=True)


def review_tab(store: Store, reviewer: str) -> None:
    item = st.session_state.get("item")
    if st.button("Next item", key="next", type="primary") or item is None:
        item = review.claim_next(store, reviewer)
        st.session_state["item"] = item
    if item is None:
        st.success("The queue is empty.")
        return
    context = review.item_context(store, item)
    st.subheader(f"{item.kind.replace('_', ' ')} · {item.severity}")
    st.text(f"criterion {item.criterion_id} · run {item.run} · trace {item.trace_id} · step {item.step_ref}\n{item.detail}")
    left, right = st.columns([3, 2])
    with left:
        show_trace(context.trace, item.step_ref)
    with right:
        show_verdicts(context)
        if item.kind == "abstained":
            show_alike(store, context, item)
        adjudication_form(store, item, reviewer, context.options)
    if st.session_state.get("saved"):
        st.toast(st.session_state.pop("saved"))


def show_trace(trace, focus_ref: str) -> None:
    """The whole trace as text, the step to judge open, the others folded; the user state beside."""
    if trace is None:
        st.warning("The trace is not in the store.")
        return
    for step in trace.steps:
        text = step.render()
        if step.ref == focus_ref:
            st.markdown(f"**▶ step {step.index} · {step.kind.value}** (the one to judge)")
            st.text(text or "(empty)")
        else:
            with st.expander(f"step {step.index} · {step.kind.value}"):
                st.text(text)
    if trace.metadata:
        with st.expander("User state / context"):
            st.json(trace.metadata)


def show_verdicts(context: ItemContext) -> None:
    """Every judge's label, rationale and evidence, and the labels people already gave (as text)."""
    st.markdown("**Judges**")
    for j in context.judgments:
        verdict = j.verdict
        lines = [f"{j.judge} ({j.run}): {verdict.label if verdict else 'error'}", f"  {verdict.rationale if verdict else j.error}"]
        if verdict and verdict.evidence:
            lines.append(f"  evidence: \u201c{verdict.evidence}\u201d")
        if j.flags:
            lines.append(f"  flags: {', '.join(j.flags)}")
        st.text("\n".join(lines))
    st.markdown("**Labels already given**")
    for label in context.labels or []:
        st.text(f"{label.annotator} ({label.kind}): {label.value}" + (f" \u2014 {label.note}" if label.note else ""))
    if not context.labels:
        st.caption("none yet")


def show_alike(store: Store, context: ItemContext, item) -> None:
    """For a verifier's abstention: the labelled tune steps it sees as most alike, with people's labels."""
    from chainjudge.workflows.verifier import alike_tune_steps

    tag = next((j.judge.split(":", 1)[1] for j in context.judgments if j.judge.startswith("verifier:")), None)
    verifier = store.verifier(*tag.split("@", 1)) if tag and "@" in tag else None  # the version that abstained
    if verifier is None or context.trace is None:
        return
    st.markdown("**Labelled tune steps the verifier sees as most alike**")
    for alike in alike_tune_steps(store, verifier, context.trace, item.step_ref):
        st.text(f"{alike.trace_id} step {alike.step_ref}: people said {alike.label} (distance {alike.distance:.2f})")


def adjudication_form(store: Store, item, reviewer: str, options: list[str]) -> None:
    with st.form("adjudicate", clear_on_submit=True):
        # nothing pre-selected: a default would record a label nobody chose (anchoring the reference)
        choice = st.radio("Your label", options, index=None, horizontal=True, key="choice")
        note = st.text_input("Note (why)", key="note")
        if st.form_submit_button("Save and next"):
            if choice is None:
                st.error("Pick a label first: nothing was saved.")
                return
            problem = sessions.still_valid(
                store, st.session_state["credential"], os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None, sessions.now()
            )
            if problem:  # checked again right before the write
                sign_out(problem)
                st.rerun()
            try:
                review.adjudicate(store, item, reviewer, choice, note)
                st.session_state["saved"] = f"saved {choice} for {item.trace_id} step {item.step_ref}"
            except review.LeaseLost as exc:
                st.session_state["saved"] = str(exc)
            st.session_state["item"] = review.claim_next(store, reviewer)
            st.rerun()
