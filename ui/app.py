"""chainjudge review app: people adjudicate what the machine cannot settle.

Started by `chainjudge review`, which decides what the app may read (CHAINJUDGE_DB, CHAINJUDGE_CATALOGUE,
CHAINJUDGE_SPACES, CHAINJUDGE_SCENARIOS): the browser picks among those files by name and never gives a
path.  Reads and writes only through the chainjudge library, with one store connection per browser
session.  Reviewers sign in with a personal token (or the shared CHAINJUDGE_REVIEW_TOKEN); nothing is
shown before.  Trace text, rationales and notes are hostile input: shown as text, never as Markdown.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from chainjudge.core import offline

offline.apply()  # the app is an entry point of its own (streamlit imports it, not chainjudge.cli)

import sys  # noqa: E402

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from chainjudge.core.schema import ItemContext  # noqa: E402
from chainjudge.core.store import Store, absolute_db, resolve_db_path  # noqa: E402
from chainjudge.review import queue as review  # noqa: E402
from chainjudge.review import sessions  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the app's own modules, wherever it is installed
from alignment_panel import alignment_panel  # noqa: E402
from attribution_panel import attribution_tab  # noqa: E402
from groundtruth import ground_truth_tab  # noqa: E402
from verifier_panel import verifier_panel  # noqa: E402

st.set_page_config(page_title="chainjudge review", layout="wide")


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
        name = st.text_input("Your name" + (" (with the shared token only)" if personal else ""), key="name") \
            if (shared or not personal) else ""
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
        lines = [f"{j.judge} ({j.run}): {verdict.label if verdict else 'error'}",
                 f"  {verdict.rationale if verdict else j.error}"]
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
            problem = sessions.still_valid(store, st.session_state["credential"],
                                           os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None, sessions.now())
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
    from chainjudge.analysis.figures import format_estimate
    from chainjudge.core.schema import AgreementReport, TrustPolicy

    small = TrustPolicy().min_figure_items
    version = store.query("SELECT COUNT(*), MAX(id) FROM labels")[0]
    rows = [(row["run"], row["criterion"], AgreementReport.model_validate(row["report"]))
            for row in _calibration(store.connect_to, hash(version))]
    if not rows:
        st.info("No reference labels to compare with yet: adjudicate items or `chainjudge labels import`.")
        return
    table = [{"run": run, "criterion": c, "trust": r.trust, "why": r.trust_basis,
              "TPR (failing)": format_estimate(r.tpr, 1, 2), "TNR": format_estimate(r.tnr, 1, 2),
              "kappa": format_estimate(r.cohen_kappa, small, 2), "step accuracy": format_estimate(r.step_accuracy, small, 2),
              "reference items": r.reference_items, "judged of them": r.paired_items} for run, c, r in rows]
    chartable = [{"item": f"{run} · {c}", "kappa": r.cohen_kappa.value, "low": r.cohen_kappa.low, "high": r.cohen_kappa.high,
                  "trust": r.trust} for run, c, r in rows
                 if r.cohen_kappa.value is not None and (r.cohen_kappa.n or 0) >= small]
    if chartable:
        frame = pd.DataFrame(chartable)
        points = alt.Chart(frame).mark_point(filled=True, size=80).encode(x=alt.X("kappa:Q", scale=alt.Scale(domain=[-0.2, 1])), y="item:N", color="trust:N")
        bars = alt.Chart(frame).mark_rule().encode(x="low:Q", x2="high:Q", y="item:N")
        st.altair_chart(bars + points, use_container_width=True)
    st.caption(f"Each figure says over how many items it is computed; under {small} items it shows 'too few'. "
               "The reference is one label per item: adjudication > ground truth > imported human.")
    st.dataframe(pd.DataFrame(table), hide_index=True, use_container_width=True)
    for run, criterion, r in rows:
        with st.expander(f"confusion: {run} · {criterion} (rows: reference, columns: judge)"):
            st.dataframe(pd.DataFrame(r.confusion, index=r.labels, columns=r.labels))


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
    from chainjudge.workflows.regress import make_case, write_case

    mode = catalogue.mode(mode_id)
    written = 0
    for exemplar in mode.exemplars[:3]:
        run, trace = store.get_run(exemplar.run), store.get_trace(exemplar.trace_id, run=exemplar.run)
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
    from chainjudge.workflows.golive import collect, load_space

    summaries = store.runs()
    if not summaries:
        st.info("No runs yet.")
        return
    from chainjudge.workflows.golive import run_space

    name = st.selectbox("Run", [s.name for s in summaries], key="golive_run")
    own = run_space(store, name) is not None
    spaces = ([None] if own else []) + allowed_files("CHAINJUDGE_SPACES")
    if not spaces:
        st.info("This run carries no scenario space and none was given: chainjudge review --space FILE")
        return
    space = st.selectbox("Scenario space", spaces, format_func=lambda p: "(the one the run was judged against)" if p is None else p.name, key="space")
    expected = st.selectbox("Scenarios with expected actions", [None, *allowed_files("CHAINJUDGE_SCENARIOS")],
                            format_func=lambda p: "(the ones the run was judged against)" if p is None else p.name, key="expected")
    catalogues = allowed_files("CHAINJUDGE_CATALOGUE")
    evidence = collect(store, name, load_space(space) if space else None, expected, catalogues[0] if catalogues else None)
    s = evidence.score
    st.metric("Go-live confidence", f"{s.score:.2f}", help=f"range {s.low:.2f}-{s.high:.2f}")
    if s.unknown:
        st.warning("Unknown (counted at their low end): " + ", ".join(s.unknown))
    terms = pd.DataFrame([{"term": t.name, "value": t.value, "low": t.low, "high": t.high, "known": t.known, "weight": t.weight,
                           "how": t.explanation} for t in s.terms])
    st.altair_chart(alt.Chart(terms).mark_bar().encode(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1])), y="term:N", tooltip=["how"]), use_container_width=True)
    st.dataframe(terms, hide_index=True, use_container_width=True)
    grid = evidence.space.grid
    if len(grid) >= 2:
        cells = pd.DataFrame([{grid[0]: c[0], grid[1]: c[1], "traces": n} for c, n in evidence.coverage.cells.items()])
        st.altair_chart(alt.Chart(cells).mark_rect().encode(x=f"{grid[1]}:N", y=f"{grid[0]}:N", color="traces:Q", tooltip=["traces"]), use_container_width=True)
    if evidence.coverage.open_edge_cases:
        st.warning("Open edge cases: " + ", ".join(evidence.coverage.open_edge_cases))
    guardrails_panel()


def guardrails_panel() -> None:
    """The off-policy guardrails `chainjudge review --ope-value/--ope-unsubscribe` named: the agent's
    expected value against today's, from logged history; a withheld estimate is unknown, never a number."""
    import json

    from chainjudge.analysis.figures import format_estimate
    from chainjudge.analysis.ope_gate import guardrail

    rows = []
    for kind, variable in (("value", "CHAINJUDGE_OPE_VALUE"), ("harm", "CHAINJUDGE_OPE_UNSUBSCRIBE")):
        for path in allowed_files(variable):
            try:
                figures = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                st.warning(f"{path.name}: not readable as off-policy figures")
                continue
            g = guardrail(figures if isinstance(figures, dict) else {}, "dr", kind, path.name)
            rows.append({"guardrail": "value (conversions)" if kind == "value" else "harm (unsubscribes)", "file": g.source,
                         "agent (dr)": "unknown: " + g.warning if g.warning else format_estimate(g.agent, 1, 4),
                         "today (logged)": format_estimate(g.logged, 1, 4),
                         "ratio": format_estimate(g.ratio, 1, 3), "difference": format_estimate(g.difference, 1, 4)})
    if rows:
        st.subheader("Guardrails from logged history (off-policy)")
        st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)


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
    tabs = st.tabs(["Review", "Queue", "Calibration", "Failure modes", "Runs", "Go-live", "Attribution", "Ground truth"])
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
    with tabs[7]:
        ground_truth_tab(store, reviewer)


def still_signed_in(store: Store) -> bool:
    """Checked right before a write: a revoked or expired session signs out (nothing is written)."""
    problem = sessions.still_valid(store, st.session_state["credential"],
                                   os.environ.get("CHAINJUDGE_REVIEW_TOKEN") or None, sessions.now())
    if problem:
        sign_out(problem)
        st.rerun()
    return problem is None


main()
