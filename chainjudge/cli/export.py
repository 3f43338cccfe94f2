"""Results out: `export` as rows (jsonl, csv) or as scores for OpenTelemetry, Langfuse and Phoenix."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from pathlib import Path

import chainjudge.cli.export_options as opt
from chainjudge.cli.app import app
from chainjudge.cli.support import DbOption, err, fail, open_store
from chainjudge.core.atomic import atomic_open, write_text_atomic

EXPORT_FIELDS = [
    "run",
    "trace_id",
    "step_index",
    "step_ref",
    "criterion_id",
    "label",
    "passed",
    "rationale",
    "evidence",
    "confidence",
    "judge",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_s",
    "rubric_hash",
    "prompt_hash",
    "cache_key",
    "flags",
    "created_at",
]


@app.command()
def export(
    run: opt.RunOption,
    fmt: opt.FmtOption = opt.ExportFormat.jsonl,
    output: opt.OutputOption = None,
    endpoint: opt.EndpointOption = None,
    header: opt.HeaderOption = None,
    db: DbOption = None,
) -> None:
    """A run's judgments out of chainjudge.

    jsonl / csv: one row per judgment (trace, step, criterion, label, passed, rationale, judge, error).
    otel / langfuse / phoenix: scores for the tools teams already look at, keyed to the judged trace's own
    trace and span (observation) ids when the trace came from spans.
    """
    if fmt.value in ("otel", "langfuse", "phoenix"):
        _export_scores(run, fmt.value, output, endpoint, header or [], db)
        return
    if endpoint:
        fail("--endpoint is for --format otel, langfuse or phoenix")
    with open_store(db) as store:
        if store.get_run(run) is None:
            fail(f"no run named {run!r} in {store.location}; see: chainjudge runs")
        rows = [_export_row(j) for j in store.judgments(run)]
    with atomic_open(output, newline="") if output else contextlib.nullcontext(sys.stdout) as handle:
        if fmt is opt.ExportFormat.jsonl:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(handle, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    if output:
        err.print(f"wrote {len(rows)} judgments to {output}")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = __import__("re").compile(r"[+-]?\d{1,30}(?:\.\d{1,30})?")


def spreadsheet_safe(value):
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or tab / CR) gets a leading
    apostrophe, so trace text like `=HYPERLINK(...)` stays text. Plain numbers such as -1 are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _export_row(j) -> dict:
    v = j.verdict
    return {
        "run": j.run,
        "trace_id": j.trace_id,
        "step_index": j.step_index,
        "step_ref": j.step_ref,
        "criterion_id": j.criterion_id,
        "label": v.label if v else None,
        "passed": j.passed,
        "rationale": v.rationale if v else None,
        "evidence": v.evidence if v else None,
        "confidence": v.confidence if v else None,
        "judge": j.judge,
        "error": j.error,
        "prompt_tokens": j.usage.prompt_tokens,
        "completion_tokens": j.usage.completion_tokens,
        "cost_usd": j.usage.cost_usd,
        "latency_s": round(j.latency_s, 3),
        "rubric_hash": j.rubric_hash,
        "prompt_hash": j.prompt_hash,
        "cache_key": j.cache_key,
        "flags": "; ".join(j.flags),
        "created_at": j.created_at.isoformat(),
    }


def _export_scores(run: str, fmt: str, output: Path | None, endpoint: str | None, headers: list[str], db) -> None:
    from chainjudge.export.run import build, check_header, send

    parsed = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            fail(f"--header {item!r} is not 'Name: value'")
        parsed[name.strip()] = value.strip()
    with open_store(db) as store:
        if store.get_run(run) is None:
            fail(f"no run named {run!r} in {store.location}; see: chainjudge runs")
        export = build(store, run, fmt)
    note = (
        f"{export.exported} judgments ({export.linked} linked to their source's ids; {export.skipped} left out: no verdict or no source id)"
    )
    if endpoint:
        try:
            for name, value in parsed.items():
                check_header(name, value)
        except ValueError as exc:
            fail(str(exc))
        replies = send(export, endpoint, fmt, parsed)
        for url, status, text in replies:
            err.print(f"{url}: {status or 'no answer'} {text[:200]}", highlight=False)
        if any(not 200 <= status < 300 for _, status, _ in replies):
            fail(f"the endpoint refused the export ({note})", 1)
        err.print(f"sent {note}", highlight=False)
        return
    text = json.dumps(export.document(), ensure_ascii=False, indent=1)
    if output:
        write_text_atomic(output, text + "\n")
        err.print(f"wrote {note} to {output}", highlight=False)
    else:
        sys.stdout.write(text + "\n")
