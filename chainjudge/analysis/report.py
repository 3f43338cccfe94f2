"""The go-live report: a self-contained HTML page (no scripts, no external files), a Markdown summary
fit for a pull-request comment, and JSON for machines."""

from __future__ import annotations

import html

from chainjudge.analysis.figures import format_estimate
from chainjudge.core.schema import Evidence


def _fmt(estimate, min_items: int = 1) -> str:
    return format_estimate(estimate, min_items, 2)


def _trust_rows(evidence: Evidence) -> list[list[str]]:
    """criterion, trust, rule and basis, TPR, TNR, kappa, raw, corrected and prediction-powered failure rates."""
    rates = {r.criterion: r for r in evidence.corrected}
    rows = []
    for c in evidence.criteria:
        report, rate = evidence.calibration.get(c.criterion), rates.get(c.criterion)
        rows.append(
            [
                c.criterion,
                c.trust,
                report.trust_basis if report else "",
                _fmt(report.tpr) if report else "-",
                _fmt(report.tnr) if report else "-",
                _fmt(report.cohen_kappa, 20) if report else "-",
                _fmt(rate.raw_failure_rate) if rate else "-",
                _fmt(rate.corrected_failure_rate) if rate else "-",
                _fmt(rate.ppi_failure_rate) if rate and rate.ppi_failure_rate else "-",
            ]
        )
    return rows


TRUST_HEAD = [
    "criterion",
    "trust",
    "why",
    "TPR (failing)",
    "TNR",
    "Cohen's kappa",
    "raw failure rate",
    "corrected failure rate",
    "prediction-powered failure rate",
]


def _bar(value: float, colour: str = "#3b7dd8") -> str:
    width = max(0.0, min(1.0, value)) * 100
    return f'<div class="bar"><div style="width:{width:.1f}%;background:{colour}"></div></div>'


def _heat(count: int, k: int) -> str:
    if count < k:
        return "#f4c7c3"
    shade = min(1.0, 0.35 + 0.15 * count)
    return f"rgba(52, 168, 83, {shade:.2f})"


def to_json(evidence: Evidence) -> dict:
    cov = evidence.coverage
    return {
        "run": evidence.run,
        "traces": evidence.traces,
        "score": evidence.score.model_dump(),
        "coverage": {
            "covered": cov.covered,
            "weighted": cov.weighted,
            "high_weight": cov.high_weight_coverage,
            "empty_heaviest": [{"cell": list(c), "weight": w} for c, w in cov.empty_heaviest],
            "open_edge_cases": cov.open_edge_cases,
            "cells": [{"cell": list(c), "traces": n} for c, n in cov.cells.items()],
        },
        "criteria": [c.model_dump() for c in evidence.criteria],
        "critical_failures": evidence.critical_failures,
        "decisions": evidence.decision_report.model_dump() if evidence.decision_report is not None else None,
        "open_failure_modes": [m.model_dump() for m in evidence.open_modes],
        "recurring_failure_modes": evidence.recurring_modes,
        "untrusted_critical": evidence.untrusted_critical,
        "calibration": {k: v.model_dump() for k, v in evidence.calibration.items()},
        "corrected_failure_rates": [r.model_dump() for r in evidence.corrected],
        "probes": [p.model_dump() for p in evidence.probes],
        "agents": [a.model_dump() for a in evidence.agents],
        "sampling": evidence.sampling.model_dump() if evidence.sampling is not None else None,
        "guardrails": [g.model_dump() for g in evidence.guardrails],
    }


def _guardrail_lines(evidence: Evidence) -> list[str]:
    """The off-policy guardrails as sentences (plain text; each caller escapes)."""
    lines = []
    for g in evidence.guardrails:
        what = "Value (conversions or revenue)" if g.kind == "value" else "Harm (unsubscribes or complaints)"
        if g.warning:
            lines.append(f"{what}, {g.estimator} from {g.source}: unknown ({g.warning}); today's logged policy {_fmt(g.logged)}.")
            continue
        compare = f"ratio {_fmt(g.ratio)}" if g.kind == "value" else f"difference {_fmt(g.difference)}"
        lines.append(
            f"{what}, {g.estimator} from {g.source}: the agent {_fmt(g.agent)} against today's logged policy {_fmt(g.logged)}; {compare}."
        )
    return lines


