"""The review app's verifier panel (in the Calibration tab): per verifier, what it learned from, its
out-of-fold kappa with its bound, what it decides with a guarantee, and how many tune reference labels
there are now.  People's new labels (adjudications included) reach it by "Retrain in the background":
the command line's own `verifier train` with the settings of the version shown, run as a child process
(the test split is never looked at; `chainjudge verifier test NAME` does that, counted).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from chainjudge.core.schema import Verifier
from chainjudge.core.store import Store
from chainjudge.ui import background_jobs

KIND = "retrain"


def retrain_arguments(verifier: Verifier) -> list[str]:
    """`verifier train` arguments that rebuild VERIFIER from today's tune labels with its own settings."""
    arguments = [
        "verifier",
        "train",
        "--criterion",
        verifier.criterion,
        "--name",
        verifier.name,
        "--target",
        str(verifier.selective.target),
        "--risk",
        str(verifier.selective.risk),
    ]
    arguments.append("--reference-features" if verifier.reference_features else "--no-reference-features")
    for label in verifier.failing:
        arguments += ["--failing", label]
    if verifier.from_run:
        arguments += ["--from-run", verifier.from_run]
    return arguments


def tune_labels_now(store: Store, criterion: str) -> int:
    """Reference labels of CRITERION on tune traces today (one per item: adjudication first)."""
    from chainjudge.analysis.reference import reference_labels
    from chainjudge.analysis.splits import TUNE

    split = store.split()
    return sum(1 for label in reference_labels(store.labels(criterion=criterion)) if split.get(label.trace_id) == TUNE)


def verifier_panel(store: Store) -> None:
    from chainjudge.analysis.verifier import oof_kappa_text

    verifiers = store.verifiers()
    st.subheader("Verifiers learned from people's labels")
    if not verifiers:
        st.caption("No verifier yet: chainjudge labels split, then chainjudge verifier train --criterion C --name NAME.")
        return
    rows = []
    for v in verifiers:
        sel = v.selective
        rows.append(
            {
                "verifier": v.tag,
                "criterion": v.criterion,
                "learned from (tune steps)": v.tune_items,
                "tune labels now": tune_labels_now(store, v.criterion),
                "out of fold": oof_kappa_text(v),
                "decides": (
                    f"{sel.decided_share:.0%} at >= {sel.target:.0%} agreement (risk {sel.risk:g})"
                    if sel.confidence is not None
                    else "nothing (no cut met its guarantee)"
                ),
                "built (UTC)": f"{v.created_at:%Y-%m-%d %H:%M}",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
    for v in verifiers:
        _retrain(store, v)


def _retrain(store: Store, verifier: Verifier) -> None:
    job = background_jobs.status(store, verifier.name, KIND)
    if job.running:
        st.info(f"Retraining {verifier.name} in the background: {job.last_line}")
        st.button("Refresh", key=f"retrain-refresh-{verifier.name}")
        return
    if job.started:
        st.text(f"last retraining of {verifier.name}: {job.last_line}")
    if st.button(f"Retrain {verifier.name} from today's tune labels (in the background)", key=f"retrain-{verifier.name}"):
        if background_jobs.launch(store, verifier.name, retrain_arguments(verifier), KIND):
            st.success(
                f"Started: {verifier.name} learns again from today's tune labels with the settings of "
                f"{verifier.tag}. Refresh to see the new version; the test split is not looked at."
            )
