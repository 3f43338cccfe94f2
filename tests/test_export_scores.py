"""Scores out to where teams look: OpenTelemetry GenAI evaluation events, Langfuse scores, Phoenix
annotations.  Round trips on the shared span files: judged against the fake judge, exported, and every
exported score points at an id that exists in the source file; the OTLP export is received by the real
`collect` receiver and parsed back into judge labels."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT, fake_judge_args
from typer.testing import CliRunner

from chainjudge.cli import app
from chainjudge.core.store import Store
from chainjudge.reading.collect import Collector, make_server

SPAN_FILES = [
    ROOT / "tests/data/trace-formats/langfuse/langfuse_langgraph-python-2025-08-22.trace.json",
    ROOT / "tests/data/trace-formats/openinference/langfuse_openai-agents-2025-09-30.trace.json",
    ROOT / "tests/data/trace-formats/otel-genai/any-agent_OPENAI_trace.json",
    ROOT / "tests/fixtures/phoenix-spans.json",
]
RUBRIC = ROOT / "rubrics" / "step-quality.yaml"


def source_ids(path) -> set[str]:
    """Every string in the source file, lower-cased, the hex of any that is base64 (protobuf JSON ids) and of
    every integer (SDK dumps write ids as numbers)."""
    found: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            found.update({f"{value:032x}", f"{value:016x}"})
        elif isinstance(value, str):
            found.add(value.lower())
            try:
                found.add(base64.b64decode(value, validate=True).hex())
            except ValueError:
                pass

    walk(json.loads(path.read_text()))
    return found


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    from chainjudge.testing.fakejudge import FakeJudgeServer

    db = tmp_path_factory.mktemp("export") / "e.db"
    with FakeJudgeServer() as server:
        for i, path in enumerate(SPAN_FILES):
            result = CliRunner().invoke(
                app,
                fake_judge_args(path, RUBRIC, server.url, db, f"r{i}"),
            )
            assert result.exit_code == 0, result.output
    return db


def export(db, run: str, fmt: str, tmp_path, *extra) -> dict:
    out = tmp_path / f"{run}.{fmt}.json"
    result = CliRunner().invoke(app, ["export", run, "--format", fmt, "--db", str(db), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.mark.parametrize("index", range(len(SPAN_FILES)), ids=[p.name for p in SPAN_FILES])
def test_every_exported_score_points_at_an_id_in_the_source_file(judged, tmp_path, index):
    ids = source_ids(SPAN_FILES[index])
    with Store(judged) as store:
        judgments = list(store.judgments(f"r{index}"))
    assert judgments

    otel = export(judged, f"r{index}", "otel", tmp_path)
    records = otel["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert len(records) == len(judgments)
    linked = [r for r in records if "spanId" in r]
    assert linked and all(r["traceId"] in ids and r["spanId"] in ids for r in linked)
    attributes = {a["key"] for a in records[0]["attributes"]}
    assert records[0]["eventName"] == "gen_ai.evaluation.result"
    assert {
        "gen_ai.evaluation.name",
        "gen_ai.evaluation.score.label",
        "gen_ai.evaluation.explanation",
        "gen_ai.evaluation.score.value",
    } <= attributes

    langfuse = export(judged, f"r{index}", "langfuse", tmp_path)["batch"]
    assert langfuse and all(e["type"] == "score-create" and e["body"]["traceId"] in ids for e in langfuse)
    assert all(e["body"]["observationId"] in ids for e in langfuse if "observationId" in e["body"])

    phoenix = export(judged, f"r{index}", "phoenix", tmp_path)
    spans = phoenix.get("data") if "data" in phoenix else phoenix.get("/v1/span_annotations", {}).get("data", [])
    assert spans and all(a["span_id"] in ids for a in spans)


def test_the_otlp_export_is_received_by_collect_and_parsed_back(judged, tmp_path):
    with Store(tmp_path / "received.db") as receiving:
        server = make_server(Collector(receiving), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            result = CliRunner().invoke(app, ["export", "r2", "--format", "otel", "--db", str(judged), "--endpoint", url])
            assert result.exit_code == 0, result.output
            assert "/v1/logs: 200" in result.output
        finally:
            server.shutdown()
            server.server_close()
        labels = receiving.labels()
    with Store(judged) as store:
        judgments = [j for j in store.judgments("r2") if j.verdict]
    assert {(lab.trace_id, lab.step_ref, lab.criterion, lab.value) for lab in labels} == {
        (j.trace_id, j.step_ref, j.criterion_id, j.verdict.label) for j in judgments
    }
    assert all(lab.kind == "judge" and lab.annotator == "otel:openai/fake" for lab in labels)


class _Capture(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def capture():
    handler = type("Handler", (_Capture,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_langfuse_and_phoenix_payloads_go_to_their_apis_with_their_keys(judged, capture, monkeypatch):
    handler, url = capture
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk")
    assert CliRunner().invoke(app, ["export", "r0", "--format", "langfuse", "--db", str(judged), "--endpoint", url]).exit_code == 0
    path, auth, body = handler.received[-1]
    assert path == "/api/public/ingestion" and auth == "Basic " + base64.b64encode(b"pk:sk").decode()
    assert body["batch"][0]["body"]["dataType"] == "CATEGORICAL"
    result = CliRunner().invoke(
        app, ["export", "r3", "--format", "phoenix", "--db", str(judged), "--endpoint", url, "--header", "X-Team: crm"]
    )
    assert result.exit_code == 0, result.output
    assert {p for p, _, _ in handler.received} >= {"/v1/span_annotations"}


def test_a_refused_export_exits_1_and_says_so(judged, capture):
    handler, url = capture
    handler.status = 401
    result = CliRunner().invoke(app, ["export", "r0", "--format", "phoenix", "--db", str(judged), "--endpoint", url])
    assert result.exit_code == 1 and "401" in result.output and "refused" in result.output


def test_an_export_re_run_gives_the_same_langfuse_ids(judged, tmp_path):
    first = export(judged, "r0", "langfuse", tmp_path)
    again = export(judged, "r0", "langfuse", tmp_path)
    assert [e["body"]["id"] for e in first["batch"]] == [e["body"]["id"] for e in again["batch"]]