def _sampling_lines(evidence: Evidence) -> list[str]:
    """What the report says about a run a failure-seeking search drew (plain text; each caller escapes)."""
    note = evidence.sampling
    if note is None:
        return []
    w, u = note.weighted_failure, note.unweighted_failure
    return [
        f"{note.searched + note.uniform} of {note.traces} traces were drawn by a failure-seeking search "
        f"({note.uniform} in a uniform pass, {note.searched} where failures concentrated). Rates elsewhere in this report are "
        "unweighted: they over-represent the cells the search sought, so they understate pass rates, never overstate them.",
        f"Importance-weighted trace failure rate over the target space: {_fmt(w)} (unweighted: {_fmt(u)}).",
        "Where the search looked: "
        + ", ".join(f"{c.cell} {c.traces} ({c.failed} failed, mean weight {c.weight:.2f})" for c in note.cells[:12]),
    ]


def to_markdown(evidence: Evidence, reasons: list[str] | None = None) -> str:
    """The report as a pull-request comment: the score and its terms, trust, probes, coverage, decisions,
    agents, off-policy guardrails, sampling and failure modes (a cell's `|` is written `/`)."""
    s = evidence.score
    lines = [
        f"## chainjudge go-live report: run `{evidence.run}`",
        "",
        f"**Go-live confidence: {s.score:.2f}** (range {s.low:.2f}-{s.high:.2f}) over {evidence.traces} traces",
        "",
    ]
    if reasons is not None:
        lines += ["**Gate: PASS**" if not reasons else "**Gate: FAIL**", *[f"- {r}" for r in reasons], ""]
    lines += ["| term | value | range | weight | how |", "|---|---|---|---|---|"]
    lines += [
        f"| {t.name}{'' if t.known else ' (unknown)'} | {t.value:.2f} | {t.low:.2f}-{t.high:.2f} | {t.weight:g} | {t.explanation} |"
        for t in s.terms
    ]
    lines += ["", "| " + " | ".join(TRUST_HEAD) + " |", "|" + "---|" * len(TRUST_HEAD)]
    lines += ["| " + " | ".join(r.replace("|", "/") for r in row) + " |" for row in _trust_rows(evidence)]
    if evidence.probes:
        lines += ["", "| bias probe | criterion | flips | flip rate |", "|---|---|---|---|"]
        lines += [f"| {p.change} | {p.criterion} | {p.flips}/{p.items} | {_fmt(p.flip_rate)} |" for p in evidence.probes]
    lines += _coverage_markdown(evidence) + _more_markdown(evidence)
    return "\n".join(lines) + "\n"


def _coverage_markdown(evidence: Evidence) -> list[str]:
    cov = evidence.coverage
    lines = [
        "",
        f"Coverage: {cov.covered:.0%} of cells ({cov.weighted:.0%} weighted, {cov.high_weight_coverage:.0%} of high-weight cells).",
    ]
    if cov.empty_heaviest:
        lines.append("Heaviest uncovered cells: " + ", ".join(f"{'/'.join(c)} (w {w:g})" for c, w in cov.empty_heaviest[:5]))
    if cov.open_edge_cases:
        lines.append("Open edge cases: " + ", ".join(cov.open_edge_cases))
    if evidence.decision_report is not None:
        o = evidence.decision_report.overall
        lines.append(
            f"Decision accuracy against the {evidence.decision_report.expected_source} expected actions: "
            f"{o.accuracy:.0%} ({o.correct}/{o.total}), 95% interval {o.low:.0%}-{o.high:.0%}."
        )
    return lines


def _more_markdown(evidence: Evidence) -> list[str]:
    """Agents, off-policy guardrails, sampling, critical failures and open failure modes."""
    lines: list[str] = []
    if evidence.agents:
        lines += ["", "| agent | kind | judged steps | failed | failure rate [95%] |", "|---|---|---|---|---|"]
        lines += [
            f"| {a.agent.replace('|', '/')} | {a.kind or '-'} | {a.judged} | {a.failed} | {_fmt(a.failure_rate)} |" for a in evidence.agents
        ]
        lines.append("")
    if evidence.guardrails:
        guardrails = [line.replace("|", "/") for line in _guardrail_lines(evidence)]
        lines += ["", "### Guardrails from logged history (off-policy)", *guardrails, ""]
    if evidence.sampling is not None:
        lines += ["", "### Sampling", *[line.replace("|", "/") for line in _sampling_lines(evidence)], ""]
    lines.append(f"Critical failures (trusted judges): {evidence.critical_failures}.")
    if evidence.open_modes:
        lines.append("Open failure modes: " + ", ".join(f"{m.id} {m.name} ({m.severity})" for m in evidence.open_modes))
    return lines


