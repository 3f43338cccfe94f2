"""A live OTLP/HTTP trace receiver: point any OpenTelemetry-instrumented agent's exporter at it.

Accepts `POST /v1/traces` as protobuf or JSON, optionally gzip-compressed, stores every span as it
arrives (so spans of one trace may come in many exports, in any order) and rebuilds each touched trace
from all its stored spans, ready for `chainjudge judge --db ...`.  Bound to loopback by default;
bodies over the limit get 413 before they are read.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chainjudge.adapters import otel
from chainjudge.adapters.spans import build_trace
from chainjudge.store import Store

MAX_BODY_BYTES = 16 * 1024 * 1024
_HEX = re.compile(r"[0-9a-fA-F]+")


class BadRequest(ValueError):
    pass


def _hex_id(value: object) -> str | None:
    """Protobuf JSON carries ids as base64; OTLP JSON as hex. Return hex."""
    if not value:
        return None
    text = str(value)
    if len(text) in (16, 32) and _HEX.fullmatch(text):
        return text.lower()
    try:
        return base64.b64decode(text).hex()
    except ValueError:
        return text


def decode_request(body: bytes, content_type: str, content_encoding: str = "") -> dict:
    """An OTLP export request body -> the OTLP JSON structure (hex ids)."""
    if "gzip" in (content_encoding or "").lower():
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise BadRequest(f"bad gzip body: {exc}") from None
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
    elif kind in ("application/x-protobuf", "application/protobuf"):
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"invalid protobuf: {exc}") from None
        document = MessageToDict(request)
    else:
        raise BadRequest(f"unsupported Content-Type {content_type!r}; send application/x-protobuf or application/json")
    if not isinstance(document, dict):
        raise BadRequest("an OTLP export is a JSON object with resourceSpans")
    for resource_spans in document.get("resourceSpans") or []:
        for scope in resource_spans.get("scopeSpans") or []:
            for span in scope.get("spans") or []:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex_id(span[key])
    return document


@dataclass
class Collector:
    """Stores spans and rebuilds the traces they belong to. One writer at a time (a lock)."""

    store: Store
    spans: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ingest(self, document: dict) -> tuple[int, int]:
        rows, touched = [], set()
        for trace_id, span, resource in otel._otlp_spans(document):
            span_id = otel.span_id(span.get("spanId")) or f"anon-{len(rows)}"
            rows.append((trace_id, span_id, json.dumps(span)))
            touched.add(trace_id)
        with self._lock:
            added = self.store.add_spans(rows)
            rebuilt = []
            for trace_id in touched:
                spans = [otel.to_span(json.loads(raw), i)[1] for i, raw in enumerate(self.store.spans_of(trace_id))]
                rebuilt.append(build_trace(spans, trace_id, "otlp", otel.NAME).trace)
            self.store.save_traces(rebuilt)
            self.spans += added
        return added, len(touched)

    def trace_count(self) -> int:
        """Traces received so far (counted in the store: nothing kept in memory grows with them)."""
        with self._lock:
            return self.store.span_trace_count()


def make_server(collector: Collector, host: str = "127.0.0.1", port: int = 4318, max_body: int = MAX_BODY_BYTES) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _reply(self, status: int, payload: dict, content_type: str = "application/json") -> None:
            body = json.dumps(payload).encode() if content_type == "application/json" else b""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path in ("/", "/health"):
                self._reply(200, {"status": "ok", "spans": collector.spans, "traces": collector.trace_count()})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/traces":
                self._reply(404, {"error": "POST OTLP traces to /v1/traces"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > max_body:
                self.close_connection = True
                self._reply(413, {"error": f"body of {length} bytes is over the {max_body}-byte limit"})
                return
            body = self.rfile.read(length)
            content_type = self.headers.get("Content-Type", "")
            try:
                document = decode_request(body, content_type, self.headers.get("Content-Encoding", ""))
                collector.ingest(document)
            except BadRequest as exc:
                self._reply(400, {"error": str(exc)})
                return
            if content_type.startswith("application/json"):
                self._reply(200, {"partialSuccess": {}})
            else:
                self._reply(200, {}, content_type="application/x-protobuf")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
