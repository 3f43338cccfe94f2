"""Files chainjudge reads: `schema`, `rubric check`, `traces show`, `collect` (live OTLP)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

import chainjudge.cli.files_options as opt
from chainjudge.cli.app import rubric_app, schema_app, traces_app
from chainjudge.cli.judge_options import SplitChoice
from chainjudge.cli.options_command import from_options
from chainjudge.cli.support import err, out
from chainjudge.core.rubric import RubricError, load_rubric, rubric_hash, rubric_json_schema
from chainjudge.core.schema import Trace


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


@dataclass(frozen=True, kw_only=True)
class TracesShowOptions:
    """What `traces show` is asked: its options, parsed into one request."""

    files: opt.FilesOption
    fmt: opt.FmtOption = "auto"
    split: opt.SplitOption = SplitChoice.none
    as_json: opt.AsJsonOption = False


@traces_app.command("show")
@from_options(TracesShowOptions)
def traces_show(args: TracesShowOptions) -> None:
    """How each trace was decomposed: the step tree with kind, ref, parent, an excerpt and tool pairing,
    so you see what the judge will see before paying for a run."""
    from chainjudge.core.schema import RecordError
    from chainjudge.reading import read_traces

    problems = 0
    for item in read_traces(args.files, args.fmt, args.split.value):  # type: ignore[arg-type]
        if isinstance(item, RecordError):
            if item.repaired:  # nothing lost: listed, not a failure
                err.print(Text("repaired", style="cyan"), str(item), highlight=False)
                continue
            problems += 1
            err.print(Text("problem", style="yellow"), str(item), highlight=False)
            continue
        if args.as_json:
            print(item.model_dump_json())
            continue
        out.print(_step_tree(item))
    if problems:
        raise typer.Exit(1)


def _step_tree(trace: Trace) -> Tree:
    """The trace's steps as a tree: kind, ref, tool pairing and an excerpt, each under its parent."""
    root = Tree(f"{trace.id}  ({trace.format}, {len(trace.steps)} steps, from {trace.source or '?'})")
    refs = {s.ref for s in trace.steps}
    nodes: dict[str, Tree] = {}
    for step in trace.steps:
        excerpt = " ".join(step.render().split())
        excerpt = excerpt[:100] + ("…" if len(excerpt) > 100 else "")
        pairing = ""
        if step.kind.value == "tool_call":
            pairing = f" calls {', '.join(c.name for c in step.tool_calls)}"
        elif step.kind.value == "tool_result":
            pairing = f" ← result of {step.parent_ref}" if step.parent_ref and step.parent_ref in refs else " (unpaired)"
        label = f"{step.index} {step.kind.value} ref={step.ref}{pairing}: {excerpt}"
        parent = nodes.get(step.parent_ref or "") if step.kind.value != "tool_result" else None
        nodes[step.ref] = (parent or root).add(label)
    return root
