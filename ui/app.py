"""chainjudge review app: people adjudicate what the machine cannot settle.

Started by `chainjudge review`, which decides what the app may read (CHAINJUDGE_DB, CHAINJUDGE_CATALOGUE,
CHAINJUDGE_SPACES, CHAINJUDGE_SCENARIOS): the browser picks among those files by name and never gives a
path.  Reads and writes only through the chainjudge library, with one store connection per browser
session.  Reviewers sign in with a personal token (or the shared CHAINJUDGE_REVIEW_TOKEN); nothing is
shown before.  Trace text, rationales and notes are hostile input: shown as text, never as Markdown.
"""

from __future__ import annotations

import os
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from chainjudge import review, reviewers
from chainjudge.store import Store, resolve_db_path

st.set_page_config(page_title="chainjudge review", layout="wide")


def session_store() -> Store:
    """This browser session's own connection (a shared one interleaved sessions' transactions)."""
    if "store" not in st.session_state:
        st.session_state["store"] = Store(resolve_db_path(None).resolve())
    return st.session_state["store"]


def allowed_files(variable: str) -> list[Path]:
    """The files `chainjudge review` allowed for this purpose (never a path from the browser)."""
    return [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p]


def sign_in(store: Store) -> str | None:
    if st.session_state.get("reviewer"):
        return st.session_state["reviewer"]
    shared = os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None
    personal = store.uses_personal_tokens()
    st.title("chainjudge review")
    with st.form("sign-in"):
        token = st.text_input("Access token", type="password", key="token") if (shared or personal) else ""
        name = st.text_input("Your name" + (" (with the shared token only)" if personal else ""), key="name") \
            if (shared or not personal) else ""
        if st.form_submit_button("Sign in"):
            annotator, problem = reviewers.identify(store, token, name, shared)
            if problem:
                st.error(problem)
            else:
                st.session_state["reviewer"] = annotator
                st.rerun()
    return None


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
    items = review.queue_page(store, int(page), 50, kind=None if kind == "(all)" else kind, criterion=criterion or None,
                              run=run or None, rubric=rubric or None, segment=segment or None, mode=mode or None)
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
        trace = context["trace"]
        if trace is None:
            st.warning("The trace is not in the store.")
        else:
            for step in trace.steps:
                text = step.render()
                if step.ref == item.step_ref:
                    st.markdown(f"**▶ step {step.index} · {step.kind.value}** (the one to judge)")
                    st.text(text or "(empty)")
                else:
                    with st.expander(f"step {step.index} · {step.kind.value}"):
                        st.text(text)
            if trace.metadata:
                with st.expander("User state / context"):
                    st.json(trace.metadata)
    with right:
        st.markdown("**Judges**")
        for j in context["judgments"]:
            verdict = j.verdict
            lines = [f"{j.judge} ({j.run}): {verdict.label if verdict else 'error'}",
                     f"  {verdict.rationale if verdict else j.error}"]
            if verdict and verdict.evidence:
                lines.append(f"  evidence: “{verdict.evidence}”")
            if j.flags:
                lines.append(f"  flags: {', '.join(j.flags)}")
            st.text("\n".join(lines))
        st.markdown("**Labels already given**")
        for label in context["labels"] or []:
            st.text(f"{label.annotator} ({label.kind}): {label.value}" + (f" — {label.note}" if label.note else ""))
        if not context["labels"]:
            st.caption("none yet")
        with st.form("adjudicate", clear_on_submit=True):
            # nothing pre-selected: a default would record a label nobody chose (anchoring the reference)
            choice = st.radio("Your label", context["options"], index=None, horizontal=True, key="choice")
            note = st.text_input("Note (why)", key="note")
            if st.form_submit_button("Save and next"):
                if choice is None:
                    st.error("Pick a label first: nothing was saved.")
                    return
                try:
                    review.adjudicate(store, item, reviewer, choice, note)
                    st.session_state["saved"] = f"saved {choice} for {item.trace_id} step {item.step_ref}"
                except review.LeaseLost as exc:
                    st.session_state["saved"] = str(exc)
                st.session_state["item"] = review.claim_next(store, reviewer)
                st.rerun()
    if st.session_state.get("saved"):
        st.toast(st.session_state.pop("saved"))


