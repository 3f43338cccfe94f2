"""The review app's alignment panel (in the Calibration tab): per aligned judge, what it was built from,
the tune-split labels people added since, the runs that used it and how often they looked at the test
split; "Re-align" builds it again from today's tune labels (no model involved: it gathers worked
examples, so it takes seconds)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from chainjudge.core.store import Store


def alignment_panel(store: Store) -> None:
    from chainjudge.analysis.alignment import AlignmentError, alignment_status, realign

    st.subheader("Alignment")
    judges = store.aligned_judges()
    if not judges:
        st.caption("No aligned judge yet: chainjudge labels split --test-share 0.3 --seed N, then "
                   "chainjudge align --rubric RUBRIC --name NAME.")
        return
    for aligned in judges:
        status = alignment_status(store, aligned)
        st.markdown(f"**{aligned.tag}** (rubric {aligned.rubric_id}, built {aligned.created_at:%Y-%m-%d %H:%M} UTC)")
        st.dataframe(pd.DataFrame([{"criterion": c, "worked examples": n, "tune labels added since": status.new_labels[c]}
                                   for c, n in status.examples.items()]), hide_index=True, use_container_width=True)
        runs = ", ".join(status.runs) or "none yet"
        st.text(f"runs judged with it: {runs}; looks at the test split by them: {status.test_looks}")
        if status.test_looks > 1:
            st.warning("The test split was looked at more than once by this version: its figures there are no longer an unbiased test.")
        if any(status.new_labels.values()) and st.button(f"Re-align {aligned.name}", key=f"realign-{aligned.name}"):
            with st.spinner(f"re-aligning {aligned.name} from today's tune labels"):
                try:
                    rebuilt, report = realign(store, aligned)
                except AlignmentError as exc:
                    st.error(str(exc))
                    continue
            st.success(f"{rebuilt.tag}: {report.examples} worked examples. Judge with it: chainjudge judge TRACES "
                       f"--rubric RUBRIC --aligned {aligned.name} --run NEW-RUN, then measure it once: "
                       "chainjudge labels agreement ... --split test")
