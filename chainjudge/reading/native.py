"""chainjudge's own JSONL: one `Trace` per line, exactly the schema (`chainjudge schema trace`)."""

from __future__ import annotations

from chainjudge.core.schema import Trace

NAME = "native"
EXPECTS = "an object with id and steps"


def sniff(record: object) -> bool:
    return isinstance(record, dict) and "steps" in record and "id" in record


def parse(record: object, source: str, record_label: str) -> Trace:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    trace = Trace.model_validate(record)
    if trace.source is None:
        trace = trace.model_copy(update={"source": f"{source}:{record_label}"})
    return trace.model_copy(update={"format": NAME})
