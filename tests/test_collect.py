"""The live OTLP/HTTP receiver, end to end with the OpenTelemetry SDK's own exporter."""

import gzip
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from conftest import wait_for_http
from test_trace_formats import AGENT_SPANS, otlp

from chainjudge.core.judges.local import free_port
from chainjudge.core.schema import StepKind
from chainjudge.core.store import Store
from chainjudge.reading.collect import Collector, make_server


@pytest.fixture
def receiver(tmp_path):
    store = Store(tmp_path / "collect.db")
    collector = Collector(store)
    server = make_server(collector, "127.0.0.1", 0, max_body=200_000)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", collector, store
    server.shutdown()
    server.server_close()
    store.close()


def post(url, body, content_type="application/json", encoding=None):
    request = urllib.request.Request(url + "/v1/traces", data=body, method="POST", headers={"Content-Type": content_type})
    if encoding:
        request.add_header("Content-Encoding", encoding)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_opentelemetry_sdk_exporter_end_to_end(receiver):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    url, collector, store = receiver
    provider = TracerProvider(resource=Resource.create({"service.name": "cep-agent"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces", compression=Compression.Gzip)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "invoke_agent crm", attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "crm"}
    ) as root:
        with tracer.start_as_current_span(
            "chat",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Message user 7?"}]}]),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "consent", "arguments": {"user": 7}}]}]
                ),
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool consent",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "consent",
                "gen_ai.tool.call.id": "c1",
                "gen_ai.tool.call.result": "email only",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "chat",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "Email at 10:00 local."}]}]
                ),
            },
        ):
            pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    assert provider.force_flush(10_000)
    provider.shutdown()
    trace = store.get_trace(trace_id)
    assert trace is not None, store.trace_ids()
    assert [s.kind for s in trace.steps] == [StepKind.structure, StepKind.user, StepKind.tool_call, StepKind.tool_result, StepKind.decision]
    assert trace.steps[3].parent_ref == trace.steps[2].ref and trace.steps[4].text == "Email at 10:00 local."
    assert collector.spans == 4


def test_json_gzip_and_spans_spread_over_exports(receiver):
    url, collector, store = receiver
    first, second = AGENT_SPANS[:2], AGENT_SPANS[2:]
    assert post(url, gzip.compress(json.dumps(otlp(second)).encode()), encoding="gzip")[0] == 200  # out of order
    assert post(url, json.dumps(otlp(first)).encode())[0] == 200
    assert post(url, json.dumps(otlp(first)).encode())[0] == 200  # a repeated export changes nothing
    trace = store.get_trace("0af7651916cd43dd8448eb211c80319c")
    assert [s.ref for s in trace.steps] == ["a1", "l1:in0", "l1", "t1", "l2"]
    assert collector.spans == 5  # 4 gen_ai spans + 1 HTTP span stored raw; noise dropped when building


def test_oversized_bad_and_unsupported_bodies(receiver):
    url, _, store = receiver
    status, body = post(url, b"x" * 300_000)
    assert status == 413 and b"limit" in body
    assert post(url, b"{not json")[0] == 400
    assert post(url, b"\x00\x01garbage", content_type="application/x-protobuf")[0] == 400
    assert post(url, b"<xml/>", content_type="text/xml")[0] == 400
    assert store.trace_ids() == []


@pytest.mark.parametrize("started_with_sigint_ignored", [False, True])
def test_collect_command_listens_on_loopback_and_reports(tmp_path, started_with_sigint_ignored):
    """Also when started as a shell's background job (SIGINT ignored), Ctrl-C still stops it and it reports."""
    port = free_port()
    db = tmp_path / "c.db"
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if started_with_sigint_ignored else None
    process = subprocess.Popen(
        [sys.executable, "-m", "chainjudge.cli", "collect", "--listen", f"127.0.0.1:{port}", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ignore,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/health", process, timeout_s=30)
        assert post(url, json.dumps(otlp(AGENT_SPANS)).encode())[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/v1/traces" in output and "received 5 spans in 1 traces" in output
    with Store(db) as store:
        assert store.trace_ids() == ["0af7651916cd43dd8448eb211c80319c"]


def test_a_stop_signal_while_a_connection_thread_starts_still_stops_the_receiver(tmp_path, monkeypatch):
    """SIGTERM arriving while the server waits for a connection's thread to start (the thread already ran and
    gave its connection slot back) released the slot a second time: "Semaphore released too many times"
    replaced the KeyboardInterrupt and the receiver ignored the signal (seen in the full suite, under load)."""
    import socket
    import threading

    store = Store(tmp_path / "c.db")
    server = make_server(Collector(store), "127.0.0.1", 0, max_connections=2)
    real_start = threading.Thread.start

    def start_then_interrupted(thread):  # the thread runs to its end, then the signal lands in start()
        real_start(thread)
        thread.join(10)
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start_then_interrupted)
    client = socket.create_connection(server.server_address)
    client.close()
    try:
        with pytest.raises(KeyboardInterrupt):
            server._handle_request_noblock()
    finally:
        monkeypatch.undo()
        server.server_close()
        store.close()
    assert server._connections._value == 2  # every slot back, none given back twice
