"""chainjudge review app: people adjudicate what the machine cannot settle.

Started by `chainjudge review` (the store comes from CHAINJUDGE_DB).  Reads and writes only through
the chainjudge library.  When CHAINJUDGE_REVIEW_TOKEN is set, nothing is shown before it is given.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from chainjudge import review
from chainjudge.store import Store, resolve_db_path

st.set_page_config(page_title="chainjudge review", layout="wide")


@st.cache_resource
def open_store(path: str) -> Store:
    return Store(path)


def sign_in() -> str | None:
    token = os.environ.get("CHAINJUDGE_REVIEW_TOKEN")
    if st.session_state.get("reviewer"):
        return st.session_state["reviewer"]
    st.title("chainjudge review")
    with st.form("sign-in"):
        name = st.text_input("Your name", key="name")
        given = st.text_input("Access token", type="password", key="token") if token else ""
        if st.form_submit_button("Sign in"):
            if not name.strip():
                st.error("Give your name: every adjudication is stored with it.")
            elif token and not hmac.compare_digest(given.encode(), token.encode()):
                st.error("Wrong access token.")
            else:
                st.session_state["reviewer"] = name.strip()
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
    st.subheader(f"{item.kind.replace('_', ' ')} · {item.criterion_id} · {item.severity}")
    st.caption(f"run {item.run} · trace {item.trace_id} · step {item.step_ref} · {item.detail}")
    left, right = st.columns([3, 2])
    with left:
        trace = context["trace"]
        if trace is None:
            st.warning("The trace is not in the store.")
        else:
            for step in trace.steps:
                text = step.render()
                if step.ref == item.step_ref:
                    st.markdown(f"**▶ {step.index} · {step.kind.value} · ref {step.ref}**")
                    st.info(text or "(empty)")
                else:
                    with st.expander(f"{step.index} · {step.kind.value} · {' '.join(text.split())[:80]}"):
                        st.text(text)
            if trace.metadata:
                with st.expander("User state / context"):
                    st.json(trace.metadata)
    with right:
        st.markdown("**Judges**")
        for j in context["judgments"]:
            verdict = j.verdict
            st.markdown(f"- `{j.judge}` ({j.run}): **{verdict.label if verdict else 'error'}**"
                        + (f" — {verdict.rationale}" if verdict else f" — {j.error}")
                        + (f"  \n  evidence: “{verdict.evidence}”" if verdict and verdict.evidence else "")
                        + (f"  \n  flags: {', '.join(j.flags)}" if j.flags else ""))
        st.markdown("**Labels already given**")
        for label in context["labels"] or []:
            st.markdown(f"- {label.annotator} ({label.kind}): **{label.value}**" + (f" — {label.note}" if label.note else ""))
        if not context["labels"]:
            st.caption("none yet")
        with st.form("adjudicate", clear_on_submit=True):
            choice = st.radio("Your label", context["options"], horizontal=True, key="choice")
            note = st.text_input("Note (why)", key="note")
            if st.form_submit_button("Save and next"):
                review.adjudicate(store, item, reviewer, choice, note)
                st.session_state["item"] = review.claim_next(store, reviewer)
                st.session_state["saved"] = f"saved {choice} for {item.trace_id} step {item.step_ref}"
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

    path = Path(st.text_input("Catalogue", value=os.environ.get("CHAINJUDGE_CATALOGUE", "failure-modes.yaml"), key="catalogue"))
    catalogue = load_catalogue(path)
    if not catalogue.modes:
        st.info(f"No failure modes in {path} yet: chainjudge cluster RUN")
        return
    frame = pd.DataFrame([{"mode": m.id, "name": m.name, "status": m.status, "failing steps": sum(m.counts.values())} for m in catalogue.modes])
    st.altair_chart(alt.Chart(frame).mark_bar().encode(x="failing steps:Q", y=alt.Y("mode:N", sort="-x"), color="status:N", tooltip=["name"]), use_container_width=True)
    for mode in catalogue.modes:
        with st.expander(f"{mode.id} · {mode.name} · {mode.status}"):
            for e in mode.exemplars[:3]:
                st.markdown(f"- `{e.trace_id}` step {e.step_ref} ({e.criterion_id}): {e.text[:300]}")
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
        st.warning("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))


def golive_tab(store: Store) -> None:
    from chainjudge.golive import collect, load_space

    summaries = store.runs()
    if not summaries:
        st.info("No runs yet.")
        return
    root = Path(__file__).resolve().parents[1]
    name = st.selectbox("Run", [s.name for s in summaries], key="golive_run")
    space = Path(st.text_input("Scenario space", value=str(root / "rubrics" / "cep" / "space.yaml"), key="space"))
    expected = st.text_input("Scenarios with expected actions (optional)", value=os.environ.get("CHAINJUDGE_SCENARIOS", ""), key="expected")
    evidence = collect(store, name, load_space(space), Path(expected) if expected else None,
                       Path(os.environ.get("CHAINJUDGE_CATALOGUE", "failure-modes.yaml")))
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
    reviewer = sign_in()
    if reviewer is None:
        st.stop()
    store = open_store(str(resolve_db_path(None).resolve()))
    if "queue_ready" not in st.session_state:
        review.refresh_queue(store)
        st.session_state["queue_ready"] = True
    st.sidebar.markdown(f"Signed in as **{reviewer}**")
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