def calibration_tab(store: Store) -> None:
    from chainjudge.calibrate import agreement

    humans = sorted({a for a, kind, _, _ in store.label_summary() if kind in ("human", "ground-truth")})
    rows, confusions = [], {}
    for run in store.runs():
        for summary in store.criterion_summaries(run.name):
            reference = store.labels(criterion=summary.criterion_id, annotators=humans) if humans else []
            if not reference:
                continue
            candidate = [review_label for review_label in _run_labels(store, run.name, summary.criterion_id)]
            if not candidate:
                continue
            r = agreement(reference, candidate, "people", run.name, summary.criterion_id, bootstrap=300)
            rows.append({"run": run.name, "criterion": summary.criterion_id, "kappa": r.cohen_kappa.value,
                         "low": r.cohen_kappa.low, "high": r.cohen_kappa.high, "step accuracy": r.step_accuracy.value,
                         "trust": r.trust, "items": r.paired_items})
            confusions[(run.name, summary.criterion_id)] = (r.labels, r.confusion)
    if not rows:
        st.info("No human labels to compare with yet: adjudicate items or `chainjudge labels import`.")
        return
    frame = pd.DataFrame(rows)
    frame["item"] = frame["run"] + " · " + frame["criterion"]
    points = alt.Chart(frame).mark_point(filled=True, size=80).encode(x=alt.X("kappa:Q", scale=alt.Scale(domain=[-0.2, 1])), y="item:N", color="trust:N")
    bars = alt.Chart(frame).mark_rule().encode(x="low:Q", x2="high:Q", y="item:N")
    st.altair_chart(bars + points, use_container_width=True)
    st.dataframe(frame.drop(columns=["item"]), hide_index=True, use_container_width=True)
    for (run, criterion), (labels, matrix) in confusions.items():
        with st.expander(f"confusion: {run} · {criterion} (rows: people, columns: judge)"):
            st.dataframe(pd.DataFrame(matrix, index=labels, columns=labels))


def _run_labels(store: Store, run: str, criterion: str):
    from chainjudge.schema import Label

    return [Label(trace_id=j.trace_id, step_ref=j.step_ref, step_index=j.step_index, criterion=j.criterion_id,
                  value=j.verdict.label, annotator=f"run:{run}", kind="judge")
            for j in store.judgments(run) if j.criterion_id == criterion and j.verdict]


def modes_tab(store: Store) -> None:
    from chainjudge.modes import load_catalogue

    choices = allowed_files("CHAINJUDGE_CATALOGUE")
    if not choices:
        st.info("No failure-mode catalogue given: chainjudge review --catalogue FILE")
        return
    path = choices[0]
    catalogue = load_catalogue(path)
    if not catalogue.modes:
        st.info(f"No failure modes in {path.name} yet: chainjudge cluster RUN")
        return
    frame = pd.DataFrame([{"mode": m.id, "name": m.name, "status": m.status, "failing steps": sum(m.counts.values())} for m in catalogue.modes])
    st.altair_chart(alt.Chart(frame).mark_bar().encode(x="failing steps:Q", y=alt.Y("mode:N", sort="-x"), color="status:N", tooltip=["name"]), use_container_width=True)
    for mode in catalogue.modes:
        with st.expander(f"{mode.id} · {mode.status}"):
            st.text(mode.name)
            for e in mode.exemplars[:3]:
                st.text(f"- {e.trace_id} step {e.step_ref} ({e.criterion_id}): {e.text[:300]}")
            if st.button(f"Promote {mode.id} to the regression suite", key=f"promote-{mode.id}"):
                _promote(store, catalogue, mode.id)


