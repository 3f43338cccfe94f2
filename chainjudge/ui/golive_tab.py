"""The Go-live tab: the confidence score with its unknown terms at their low end, coverage of the scenario
space as a heat map, open edge cases, and the off-policy guardrails from logged history."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from chainjudge.core.schema import Evidence
from chainjudge.core.store import Store
from chainjudge.ui.session import allowed_files
from chainjudge.workflows.golive import gather_evidence, load_space, run_space


def golive_tab(store: Store) -> None:
    summaries = store.runs()
    if not summaries:
        st.info("No runs yet.")
        return
    name = st.selectbox("Run", [s.name for s in summaries], key="golive_run")
    spaces = ([None] if run_space(store, name) is not None else []) + allowed_files("CHAINJUDGE_SPACES")
    if not spaces:
        st.info("This run carries no scenario space and none was given: chainjudge review --space FILE")
        return
    space = st.selectbox(
        "Scenario space", spaces, format_func=lambda p: "(the one the run was judged against)" if p is None else p.name, key="space"
    )
    expected = st.selectbox(
        "Scenarios with expected actions",
        [None, *allowed_files("CHAINJUDGE_SCENARIOS")],
        format_func=lambda p: "(the ones the run was judged against)" if p is None else p.name,
        key="expected",
    )
    catalogues = allowed_files("CHAINJUDGE_CATALOGUE")
    evidence = gather_evidence(store, name, load_space(space) if space else None, expected, catalogues[0] if catalogues else None)
    _score(evidence)
    _coverage(evidence)
    guardrails_panel()


def _score(evidence: Evidence) -> None:
    """The score, its unknown terms, and each term as a bar and a row."""
    s = evidence.score
    st.metric("Go-live confidence", f"{s.score:.2f}", help=f"range {s.low:.2f}-{s.high:.2f}")
    if s.unknown:
        st.warning("Unknown (counted at their low end): " + ", ".join(s.unknown))
    terms = pd.DataFrame(
        [
            {"term": t.name, "value": t.value, "low": t.low, "high": t.high, "known": t.known, "weight": t.weight, "how": t.explanation}
            for t in s.terms
        ]
    )
    st.altair_chart(
        alt.Chart(terms).mark_bar().encode(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1])), y="term:N", tooltip=["how"]),
        use_container_width=True,
    )
    st.dataframe(terms, hide_index=True, use_container_width=True)


def _coverage(evidence: Evidence) -> None:
    """The space's first two dimensions as a heat map of traces, and the open edge cases."""
    grid = evidence.space.grid
    if len(grid) >= 2:
        cells = pd.DataFrame([{grid[0]: c[0], grid[1]: c[1], "traces": n} for c, n in evidence.coverage.cells.items()])
        st.altair_chart(
            alt.Chart(cells).mark_rect().encode(x=f"{grid[1]}:N", y=f"{grid[0]}:N", color="traces:Q", tooltip=["traces"]),
            use_container_width=True,
        )
    if evidence.coverage.open_edge_cases:
        st.warning("Open edge cases: " + ", ".join(evidence.coverage.open_edge_cases))


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
            rows.append(
                {
                    "guardrail": "value (conversions)" if kind == "value" else "harm (unsubscribes)",
                    "file": g.source,
                    "agent (dr)": "unknown: " + g.warning if g.warning else format_estimate(g.agent, 1, 4),
                    "today (logged)": format_estimate(g.logged, 1, 4),
                    "ratio": format_estimate(g.ratio, 1, 3),
                    "difference": format_estimate(g.difference, 1, 4),
                }
            )
    if rows:
        st.subheader("Guardrails from logged history (off-policy)")
        st.dataframe(pd.DataFrame(rows), hide_index=True, use_container_width=True)
