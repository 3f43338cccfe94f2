"""A live OTLP/HTTP trace receiver: point any OpenTelemetry-instrumented agent's exporter at it.

Accepts `POST /v1/traces` as protobuf or JSON, optionally gzip-compressed, stores every span as it
arrives (so spans of one trace may come in many exports, in any order) and rebuilds each touched trace
from all its stored spans, ready for `chainjudge judge --db ...`.  `POST /v1/logs` takes GenAI
evaluation events (`gen_ai.evaluation.result`) and stores them as judge labels (`evaluations.py`).

It is written to face hostile clients: bound to loopback by default; a request must declare its length
(411 without one, 400 for a negative or non-numeric one) and exactly that many bytes are read, each read
under a socket timeout; a body over the limit gets 413 before it is read; a compressed body is inflated
as a stream and the same limit applies to what comes out (a gzip bomb gets 413 after at most the limit
plus one chunk in memory); and at most `max_concurrent` requests are worked on at once (503 past that).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chainjudge.reading import otel
from chainjudge.reading.spans import build_trace
from chainjudge.core.store import Store

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_CONCURRENT = 8
READ_TIMEOUT_S = 30.0
_CHUNK = 64 * 1024
_HEX = re.compile(r"[0-9a-fA-F]+")


class BadRequest(ValueError):
    pass


class TooLarge(ValueError):
    """The body, as sent or once inflated, is over the limit."""


class LengthRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_length(header: str | None, limit: int) -> int:
    """The declared Content-Length, or an HTTP status that refuses the request: 411 when it is missing,
    400 when it is not a non-negative decimal number, 413 when it is over the limit."""
    if header is None:
        raise LengthRefused(411, "a Content-Length header is required (chunked bodies are not accepted)")
    text = header.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 19:
        raise LengthRefused(400, f"Content-Length {header[:40]!r} is not a non-negative number")
    length = int(text)
    if length > limit:
        raise LengthRefused(413, f"body of {length} bytes is over the {limit}-byte limit")
    return length


def inflate(body: bytes, limit: int) -> bytes:
    """gzip / zlib body -> bytes, inflated as a stream: past `limit` output bytes it raises TooLarge
    (so a 200 KB bomb that would inflate to 200 MB is refused holding at most `limit` + one chunk)."""
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header, detected
    parts, size, pending = [], 0, body
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, _CHUNK)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the body inflates past the {limit}-byte limit")
            parts.append(chunk)
    except zlib.error as exc:
        raise BadRequest(f"bad gzip body: {exc}") from None
    if not inflater.eof:
        raise BadRequest("bad gzip body: truncated")
    return b"".join(parts)


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


def decode_request(body: bytes, content_type: str, content_encoding: str = "", limit: int = MAX_BODY_BYTES,
                   signal: str = "traces") -> dict:
    """An OTLP export request body (`signal`: traces or logs) -> the OTLP JSON structure (hex ids)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = inflate(body, limit)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {content_encoding[:40]!r}; send gzip or none")
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
    elif kind in ("application/x-protobuf", "application/protobuf"):
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        if signal == "logs":
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest as Request
        else:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as Request

        request = Request()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"invalid protobuf: {exc}") from None
        document = MessageToDict(request)
    else:
        raise BadRequest(f"unsupported Content-Type {content_type!r}; send application/x-protobuf or application/json")
    if not isinstance(document, dict):
        raise BadRequest(f"an OTLP export is a JSON object with resource{'Logs' if signal == 'logs' else 'Spans'}")
    outer, inner, items = ("resourceLogs", "scopeLogs", "logRecords") if signal == "logs" else ("resourceSpans", "scopeSpans", "spans")
    for resource in document.get(outer) or []:
        for scope in resource.get(inner) or []:
            for item in scope.get(items) or []:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = _hex_id(item[key])
    return document


@dataclass
class Collector:
    """Stores spans and rebuilds the traces they belong to. One writer at a time (a lock)."""

    store: Store
    spans: int = 0
    evaluations: int = 0
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
            self.store.save_traces(rebuilt, prune_unpinned=True)
            self.spans += added
        return added, len(touched)

    def ingest_evaluations(self, document: dict) -> tuple[int, int]:
        """Evaluation events -> judge labels. Returns (labels stored, events skipped)."""
        from chainjudge.reading.evaluations import labels_from_logs

        labels, skipped = labels_from_logs(document)
        with self._lock:
            stored = self.store.add_labels(labels)
            self.evaluations += stored
        return stored, skipped

    def trace_count(self) -> int:
        """Traces received so far (counted in the store: nothing kept in memory grows with them)."""
        with self._lock:
            return self.store.span_trace_count()


class OTLPHandler(BaseHTTPRequestHandler):
    """One export request.  `make_server` makes a subclass carrying the collector and the limits."""

    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S  # every read from the socket, headers included, gives up after this
    collector: Collector
    max_body = MAX_BODY_BYTES
    max_concurrent = MAX_CONCURRENT
    slots: threading.BoundedSemaphore

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
            self._reply(200, {"status": "ok", "spans": self.collector.spans, "traces": self.collector.trace_count(),
                              "evaluations": self.collector.evaluations})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/traces", "/v1/logs"):
            self._reply(404, {"error": "POST OTLP traces to /v1/traces (evaluation events to /v1/logs)"})
            return
        if not self.slots.acquire(blocking=False):
            self.close_connection = True
            self._reply(503, {"error": f"busy: {self.max_concurrent} exports are being received; retry"})
            return
        try:
            self._receive()
        finally:
            self.slots.release()

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True  # the unread body (if any) must not be parsed as the next request
        self._reply(status, {"error": message})

    def _read_exactly(self, length: int) -> bytes | None:
        parts, left = [], length
        while left:
            chunk = self.rfile.read(min(left, _CHUNK))
            if not chunk:
                return None
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _receive(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "chunked bodies are not accepted; send a Content-Length")
            return
        try:
            length = parse_length(self.headers.get("Content-Length"), self.max_body)
        except LengthRefused as exc:
            self._refuse(exc.status, str(exc))
            return
        try:
            body = self._read_exactly(length)
        except TimeoutError:
            self._refuse(408, f"the body did not arrive within {self.timeout:g} s")
            return
        if body is None:
            self.close_connection = True
            return  # the client went away before sending what it declared
        content_type = self.headers.get("Content-Type", "")
        try:
            logs = self.path.rstrip("/") == "/v1/logs"
            document = decode_request(body, content_type, self.headers.get("Content-Encoding", ""), self.max_body,
                                      "logs" if logs else "traces")
            (self.collector.ingest_evaluations if logs else self.collector.ingest)(document)
        except TooLarge as exc:
            self._refuse(413, str(exc))
            return
        except BadRequest as exc:
            self._reply(400, {"error": str(exc)})
            return
        if content_type.startswith("application/json"):
            self._reply(200, {"partialSuccess": {}})
        else:
            self._reply(200, {}, content_type="application/x-protobuf")


def make_server(
    collector: Collector, host: str = "127.0.0.1", port: int = 4318, max_body: int = MAX_BODY_BYTES,
    max_concurrent: int = MAX_CONCURRENT, read_timeout_s: float = READ_TIMEOUT_S,
) -> ThreadingHTTPServer:
    handler = type("Handler", (OTLPHandler,), {
        "collector": collector, "max_body": max_body, "max_concurrent": max_concurrent, "timeout": read_timeout_s,
        "slots": threading.BoundedSemaphore(max_concurrent)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
