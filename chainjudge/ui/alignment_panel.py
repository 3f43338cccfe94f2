"""The review app's alignment panel (in the Calibration tab): per aligned judge and criterion, what it was
built from, its decision threshold, the tune-split labels people added since and its agreement with people
on the test split (as `chainjudge align` measured it); the runs that used it and how often they looked at
the test split.  "Re-align examples" builds it again from today's tune labels (seconds, no model);
"Re-align with thresholds" runs `chainjudge align` in the background (judging tune steps to fit the
thresholds), with its progress shown here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from chainjudge.analysis.figures import format_estimate
from chainjudge.core.store import Store
from chainjudge.workflows.alignment import AlignmentError, agreement_on_test_split, alignment_status, realign


def alignment_panel(store: Store) -> None:
    st.subheader("Alignment")
    judges = store.aligned_judges()
    if not judges:
        st.caption(
            "No aligned judge yet: chainjudge labels split --test-share 0.3 --seed N, then chainjudge align --rubric RUBRIC --name NAME."
        )
        return
    for aligned in judges:
        status = alignment_status(store, aligned)
        st.markdown(f"**{aligned.tag}** (rubric {aligned.rubric_id}, built {aligned.created_at:%Y-%m-%d %H:%M} UTC)")
        tested = agreement_on_test_split(store, aligned)
        st.dataframe(pd.DataFrame(_rows(aligned, status, tested)), hide_index=True, use_container_width=True)
        if tested:
            st.caption(
                "Test-split figures as `chainjudge align` measured them (that look is counted; showing them again is not a "
                "new one); the baselines are in its output. 95% intervals resample traces."
            )
        runs = ", ".join(status.runs) or "none yet"
        st.text(f"runs judged with it: {runs}; looks at the test split by them: {status.test_looks}")
        if status.test_looks > 1:
            st.warning("The test split was looked at more than once by this version: its figures there are no longer an unbiased test.")
        _background_realign(store, aligned)
        if any(status.new_labels.values()) and st.button(f"Re-align {aligned.name} (examples only)", key=f"realign-{aligned.name}"):
            _realign_now(store, aligned)


def _rows(aligned, status, tested: dict) -> list[dict]:
    """Per criterion: worked examples, new tune labels, the decision threshold and the test-split figures."""
    rows = []
    for c, n in status.examples.items():
        threshold = aligned.thresholds.get(c)
        report = tested.get(c)
        rows.append(
            {
                "criterion": c,
                "worked examples": n,
                "tune labels added since": status.new_labels[c],
                "decision threshold": f"fails at P(fail) >= {threshold.p_fail:.3g}" if threshold else "none (the judge's labels)",
                "test-split kappa": format_estimate(report.cohen_kappa, 1, 3) if report else "not measured (chainjudge align)",
                "test-split TPR / TNR": f"{format_estimate(report.tpr, 1, 2)} / {format_estimate(report.tnr, 1, 2)}" if report else "-",
            }
        )
    return rows


def _realign_now(store: Store, aligned) -> None:
    """Rebuild the worked examples from today's tune labels (seconds; thresholds need the background job)."""
    with st.spinner(f"re-aligning {aligned.name} from today's tune labels"):
        try:
            rebuilt, built = realign(store, aligned)
        except AlignmentError as exc:
            st.error(str(exc))
            return
    st.success(
        f"{rebuilt.tag}: {built.examples} worked examples. Judge with it: chainjudge judge TRACES "
        f"--rubric RUBRIC --aligned {aligned.name} --run NEW-RUN, then measure it once: "
        "chainjudge labels agreement ... --split test"
    )


def _background_realign(store: Store, aligned) -> None:
    """The "re-align with thresholds" button and, while it runs, the job's progress."""
    from chainjudge.ui import background_jobs
    from chainjudge.workflows.alignment import AlignmentError, judge_of, rubric_of

    job = background_jobs.status(store, aligned.name)
    if job.running:
        st.info(f"Re-aligning {aligned.name} in the background: {job.last_line}")
        if job.total:
            st.progress(min(1.0, (job.done or 0) / job.total), text=f"{job.done}/{job.total} tune judgments")
        st.button("Refresh", key=f"realign-refresh-{aligned.name}")
        return
    if job.started:
        st.text(f"last background re-align: {job.last_line}")
    judge = judge_of(store, aligned)
    if judge is None:
        return
    spec, api_base = judge
    if st.button(f"Re-align {aligned.name} with thresholds (judge: {spec}, in the background)", key=f"realign-bg-{aligned.name}"):
        try:
            rubric = rubric_of(store, aligned)
        except AlignmentError as exc:
            st.error(str(exc))
            return
        if background_jobs.start(store, aligned.name, rubric, spec, api_base, aligned.k):
            st.success(
                "Started: worked examples from today's tune labels, then tune steps judged to fit the decision "
                "thresholds. Progress shows here (Refresh); the test split is not looked at."
            )
