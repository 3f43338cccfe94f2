"""One long trace arriving one span per export: the receiver's cost per export as the trace grows.

An agent instrumented with a simple span processor exports every span as it ends, so a long session is
1,200 exports to one trace.  Each export goes through the receiver's path (decode, validate, store the
span, rebuild the trace, save it).  Prints the median seconds per export over the first and the last 100
exports, and the total; run it on the code before a change and after it, on the same machine.

    python bench/receiver_long_trace.py [--spans 1200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median  # noqa: E402

from chainjudge.core.store import Store  # noqa: E402
from chainjudge.reading.collect import Collector, decode_request  # noqa: E402

TRACE = "5f" * 16


def one_span(i: int) -> bytes:
    attrs = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.prompt.0.role", "value": {"stringValue": "user"}},
        {"key": "gen_ai.prompt.0.content", "value": {"stringValue": f"step {i}: which channel for user {i}?"}},
        {"key": "gen_ai.completion.0.role", "value": {"stringValue": "assistant"}},
        {"key": "gen_ai.completion.0.content", "value": {"stringValue": f"email at 10:00 for user {i}"}},
    ]
    span = {
        "traceId": TRACE,
        "spanId": f"{i + 1:016x}",
        "parentSpanId": "0" * 15 + "1" if i else None,
        "name": "chat",
        "startTimeUnixNano": str(10**18 + i * 10**9),
        "endTimeUnixNano": str(10**18 + i * 10**9 + 5 * 10**8),
        "attributes": attrs,
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def one_round(spans: int) -> tuple[list[float], float]:
    bodies = [one_span(i) for i in range(spans)]
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "r.db") as store:
        collector = Collector(store)
        times = []
        started = time.perf_counter()
        for body in bodies:
            t = time.perf_counter()
            collector.ingest(decode_request(body, "application/json"))
            times.append(time.perf_counter() - t)
        return times, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    firsts, lasts, totals = [], [], []
    for _ in range(args.repeats):
        times, total = one_round(args.spans)
        firsts.append(median(times[:100]))
        lasts.append(median(times[-100:]))
        totals.append(total)
    print(f"machine: {machine()}")
    print(f"{args.spans} one-span exports to one trace, {args.repeats} rounds (medians):")
    print(f"  seconds per export, first 100: {median(firsts):.4f}; last 100: {median(lasts):.4f} (x{median(lasts) / median(firsts):.1f})")
    print(f"  total: {median(totals):.1f} s")


if __name__ == "__main__":
    main()
