"""chainjudge review app: people adjudicate what the machine cannot settle.

Started by `chainjudge review`, which decides what the app may read (CHAINJUDGE_DB, CHAINJUDGE_CATALOGUE,
CHAINJUDGE_SPACES, CHAINJUDGE_SCENARIOS): the browser picks among those files by name and never gives a
path.  Reads and writes only through the chainjudge library, with one store connection per browser
session.  Reviewers sign in with a personal token (or the shared CHAINJUDGE_REVIEW_TOKEN); nothing is
shown before.  Trace text, rationales and notes are hostile input: shown as text, never as Markdown.
"""

from __future__ import annotations

from chainjudge.core import offline

offline.apply()  # the app is an entry point of its own (streamlit imports it, not chainjudge.cli)

import streamlit as st  # noqa: E402

from chainjudge.core import plugins  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.review import queue as review  # noqa: E402
from chainjudge.ui.alignment_panel import alignment_panel  # noqa: E402
from chainjudge.ui.attribution_panel import attribution_tab  # noqa: E402
from chainjudge.ui.evidence_tabs import calibration_tab, modes_tab, runs_tab  # noqa: E402
from chainjudge.ui.golive_tab import golive_tab  # noqa: E402
from chainjudge.ui.review_tabs import queue_tab, review_tab  # noqa: E402
from chainjudge.ui.session import open_store, sign_in, sign_out, signed_in, still_signed_in  # noqa: E402
from chainjudge.ui.verifier_panel import verifier_panel  # noqa: E402

st.set_page_config(page_title="chainjudge review", layout="wide")


def main() -> None:
    if st.session_state.get("credential") is not None:
        with open_store() as store:  # one connection for the run: the credential check and the view
            credential = signed_in(store)
            if credential is not None:
                signed_in_view(store, credential.annotator)
                return
    sign_in()
    st.stop()


def signed_in_view(store: Store, reviewer: str) -> None:
    if "queue_ready" not in st.session_state:
        review.refresh_queue(store)
        st.session_state["queue_ready"] = True
    st.sidebar.text(f"Signed in as {reviewer}")
    if st.sidebar.button("Sign out", key="sign_out"):
        sign_out("Signed out.")
        st.rerun()
    if st.sidebar.button("Refresh queue", key="refresh"):
        review.refresh_queue(store)
    offered = plugins.review_tabs()  # tabs the installed packs offer (the CEP pack: Ground truth)
    tabs = st.tabs(["Review", "Queue", "Calibration", "Failure modes", "Runs", "Go-live", "Attribution", *(t.title for t in offered)])
    with tabs[0]:
        review_tab(store, reviewer)
    with tabs[1]:
        queue_tab(store)
    with tabs[2]:
        calibration_tab(store)
        alignment_panel(store)
        verifier_panel(store)
    with tabs[3]:
        modes_tab(store)
    with tabs[4]:
        runs_tab(store)
    with tabs[5]:
        golive_tab(store)
    with tabs[6]:
        attribution_tab(store, reviewer, lambda: still_signed_in(store))
    for place, tab in enumerate(offered, start=7):
        with tabs[place]:
            tab.render(store, reviewer, lambda: still_signed_in(store))


main()
