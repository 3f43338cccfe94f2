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

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chainjudge.core.store import Store
from chainjudge.reading import otel
from chainjudge.reading.otlp_decode import (  # noqa: F401  (re-exported: the receiver's decoding)
    _CHUNK,
    MAX_BODY_BYTES,
    BadRequest,
    LengthRefused,
    TooLarge,
    decode_request,
    inflate,
    parse_length,
)
from chainjudge.reading.spans import build_trace

MAX_CONCURRENT = 8
READ_TIMEOUT_S = 30.0
REQUEST_DEADLINE_S = 60.0  # the whole request, headers and body: a client trickling bytes is cut off here
MAX_CONNECTIONS = 64  # open connections at once; more are closed on accept, before a thread is started


@dataclass
class Collector:
    """Stores spans and rebuilds the traces they belong to. One writer at a time (a lock).

    The spans of an export and the traces they touch are written in one transaction: a kill between the
    two can no longer leave spans without their trace.  The parsed spans of recently touched traces stay in
    memory (`cache_traces` of them), so an export to a long trace parses its new spans only, not every
    stored one again (1,200 one-span exports to one trace used to re-read all stored spans each time)."""

    store: Store
    spans: int = 0
    evaluations: int = 0
    cache_traces: int = 64
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _parsed: "OrderedDict[str, list]" = field(default_factory=OrderedDict)

    def ingest(self, document: dict) -> tuple[int, int]:
        rows: list[tuple[Any, ...]] = []
        touched: dict[str, list[dict[str, Any]]] = {}
        for trace_id, span, _resource in otel._otlp_spans(document):
            span_id = otel.span_id(span.get("spanId")) or f"anon-{len(rows)}"
            rows.append((trace_id, span_id, json.dumps(span)))
            touched.setdefault(trace_id, []).append(span)
        with self._lock, self.store.transaction():
            added = self.store.add_spans(rows)
            rebuilt = [
                build_trace(self._spans_of(trace_id, new, added), trace_id, "otlp", otel.NAME).trace for trace_id, new in touched.items()
            ]
            self.store.save_traces(rebuilt, prune_unpinned=True)
            self.spans += added
        return added, len(touched)

    def _spans_of(self, trace_id: str, new: list[dict], added: int) -> list:
        """Every stored span of the trace, parsed: from memory plus the new ones when the trace is cached
        and every new span was stored (a span id seen before is ignored by the store), else from the store."""
        cached = self._parsed.get(trace_id)
        if cached is not None and added == len(new) and self._cache_fresh(trace_id, len(cached) + len(new)):
            spans = cached + [otel.to_span(raw, len(cached) + i)[1] for i, raw in enumerate(new)]
        else:
            spans = [otel.to_span(json.loads(raw), i)[1] for i, raw in enumerate(self.store.spans_of(trace_id))]
        self._parsed[trace_id] = spans
        self._parsed.move_to_end(trace_id)
        while len(self._parsed) > self.cache_traces:
            self._parsed.popitem(last=False)
        return spans

    def _cache_fresh(self, trace_id: str, expected: int) -> bool:
        """The cache is only trusted when the store holds exactly the spans it has plus the new ones (no
        other process wrote to this trace meanwhile)."""
        return self.store.span_count(trace_id) == expected

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


class _DeadlineReader:
    """The request's input stream, with every read bounded by what is left of the request's deadline (not
    only by a per-read timeout, which a client sending one byte every few seconds resets forever)."""

    def __init__(self, raw, connection, deadline: float, read_timeout: float) -> None:
        self._raw, self._connection, self._deadline, self._read_timeout = raw, connection, deadline, read_timeout

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self._connection.settimeout(min(left, self._read_timeout))

    def read(self, size: int = -1) -> bytes:
        """Up to SIZE bytes, one socket read at a time (a buffered read(n) waits for all n, whatever the
        deadline, while a client sends one byte at a time)."""
        if size is None or size < 0:
            raise ValueError("the receiver reads declared lengths only")
        parts, left = [], size
        while left:
            self._arm()
            chunk = self._raw.read1(left)
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def readline(self, limit: int = -1) -> bytes:
        """A line, one socket read at a time, within the deadline (headers sent a byte at a time included)."""
        line = bytearray()
        while limit < 0 or len(line) < limit:
            self._arm()
            available = self._raw.peek(1)  # what is buffered, or one socket read
            if not available:
                break
            end = available.find(b"\n")
            take = len(available) if end < 0 else end + 1
            if limit >= 0:
                take = min(take, limit - len(line))
            line += self._raw.read(take)  # already buffered: does not wait
            if line.endswith(b"\n"):
                break
        return bytes(line)

    def __getattr__(self, name):
        return getattr(self._raw, name)


