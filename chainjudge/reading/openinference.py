"""OpenInference spans (Arize Phoenix): `openinference.span.kind`, `llm.input_messages.N.message.*`,
`tool.name`, `input.value` / `output.value`.  Same span shapes as the OpenTelemetry adapter, which
interprets both conventions; this name only makes the choice explicit."""

from __future__ import annotations

from collections.abc import Iterator

import chainjudge.reading.otel as otel
from chainjudge.core.schema import RecordError, Trace

NAME = "openinference"
EXPECTS = "spans with openinference.span.kind attributes"


def sniff(record: object) -> bool:
    spans = otel._flat_spans(record)
    return (
        bool(spans)
        and any(
            isinstance(s, dict)
            and (
                "openinference.span.kind" in otel.attributes(s.get("attributes", s))
                or (isinstance(s.get("context"), dict) and "span_kind" in s)
            )  # a Phoenix span export
            for s in spans[:20]
        )
    )


def parse_many(records: list, source: str) -> Iterator[Trace | RecordError]:
    for item in otel.parse_many(records, source):
        yield item.model_copy(update={"format": NAME}) if isinstance(item, Trace) else item