def _promote(store: Store, catalogue, mode_id: str) -> None:
    from chainjudge.regress import make_case, write_case

    mode = catalogue.mode(mode_id)
    written = 0
    for exemplar in mode.exemplars[:3]:
        run, trace = store.get_run(exemplar.run), store.get_trace(exemplar.trace_id)
        if run and run.rubric and trace:
            write_case(make_case(mode.id, mode.name, exemplar, trace, run.rubric.criterion(exemplar.criterion_id), "fail"), Path("regressions"))
            written += 1
    st.success(f"{written} cases written to regressions/{mode_id}")


def runs_tab(store: Store) -> None:
    summaries = store.runs()
    if not summaries:
        st.info("No runs yet: chainjudge judge TRACES --rubric FILE")
        return
    name = st.selectbox("Run", [s.name for s in summaries], key="run_pick")
    rows = store.criterion_summaries(name)
    frame = pd.DataFrame([{"criterion": r.criterion_id, "pass rate": r.pass_rate, "errors": r.errors, "cost $": r.cost_usd, "judged": r.judgments} for r in rows])
    st.altair_chart(alt.Chart(frame).mark_bar().encode(x=alt.X("pass rate:Q", scale=alt.Scale(domain=[0, 1])), y="criterion:N"), use_container_width=True)
    st.dataframe(frame, hide_index=True, use_container_width=True)
    errors = store.error_counts(name)
    if errors:
        st.text("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))


def golive_tab(store: Store) -> None:
    from chainjudge.golive import collect, load_space

    summaries = store.runs()
    if not summaries:
        st.info("No runs yet.")
        return
    spaces = allowed_files("CHAINJUDGE_SPACES")
    if not spaces:
        st.info("No scenario space given: chainjudge review --space FILE")
        return
    name = st.selectbox("Run", [s.name for s in summaries], key="golive_run")
    space = st.selectbox("Scenario space", spaces, format_func=lambda p: p.name, key="space")
    expected = st.selectbox("Scenarios with expected actions", [None, *allowed_files("CHAINJUDGE_SCENARIOS")],
                            format_func=lambda p: "(none)" if p is None else p.name, key="expected")
    catalogues = allowed_files("CHAINJUDGE_CATALOGUE")
    evidence = collect(store, name, load_space(space), expected, catalogues[0] if catalogues else None)
    s = evidence.score
    st.metric("Go-live confidence", f"{s.score:.2f}", help=f"range {s.low:.2f}-{s.high:.2f}")
    terms = pd.DataFrame([{"term": t.name, "value": t.value, "weight": t.weight, "how": t.explanation} for t in s.terms])
    st.altair_chart(alt.Chart(terms).mark_bar().encode(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1])), y="term:N", tooltip=["how"]), use_container_width=True)
    st.dataframe(terms, hide_index=True, use_container_width=True)
    grid = evidence.space.grid
    if len(grid) >= 2:
        cells = pd.DataFrame([{grid[0]: c[0], grid[1]: c[1], "traces": n} for c, n in evidence.coverage.cells.items()])
        st.altair_chart(alt.Chart(cells).mark_rect().encode(x=f"{grid[1]}:N", y=f"{grid[0]}:N", color="traces:Q", tooltip=["traces"]), use_container_width=True)
    if evidence.coverage.open_edge_cases:
        st.warning("Open edge cases: " + ", ".join(evidence.coverage.open_edge_cases))


def main() -> None:
    store = session_store()
    reviewer = sign_in(store)
    if reviewer is None:
        st.stop()
    if "queue_ready" not in st.session_state:
        review.refresh_queue(store)
        st.session_state["queue_ready"] = True
    st.sidebar.text(f"Signed in as {reviewer}")
    if st.sidebar.button("Refresh queue", key="refresh"):
        review.refresh_queue(store)
    tabs = st.tabs(["Review", "Queue", "Calibration", "Failure modes", "Runs", "Go-live"])
    with tabs[0]:
        review_tab(store, reviewer)
    with tabs[1]:
        queue_tab(store)
    with tabs[2]:
        calibration_tab(store)
    with tabs[3]:
        modes_tab(store)
    with tabs[4]:
        runs_tab(store)
    with tabs[5]:
        golive_tab(store)


main()
