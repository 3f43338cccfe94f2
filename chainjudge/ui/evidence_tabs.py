"""The Calibration, Failure modes and Runs tabs: how far each judge agrees with people (with its interval,
item count and trust), the failure-mode catalogue with promotion to the regression suite, and run summaries."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from chainjudge.analysis.figures import format_estimate
from chainjudge.core.schema import AgreementReport, TrustPolicy
from chainjudge.core.store import Store
from chainjudge.ui.session import allowed_files


@st.cache_data(ttl=60, show_spinner="computing calibration ...")
def _calibration(db_path: str, version: int) -> list[dict]:
    """Per run and criterion: agreement with the ONE reference label per item (cached: the bootstrap is
    not redone on every rerun; `version` changes when labels are added)."""
    from chainjudge.workflows.golive import calibrate_run

    rows = []
    with Store(db_path) as store:
        for run in store.runs():
            for criterion, r in calibrate_run(store, run.name).reports.items():
                rows.append({"run": run.name, "criterion": criterion, "report": r.model_dump()})
    return rows


def calibration_tab(store: Store) -> None:
    small = TrustPolicy().min_figure_items
    version = store.query("SELECT COUNT(*), MAX(id) FROM labels")[0]
    rows = [
        (row["run"], row["criterion"], AgreementReport.model_validate(row["report"]))
        for row in _calibration(store.connect_to, hash(version))
    ]
    if not rows:
        st.info("No reference labels to compare with yet: adjudicate items or `chainjudge labels import`.")
        return
    _kappa_chart(rows, small)
    st.caption(
        f"Each figure says over how many items it is computed; under {small} items it shows 'too few'. "
        "The reference is one label per item: adjudication > ground truth > imported human."
    )
    table = [
        {
            "run": run,
            "criterion": c,
            "trust": r.trust,
            "why": r.trust_basis,
            "TPR (failing)": format_estimate(r.tpr, 1, 2),
            "TNR": format_estimate(r.tnr, 1, 2),
            "kappa": format_estimate(r.cohen_kappa, small, 2),
            "step accuracy": format_estimate(r.step_accuracy, small, 2),
            "reference items": r.reference_items,
            "judged of them": r.paired_items,
        }
        for run, c, r in rows
    ]
    st.dataframe(pd.DataFrame(table), hide_index=True, use_container_width=True)
    for run, criterion, r in rows:
        with st.expander(f"confusion: {run} · {criterion} (rows: reference, columns: judge)"):
            st.dataframe(pd.DataFrame(r.confusion, index=r.labels, columns=r.labels))


def _kappa_chart(rows: list, small: int) -> None:
    """Each judge's kappa with its interval, over items enough to show one."""
    chartable = [
        {"item": f"{run} · {c}", "kappa": r.cohen_kappa.value, "low": r.cohen_kappa.low, "high": r.cohen_kappa.high, "trust": r.trust}
        for run, c, r in rows
        if r.cohen_kappa.value is not None and (r.cohen_kappa.n or 0) >= small
    ]
    if not chartable:
        return
    frame = pd.DataFrame(chartable)
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=80)
        .encode(x=alt.X("kappa:Q", scale=alt.Scale(domain=[-0.2, 1])), y="item:N", color="trust:N")
    )
    bars = alt.Chart(frame).mark_rule().encode(x="low:Q", x2="high:Q", y="item:N")
    st.altair_chart(bars + points, use_container_width=True)


def modes_tab(store: Store) -> None:
    from chainjudge.workflows.modes import load_catalogue

    choices = allowed_files("CHAINJUDGE_CATALOGUE")
    if not choices:
        st.info("No failure-mode catalogue given: chainjudge review --catalogue FILE")
        return
    path = choices[0]
    catalogue = load_catalogue(path)
    if not catalogue.modes:
        st.info(f"No failure modes in {path.name} yet: chainjudge cluster RUN")
        return
    frame = pd.DataFrame(
        [{"mode": m.id, "name": m.name, "status": m.status, "failing steps": sum(m.counts.values())} for m in catalogue.modes]
    )
    st.altair_chart(
        alt.Chart(frame).mark_bar().encode(x="failing steps:Q", y=alt.Y("mode:N", sort="-x"), color="status:N", tooltip=["name"]),
        use_container_width=True,
    )
    for mode in catalogue.modes:
        with st.expander(f"{mode.id} · {mode.status}"):
            st.text(mode.name)
            for e in mode.exemplars[:3]:
                st.text(f"- {e.trace_id} step {e.step_ref} ({e.criterion_id}): {e.text[:300]}")
            if st.button(f"Promote {mode.id} to the regression suite", key=f"promote-{mode.id}"):
                _promote(store, catalogue, mode.id)


def _promote(store: Store, catalogue, mode_id: str) -> None:
    from chainjudge.workflows.regress import make_case, write_case

    mode = catalogue.mode(mode_id)
    written = 0
    for exemplar in mode.exemplars[:3]:
        run, trace = store.get_run(exemplar.run), store.get_trace(exemplar.trace_id, run=exemplar.run)
        if run and run.rubric and trace:
            write_case(
                make_case(mode.id, mode.name, exemplar, trace, run.rubric.criterion(exemplar.criterion_id), "fail"), Path("regressions")
            )
            written += 1
    st.success(f"{written} cases written to regressions/{mode_id}")


def runs_tab(store: Store) -> None:
    summaries = store.runs()
    if not summaries:
        st.info("No runs yet: chainjudge judge TRACES --rubric FILE")
        return
    name = st.selectbox("Run", [s.name for s in summaries], key="run_pick")
    rows = store.criterion_summaries(name)
    frame = pd.DataFrame(
        [
            {"criterion": r.criterion_id, "pass rate": r.pass_rate, "errors": r.errors, "cost $": r.cost_usd, "judged": r.judgments}
            for r in rows
        ]
    )
    st.altair_chart(
        alt.Chart(frame).mark_bar().encode(x=alt.X("pass rate:Q", scale=alt.Scale(domain=[0, 1])), y="criterion:N"),
        use_container_width=True,
    )
    st.dataframe(frame, hide_index=True, use_container_width=True)
    errors = store.error_counts(name)
    if errors:
        st.text("errors: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
