"""Files chainjudge reads: `schema`, `rubric check`, `traces show`, `collect` (live OTLP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from chainjudge.cli.app import app, rubric_app, schema_app, traces_app
from chainjudge.cli.judging import SplitChoice
from chainjudge.cli.support import DbOption, err, fail, open_store, out
from chainjudge.core.rubric import RubricError, load_rubric, rubric_hash, rubric_json_schema
from chainjudge.core.schema import Trace
from chainjudge.reading import FORMATS


@schema_app.command("trace")
def schema_trace() -> None:
    """JSON Schema of one line of native chainjudge JSONL."""
    schema = Trace.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out.print_json(json.dumps(schema))


@schema_app.command("rubric")
def schema_rubric() -> None:
    """JSON Schema of a rubric YAML file."""
    out.print_json(json.dumps(rubric_json_schema()))


@rubric_app.command("check")
def rubric_check(files: Annotated[list[Path], typer.Argument(help="Rubric YAML files.")]) -> None:
    """Validate rubric files; print each one's id, version hash and criteria, or what is wrong."""
    bad = 0
    for file in files:
        try:
            rubric = load_rubric(file)
        except RubricError as exc:
            bad += 1
            err.print(Text("✗", style="red"), f"{exc}", highlight=False)
            continue
        kinds = lambda c: ",".join(k.value for k in c.applies_to)  # noqa: E731
        out.print(Text("✓", style="green"), f"{file}: rubric {rubric.id}@{rubric_hash(rubric)}", highlight=False)
        for c in rubric.criteria:
            out.print(f"    {c.id} ({c.scale.type}, severity {c.severity}) on {kinds(c)}", highlight=False)
    if bad:
        raise typer.Exit(2)


@traces_app.command("show")
def traces_show(
    files: Annotated[list[Path], typer.Argument(help="Trace files or directories.", exists=True)],
    fmt: Annotated[str, typer.Option("--format", help=f"Trace format: {', '.join(FORMATS)}.")] = "auto",
    split: Annotated[SplitChoice, typer.Option(help="Split free-text agent messages into steps.")] = SplitChoice.none,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Trace models as JSON lines.")] = False,
) -> None:
    """How each trace was decomposed: the step tree with kind, ref, parent, an excerpt and tool pairing,
    so you see what the judge will see before paying for a run."""
    from rich.tree import Tree

    from chainjudge.core.schema import RecordError
    from chainjudge.reading import read_traces

    problems = 0
    for item in read_traces(files, fmt, split.value):  # type: ignore[arg-type]
        if isinstance(item, RecordError):
            if item.repaired:  # nothing lost: listed, not a failure
                err.print(Text("repaired", style="cyan"), str(item), highlight=False)
                continue
            problems += 1
            err.print(Text("problem", style="yellow"), str(item), highlight=False)
            continue
        if as_json:
            print(item.model_dump_json())
            continue
        root = Tree(f"{item.id}  ({item.format}, {len(item.steps)} steps, from {item.source or '?'})")
        nodes: dict[str, Tree] = {}
        for step in item.steps:
            excerpt = " ".join(step.render().split())
            excerpt = excerpt[:100] + ("…" if len(excerpt) > 100 else "")
            pairing = ""
            if step.kind.value == "tool_call":
                names = ", ".join(c.name for c in step.tool_calls)
                pairing = f" calls {names}"
            elif step.kind.value == "tool_result":
                pairing = (
                    f" ← result of {step.parent_ref}"
                    if step.parent_ref and step.parent_ref in {s.ref for s in item.steps}
                    else " (unpaired)"
                )
            label = f"{step.index} {step.kind.value} ref={step.ref}{pairing}: {excerpt}"
            parent = nodes.get(step.parent_ref) if step.kind.value != "tool_result" else None
            nodes[step.ref] = (parent or root).add(label)
        out.print(root)
    if problems:
        raise typer.Exit(1)


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM end the receiver cleanly, even when it was started as a background job of
    a non-interactive shell, which starts it with SIGINT ignored (a `&` in a CI script does)."""
    import signal

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


@app.command()
def collect(
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to listen on (loopback by default; OTLP/HTTP's usual port is 4318).")
    ] = "127.0.0.1:4318",
    max_body_mb: Annotated[float, typer.Option(help="Refuse export bodies larger than this, as sent or once inflated, with 413.")] = 16.0,
    max_concurrent: Annotated[int, typer.Option(min=1, max=256, help="Exports worked on at once; more get 503.")] = 8,
    max_connections: Annotated[int, typer.Option(min=1, max=4096, help="Connections held open at once; more are closed on arrival.")] = 64,
    request_timeout: Annotated[
        float,
        typer.Option(min=1, max=3600, help="Seconds a client has for a whole request (headers and body); then the connection is closed."),
    ] = 60.0,
    db: DbOption = None,
) -> None:
    """Receive OTLP/HTTP trace exports (protobuf or JSON, gzip) from instrumented agents and store the
    traces for judging. Point an exporter at http://HOST:PORT/v1/traces; Ctrl-C stops."""
    from chainjudge.core.judges.resolve import is_loopback
    from chainjudge.reading.collect import Collector, make_server

    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        fail(f"--listen takes HOST:PORT with a port from 0 to 65535; got {listen!r}")
    if not is_loopback(f"http://{host}:{port}"):
        err.print(Text("warning:", style="yellow"), f"listening on {host}, reachable from other machines; traces may hold customer data")
    store = open_store(db)
    collector = Collector(store)
    try:
        server = make_server(
            collector,
            host,
            int(port),
            int(max_body_mb * 1024 * 1024),
            max_concurrent=max_concurrent,
            deadline_s=request_timeout,
            max_connections=max_connections,
        )
    except (OSError, OverflowError) as exc:
        fail(f"cannot listen on {listen}: {exc.strerror or exc}")
    out.print(
        f"collecting OTLP traces at http://{host}:{server.server_address[1]}/v1/traces into {store.location} (Ctrl-C stops)",
        highlight=False,
    )
    _stop_on_signals()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        out.print(f"received {collector.spans} spans in {collector.trace_count()} traces")
        store.close()
