"""Decoding one OTLP/HTTP request, with nothing of HTTP in it: the declared length checked against the limit, a
compressed body inflated as a stream under the same limit (a gzip bomb stops at the limit plus one chunk), and
the export decoded from protobuf or JSON."""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

from chainjudge.reading.otlp_check import InvalidExport, check_export

MAX_BODY_BYTES = 16 * 1024 * 1024
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


def _parse(body: bytes, content_type: str, signal: str) -> Any:
    """The decompressed body as OTLP JSON, read as its Content-Type says (JSON or protobuf)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
        except RecursionError:
            raise BadRequest("invalid JSON: nested too deeply") from None
    if kind in ("application/x-protobuf", "application/protobuf"):
        from google.protobuf.json_format import MessageToDict
        from google.protobuf.message import DecodeError
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request: Any = ExportLogsServiceRequest() if signal == "logs" else ExportTraceServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise BadRequest(f"invalid protobuf: {exc}") from None
        return MessageToDict(request)
    raise BadRequest(f"unsupported Content-Type {content_type!r}; send application/x-protobuf or application/json")


def decode_request(body: bytes, content_type: str, content_encoding: str = "", limit: int = MAX_BODY_BYTES, signal: str = "traces") -> dict:
    """An OTLP export request body (`signal`: traces or logs) -> the OTLP JSON structure (hex ids)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = inflate(body, limit)
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {content_encoding[:40]!r}; send gzip or none")
    document = _parse(body, content_type, signal)
    try:
        check_export(document, signal)
    except InvalidExport as exc:
        raise BadRequest(f"malformed OTLP export: {exc}") from None
    outer, inner, items = ("resourceLogs", "scopeLogs", "logRecords") if signal == "logs" else ("resourceSpans", "scopeSpans", "spans")
    for resource in document.get(outer) or []:
        for scope in resource.get(inner) or []:
            for item in scope.get(items) or []:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = _hex_id(item[key])
    return document
