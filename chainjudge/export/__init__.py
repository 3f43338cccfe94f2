"""Scores out to where teams look: judgments written as OpenTelemetry GenAI evaluation events (OTLP
JSON logs), Langfuse scores (its ingestion batch) or Phoenix span / trace annotations, each keyed to the
judged trace's own ids when the trace came from spans.  Payload builders are pure; `send` posts one to
an endpoint (bounded in time and size).  Nothing goes out unless a person gives an endpoint."""

from __future__ import annotations

from chainjudge.export.links import Link, link_for  # noqa: F401