def _coverage_html(evidence: Evidence) -> str:
    """The coverage paragraph, the heatmap of the grid's first two dimensions and the open edge cases."""
    e = html.escape
    cov, space = evidence.coverage, evidence.space
    rows_dim, cols_dim = space.grid[0], space.grid[1] if len(space.grid) > 1 else None
    k = space.min_traces_per_cell
    parts: list[str] = []
    parts.append(
        f"<h2>Coverage of the scenario space</h2><p>{cov.covered:.0%} of cells covered ({cov.weighted:.0%} weighted; "
        f"{cov.high_weight_coverage:.0%} of high-weight cells); a cell counts with at least {k} trace(s).</p>"
    )
    if cols_dim:
        values_r, values_c = space.dimensions[rows_dim].values, space.dimensions[cols_dim].values
        head = "".join(f"<th>{e(c)}</th>" for c in values_c)
        body = ""
        for r in values_r:
            body += f"<tr><th>{e(r)} <small>(w {space.dimensions[rows_dim].weights.get(r, 1):g})</small></th>"
            for c in values_c:
                n = cov.cells.get((r, c), 0)
                body += f'<td class="cell" style="background:{_heat(n, k)}">{n}</td>'
            body += "</tr>"
        parts.append(f'<table class="heat"><tr><th>{e(rows_dim)} \\ {e(cols_dim)}</th>{head}</tr>{body}</table>')
    if cov.empty_heaviest:
        parts.append("<p>Heaviest uncovered cells: " + ", ".join(f"{e('/'.join(c))} (w {w:g})" for c, w in cov.empty_heaviest[:8]) + "</p>")
    if cov.open_edge_cases:
        parts.append("<p>Open edge cases (adversarial kinds without passing evidence): " + e(", ".join(cov.open_edge_cases)) + "</p>")
    return "".join(parts)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}table{border-collapse:collapse;margin:.5rem 0}"
    "td,th{border:1px solid #ddd;padding:4px 8px;font-size:14px;text-align:left}.bar{width:160px;height:10px;background:#eee}"
    ".bar div{height:10px}.score b{font-size:2rem}.gate.pass{color:#137333;font-weight:bold}.gate.fail{color:#c5221f;font-weight:bold}"
    ".heat td.cell{text-align:center;width:48px}"
)
e = html.escape


def to_html(evidence: Evidence, reasons: list[str] | None = None) -> str:
    """The go-live report as one self-contained page: every value from a run is escaped, nothing is fetched."""
    sections = (
        _score_html,
        _trust_html,
        _probes_html,
        _agents_html,
        _offpolicy_html,
        _coverage_html,
        _criteria_html,
        _decisions_html,
        _modes_html,
    )
    parts = [_title_html(evidence, reasons), *(section(evidence) for section in sections)]
    head = f"<!doctype html><html lang=en><head><meta charset=utf-8><title>chainjudge go-live report</title><style>{_STYLE}</style></head>"
    return f"{head}<body>{''.join(parts)}</body></html>"


def _title_html(evidence: Evidence, reasons: list[str] | None) -> str:
    s = evidence.score
    title = (
        f"<h1>Go-live report: run {e(evidence.run)}</h1>"
        f'<p class="score">Go-live confidence <b>{s.score:.2f}</b> <span>(range {s.low:.2f}-{s.high:.2f}, {evidence.traces} '
        f"traces)</span></p>"
    )
    if reasons is None:
        return title
    verdict = "PASS" if not reasons else "FAIL"
    return title + f'<p class="gate {verdict.lower()}">Gate: {verdict}</p>' + "".join(f"<li>{e(r)}</li>" for r in reasons)


def _score_html(evidence: Evidence) -> str:
    return (
        "<h2>Why this score</h2><table><tr><th>term</th><th>value</th><th></th><th>range</th><th>weight</th><th>how it was "
        "computed</th></tr>"
        + "".join(
            f"<tr><td>{e(t.name)}{'' if t.known else ' <b>(unknown)</b>'}</td><td>{t.value:.2f}</td><td>{_bar(t.value)}</td>"
            f"<td>{t.low:.2f}-{t.high:.2f}</td><td>{t.weight:g}</td><td>{e(t.explanation)}</td></tr>"
            for t in evidence.score.terms
        )
        + "</table>"
    )


