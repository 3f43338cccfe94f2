"""Who is signed in to the review app: the store connection for one script run, the session key, the sign-in
form and the checks made again before every write.  A session that has not signed in holds nothing but
the check of what it typed."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import streamlit as st

from chainjudge.core.store import Store, absolute_db, resolve_db_path
from chainjudge.review import sessions


def open_store() -> Store:
    """A connection for this script run only, closed when the run ends: no session holds one between runs,
    and none is opened for anyone who has not signed in beyond the sign-in check itself (sessions that
    never signed in used to exhaust PostgreSQL's connections and SQLite's file handles)."""
    return Store(absolute_db(resolve_db_path(None)))


def session_id() -> str:
    if "session_seed" not in st.session_state:
        st.session_state["session_seed"] = secrets.token_hex(16)
    return sessions.session_key(st.session_state["session_seed"])


def allowed_files(variable: str) -> list[Path]:
    """The files `chainjudge review` allowed for this purpose (never a path from the browser)."""
    return [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p]


def sign_out(reason: str | None = None) -> None:
    sessions.SESSIONS.leave(session_id())
    for key in ("credential", "item", "queue_ready"):
        st.session_state.pop(key, None)
    if reason:
        st.session_state["signed_out_because"] = reason


def signed_in(store: Store) -> sessions.Credential | None:
    """This session's credential, checked again on every run (so before every write): revoked, expired,
    idle or changed credentials sign the session out."""
    credential = st.session_state.get("credential")
    if credential is None:
        return None
    shared = os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None
    if not sessions.SESSIONS.touch(session_id(), sessions.now()):
        sign_out(f"Signed out after {sessions.IDLE_MINUTES:g} minutes without activity.")
        return None
    problem = sessions.still_valid(store, credential, shared, sessions.now())
    if problem:
        sign_out(problem)
        return None
    return credential


def sign_in() -> None:
    """The sign-in form; the store is opened only to check what was typed, and closed at once."""
    shared = os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None
    st.title("chainjudge review")
    if st.session_state.get("signed_out_because"):
        st.warning(st.session_state.pop("signed_out_because"))
    problem = sessions.shared_token_problem(shared)
    if problem:
        st.error(problem)
    with open_store() as store:
        personal = store.uses_personal_tokens()
    with st.form("sign-in"):
        token = st.text_input("Access token", type="password", key="token") if (shared or personal) else ""
        name = (
            st.text_input("Your name" + (" (with the shared token only)" if personal else ""), key="name")
            if (shared or not personal)
            else ""
        )
        if st.form_submit_button("Sign in"):
            me, now = session_id(), sessions.now()
            refused = sessions.LIMITER.refused(me, now)
            if refused:
                st.error(refused)
                return
            with open_store() as store:
                credential, problem = sessions.check(store, token, name, shared, now)
            if problem:
                if token:
                    sessions.LIMITER.failed(me, now)
                st.error(problem)
            elif not sessions.SESSIONS.admit(me, now):
                st.error(f"{sessions.MAX_SESSIONS} reviewers are signed in already: try again later.")
            else:
                st.session_state["credential"] = credential
                st.rerun()


def still_signed_in(store: Store) -> bool:
    """Checked right before a write: a revoked or expired session signs out (nothing is written)."""
    problem = sessions.still_valid(store, st.session_state["credential"], os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None, sessions.now())
    if problem:
        sign_out(problem)
        st.rerun()
    return problem is None