class OTLPHandler(BaseHTTPRequestHandler):
    """One export request.  `make_server` makes a subclass carrying the collector and the limits."""

    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S  # every read from the socket, headers included, gives up after this
    deadline_s = REQUEST_DEADLINE_S  # ... and the whole request after this
    collector: Collector
    max_body = MAX_BODY_BYTES
    max_concurrent = MAX_CONCURRENT
    slots: threading.BoundedSemaphore

    def log_message(self, *args) -> None:
        pass

    def handle_one_request(self) -> None:
        """Each request on the connection gets its own deadline; past it the connection is closed."""
        raw = self.rfile if not isinstance(self.rfile, _DeadlineReader) else self.rfile._raw
        self.rfile = _DeadlineReader(raw, self.connection, time.monotonic() + self.deadline_s, self.timeout)  # type: ignore[assignment]
        try:
            super().handle_one_request()
        except TimeoutError:
            self.close_connection = True

    def _reply(self, status: int, payload: dict, content_type: str = "application/json") -> None:
        body = json.dumps(payload).encode() if content_type == "application/json" else b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path in ("/", "/health"):
            self._reply(
                200,
                {
                    "status": "ok",
                    "spans": self.collector.spans,
                    "traces": self.collector.trace_count(),
                    "evaluations": self.collector.evaluations,
                },
            )
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
            self._refuse(408, f"the request did not arrive within its time ({self.timeout:g} s a read, {self.deadline_s:g} s in all)")
            return
        if body is None:
            self.close_connection = True
            return  # the client went away before sending what it declared
        content_type = self.headers.get("Content-Type", "")
        try:
            logs = self.path.rstrip("/") == "/v1/logs"
            document = decode_request(
                body, content_type, self.headers.get("Content-Encoding", ""), self.max_body, "logs" if logs else "traces"
            )
            (self.collector.ingest_evaluations if logs else self.collector.ingest)(document)
        except TooLarge as exc:
            self._refuse(413, str(exc))
            return
        except BadRequest as exc:
            self._reply(400, {"error": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - a client always gets an answer, and the receiver goes on
            self._refuse(500, f"the export could not be stored: {type(exc).__name__}")
            return
        if content_type.startswith("application/json"):
            self._reply(200, {"partialSuccess": {}})
        else:
            self._reply(200, {}, content_type="application/x-protobuf")


class BoundedServer(ThreadingHTTPServer):
    """A threading server that holds at most `max_connections` connections: one more is closed as soon as
    it is accepted, before a thread is started for it (300 clients still sending headers made 184 threads)."""

    daemon_threads = True
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._connections = threading.BoundedSemaphore(self.max_connections)
        self._holding: dict[object, bool] = {}  # connections whose slot is not yet given back

    def process_request(self, request, client_address) -> None:
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)
            return
        self._holding[request] = True
        try:
            super().process_request(request, client_address)
        except BaseException:  # a stop signal can land while the thread starts, or after it has already run
            self._release(request)
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request) -> None:
        """Give the connection's slot back exactly once, whichever of the server and the connection's thread
        gets here first (dict.pop is atomic): released twice, the semaphore's ValueError replaced the
        KeyboardInterrupt of a stop signal and the receiver went on running."""
        if self._holding.pop(request, False):
            self._connections.release()


def make_server(
    collector: Collector,
    host: str = "127.0.0.1",
    port: int = 4318,
    max_body: int = MAX_BODY_BYTES,
    max_concurrent: int = MAX_CONCURRENT,
    read_timeout_s: float = READ_TIMEOUT_S,
    deadline_s: float = REQUEST_DEADLINE_S,
    max_connections: int = MAX_CONNECTIONS,
) -> ThreadingHTTPServer:
    handler = type(
        "Handler",
        (OTLPHandler,),
        {
            "collector": collector,
            "max_body": max_body,
            "max_concurrent": max_concurrent,
            "timeout": read_timeout_s,
            "deadline_s": deadline_s,
            "slots": threading.BoundedSemaphore(max_concurrent),
        },
    )
    server_class = type("Server", (BoundedServer,), {"max_connections": max_connections})
    return server_class((host, port), handler)
