"""Ingest 100,000 spans of OTLP JSON: spans per second and peak memory.

The spans come as 200 OTLP export requests of 500 spans each (100 traces x 5 spans: agent, LLM call,
tool, HTTP noise, final LLM call), the shape a collector's file exporter writes one per line.  Each
export goes through the receiver's path: decode, store the spans, rebuild the touched traces as typed
steps, save them.  Memory is sampled per export: its peak must not grow with the traces already written.

    python bench/ingest.py [--spans 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median  # noqa: E402

from chainjudge.core.store import Store  # noqa: E402
from chainjudge.reading.collect import Collector, decode_request  # noqa: E402


def export(batch: int, traces: int = 100) -> bytes:
    def s(text):
        return {"stringValue": text}

    spans = []
    for t in range(traces):
        trace = f"{batch:08x}{t:024x}"
        base = (batch * traces + t) * 10
        spans += [
            {
                "traceId": trace,
                "spanId": f"{base + 1:016x}",
                "name": "invoke_agent crm",
                "startTimeUnixNano": str(base + 1),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": s("invoke_agent")},
                    {"key": "gen_ai.agent.name", "value": s("crm")},
                ],
            },
            {
                "traceId": trace,
                "spanId": f"{base + 2:016x}",
                "parentSpanId": f"{base + 1:016x}",
                "name": "chat",
                "startTimeUnixNano": str(base + 2),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": s("chat")},
                    {
                        "key": "gen_ai.input.messages",
                        "value": s(
                            json.dumps(
                                [
                                    {
                                        "role": "user",
                                        "parts": [{"type": "text", "content": f"Should we message user {t}? Lapsed 40 days, TH."}],
                                    }
                                ]
                            )
                        ),
                    },
                    {
                        "key": "gen_ai.output.messages",
                        "value": s(
                            json.dumps(
                                [
                                    {
                                        "role": "assistant",
                                        "parts": [{"type": "tool_call", "id": f"c{t}", "name": "consent", "arguments": {"user": t}}],
                                    }
                                ]
                            )
                        ),
                    },
                ],
            },
            {
                "traceId": trace,
                "spanId": f"{base + 3:016x}",
                "parentSpanId": f"{base + 1:016x}",
                "name": "execute_tool consent",
                "startTimeUnixNano": str(base + 3),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": s("execute_tool")},
                    {"key": "gen_ai.tool.name", "value": s("consent")},
                    {"key": "gen_ai.tool.call.id", "value": s(f"c{t}")},
                    {"key": "gen_ai.tool.call.result", "value": s("email: yes, sms: no")},
                ],
            },
            {
                "traceId": trace,
                "spanId": f"{base + 4:016x}",
                "parentSpanId": f"{base + 3:016x}",
                "name": "POST /consent",
                "startTimeUnixNano": str(base + 4),
                "attributes": [{"key": "http.request.method", "value": s("POST")}],
            },
            {
                "traceId": trace,
                "spanId": f"{base + 5:016x}",
                "parentSpanId": f"{base + 1:016x}",
                "name": "chat",
                "startTimeUnixNano": str(base + 5),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": s("chat")},
                    {
                        "key": "gen_ai.output.messages",
                        "value": s(
                            json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Email at 10:00 local time."}]}])
                        ),
                    },
                ],
            },
        ]
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}).encode()


def one_round(total: int, measure_memory: bool) -> dict:
    batches = [export(b) for b in range(total // 500)]
    peaks = []
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "ingest.db") as store:
        collector = Collector(store)
        started = time.perf_counter()
        if measure_memory:
            tracemalloc.start()
        for body in batches:
            if measure_memory:
                tracemalloc.reset_peak()
            collector.ingest(decode_request(body, "application/json"))
            if measure_memory:
                peaks.append(tracemalloc.get_traced_memory()[1])
        if measure_memory:
            tracemalloc.stop()
        wall = time.perf_counter() - started
        traces = len(store.trace_ids())
    if not measure_memory:
        peaks = [0]
    tenth = max(1, len(peaks) // 10)
    return {"wall": wall, "spans_per_s": total / wall, "traces": traces, "peak_first": max(peaks[:tenth]), "peak_last": max(peaks[-tenth:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round(args.spans, measure_memory=False) for _ in range(args.repeats)]
    memory = one_round(args.spans, measure_memory=True)  # a separate pass: tracemalloc slows the run
    print(f"machine: {machine()}")
    print(f"spans: {args.spans:,} in {args.spans // 500} OTLP JSON exports -> {rounds[0]['traces']:,} traces stored")
    runs = ", ".join(f"{r['spans_per_s']:,.0f}" for r in rounds)
    print(f"spans per second (median of {args.repeats}): {median([r['spans_per_s'] for r in rounds]):,.0f}  (runs: {runs})")
    print(
        f"peak memory per export (Python heap, tracemalloc, separate pass): first 10% of exports "
        f"{memory['peak_first'] / 1e6:.1f} MB, last 10% {memory['peak_last'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
