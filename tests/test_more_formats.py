"""Two common exports that did not read before, a partial span export that is repaired with nothing
lost (exit 0, repairs listed), and --help that reads as written paragraphs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.schema import RecordError, Trace
from chainjudge.reading import read_file, sniff
from chainjudge.reading.loading import iter_records

FIXTURES = Path(__file__).resolve().parent / "fixtures"
cli = CliRunner()


def test_a_phoenix_span_export_reads_without_format(tmp_path):
    (trace,) = list(read_file(FIXTURES / "phoenix-spans.json"))
    assert trace.format == "openinference" and trace.id == "5b8aa5a2d2c872e8321cf37308d69df2"
    kinds = [s.kind.value for s in trace.steps]
    assert kinds == ["structure", "user", "tool_call", "tool_result", "decision"]
    call, result = trace.steps[2], trace.steps[3]
    assert call.tool_calls[0].name == "get_profile" and result.parent_ref == call.ref  # nested attributes, paired
    shown = cli.invoke(app, ["traces", "show", str(FIXTURES / "phoenix-spans.json")])
    assert shown.exit_code == 0 and "pass --format" not in shown.output  # was rejected


def test_a_devai_trajectory_reads_without_format():
    (record,) = list(iter_records(FIXTURES / "devai-trajectory.json"))
    assert sniff(record.value) == "devai"
    (trace,) = list(read_file(FIXTURES / "devai-trajectory.json"))
    kinds = [(s.kind.value, s.ref) for s in trace.steps]
    assert kinds[:4] == [("user", "0.user"), ("reasoning", "0.thought"), ("tool_call", "0.action"), ("tool_result", "0.env")]
    assert trace.steps[3].parent_ref == "0.action" and trace.steps[-1].kind.value == "decision"
    assert trace.steps[5].tool_calls[0].name == "editor"
    assert trace.metadata["usage"] == {"prompt_tokens": 4543, "completion_tokens": 311}


def test_a_partial_span_export_is_repaired_listed_and_exits_0(tmp_path):
    spans = json.loads((FIXTURES / "phoenix-spans.json").read_text())
    partial = [s for s in spans if s["context"]["span_id"] != "051581bf3cb55c13"]  # the root never arrived
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial))
    items = list(read_file(path))
    repairs = [i for i in items if isinstance(i, RecordError)]
    assert repairs and all(r.repaired and "never arrived" in r.reason for r in repairs)
    assert [i for i in items if isinstance(i, Trace)]
    shown = cli.invoke(app, ["traces", "show", str(path)])
    assert shown.exit_code == 0, shown.output  # was 1, as if records were lost
    assert "repaired" in shown.output and "never arrived" in shown.output


def test_help_reads_as_paragraphs():
    result = cli.invoke(app, ["collect", "--help"], terminal_width=200)
    text = result.output
    assert "store the traces for judging" in " ".join(text.split())
    line = next(label for label in text.splitlines() if "Receive OTLP/HTTP" in label)
    assert "store the traces for judging" in line  # one paragraph, wrapped by the terminal only