def _trust_html(evidence: Evidence) -> str:
    return (
        "<h2>Can the judges be trusted? Raw and judge-error-corrected failure rates</h2><table><tr>"
        + "".join(f"<th>{e(h)}</th>" for h in TRUST_HEAD)
        + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in _trust_rows(evidence))
        + "</table>"
    )


def _probes_html(evidence: Evidence) -> str:
    if not evidence.probes:
        return ""
    return (
        "<h2>Bias probes (meaning-preserving changes that flipped the judge)</h2><table><tr><th>change</th><th>criterion</th>"
        "<th>flips</th><th>flip rate [95%]</th></tr>"
        + "".join(
            f"<tr><td>{e(p.change)}</td><td>{e(p.criterion)}</td><td>{p.flips}/{p.items}</td><td>{e(_fmt(p.flip_rate))}</td></tr>"
            for p in evidence.probes
        )
        + "</table>"
    )


def _agents_html(evidence: Evidence) -> str:
    if not evidence.agents:
        return ""
    return (
        "<h2>Agents (multi-agent run)</h2><table><tr><th>agent</th><th>kind</th><th>judged steps</th><th>failed</th>"
        "<th>failure rate [95%]</th><th></th></tr>"
        + "".join(
            f"<tr><td>{e(a.agent)}</td><td>{e(a.kind or '-')}</td><td>{a.judged}</td><td>{a.failed}</td>"
            f"<td>{e(_fmt(a.failure_rate))}</td><td>{_bar(a.failure_rate.value or 0.0, '#c5221f')}</td></tr>"
            for a in evidence.agents
        )
        + "</table>"
    )


def _offpolicy_html(evidence: Evidence) -> str:
    """The guardrails from logged history and, for a run a search drew, how it was sampled."""
    parts = []
    if evidence.guardrails:
        parts.append("<h2>Guardrails from logged history (off-policy)</h2>" + "".join(f"<p>{e(x)}</p>" for x in _guardrail_lines(evidence)))
    if evidence.sampling is not None:
        parts.append("<h2>Sampling (failure-seeking search)</h2>" + "".join(f"<p>{e(x)}</p>" for x in _sampling_lines(evidence)))
    return "".join(parts)


def _criteria_html(evidence: Evidence) -> str:
    return (
        "<h2>Pass rates per criterion</h2><table><tr><th>criterion</th><th>severity</th><th>pass rate</th><th></th><th>judge "
        "trust</th></tr>"
        + "".join(
            f"<tr><td>{e(c.criterion)}</td><td>{e(c.severity)}</td><td>{(c.passed / c.scored) if c.scored else 0:.0%}</td>"
            f"<td>{_bar(c.passed / c.scored if c.scored else 0, '#34a853')}</td><td>{e(c.trust)}</td></tr>"
            for c in evidence.criteria
        )
        + "</table>"
    )


def _decisions_html(evidence: Evidence) -> str:
    d = evidence.decision_report
    if d is None:
        return ""
    rows = [
        f"<tr><td>{e(dimension)}</td><td>{e(value)}</td><td>{rate.accuracy:.0%}</td><td>{_bar(rate.accuracy)}</td>"
        f"<td>{rate.low:.0%}-{rate.high:.0%}</td><td>{rate.total}</td></tr>"
        for dimension in ("segment", "market", "perturbation", "origin")
        for value, rate in d.by.get(dimension, {}).items()
    ]
    return (
        f"<h2>Decision accuracy</h2><p>against the {e(d.expected_source)} expected actions: {d.overall.accuracy:.0%} "
        f"({d.overall.correct}/{d.overall.total}), 95% interval {d.overall.low:.0%}-{d.overall.high:.0%}</p>"
        "<table><tr><th>by</th><th>value</th><th>accuracy</th><th></th><th>95% interval</th><th>n</th></tr>" + "".join(rows) + "</table>"
    )


def _modes_html(evidence: Evidence) -> str:
    if not evidence.open_modes:
        return ""
    return (
        "<h2>Open failure modes</h2><table><tr><th>mode</th><th>severity</th><th>in this run</th><th>exemplar</th></tr>"
        + "".join(
            f"<tr><td>{e(m.id)} {e(m.name)}</td><td>{e(m.severity)}</td><td>{m.count}</td><td>{e(m.exemplar[:200])}</td></tr>"
            for m in evidence.open_modes
        )
        + "</table>"
    )
