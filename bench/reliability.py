"""Regenerates the README's "Reliability" figures by trying each failure for real.

    python bench/reliability.py [--judgments 2000] [--fault-rate 0.2] [--kill-trials 20] [--fuzz 3000]

1. faults: N judgments against a fake judge injecting faults at the given total rate (429 with and
   without Retry-After, 500/502/503, connection resets, very slow answers, truncated and schema-invalid
   JSON): every judgment must end scored or stored with its error.
2. kill -9: judging processes killed at random points and resumed: no duplicates, no missing keys,
   integrity_check ok.
3. fuzz: random JSON records and random bytes through every trace adapter and the rubric loader: no
   unhandled exception.
4. injection: the hostile corpus against a judge that obeys instructions outside the fence: no flips.
5. PII: every PII value of the fixture, none in any request the judge received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from _common import FakeJudgeProcess, machine  # noqa: E402

from chainjudge.core.engine import execute, plan  # noqa: E402
from chainjudge.core.judges.litellm_judge import LiteLLMJudge  # noqa: E402
from chainjudge.core.judges.retry import RetryPolicy  # noqa: E402
from chainjudge.core.rubric import RubricError, load_rubric, parse_rubric  # noqa: E402
from chainjudge.core.schema import JudgeSettings, RecordError, Run, Trace  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.reading import read_file  # noqa: E402
from chainjudge.testing.fakejudge import Faults  # noqa: E402

RUBRIC = parse_rubric({"id": "rel", "criteria": [{"id": "ok", "question": "Is the decision right?", "applies_to": ["decision"]}]})


def faults(n: int, rate: float) -> dict:
    share = rate / 7
    spec = Faults(
        rate_429=share,
        rate_429_no_header=share,
        rate_5xx=share,
        rate_drop=share,
        rate_slow=share,
        rate_truncated=share,
        rate_invalid=share,
        slow_s=3.0,
        seed=11,
    )
    traces = [Trace(id=f"f{i}", steps=[{"index": 0, "ref": "0", "kind": "decision", "text": f"email user {i} at 10:00"}]) for i in range(n)]
    policy = RetryPolicy(max_attempts=5, initial_wait_s=0.2, max_wait_s=4, jitter_s=0.2, request_timeout_s=2.0)
    with tempfile.TemporaryDirectory() as tmp, FakeJudgeProcess(0.05, spec) as server, Store(Path(tmp) / "f.db") as store:
        settings = JudgeSettings(model="openai/flaky", api_base=server.url)
        items = plan(traces, RUBRIC, settings, "f")
        store.save_run(Run(name="f", rubric_id=RUBRIC.id, rubric_hash=items[0].rubric_hash, judge=settings))
        started = time.perf_counter()
        progress = asyncio.run(execute(items, LiteLLMJudge(settings, retry=policy), store, concurrency=50))
        wall = time.perf_counter() - started
        stored = list(store.judgments("f"))
        requests = server.stop()
    return {
        "judgments": n,
        "requests": requests,
        "injected": dict(server.injected),
        "wall_s": round(wall, 1),
        "scored": sum(j.scored for j in stored),
        "stored_with_error": sum(j.error is not None for j in stored),
        "lost": n - len(stored),
        "errors_by_kind": dict(progress.error_kinds),
        "rate_limited": progress.rate_limited,
        "lowest_concurrency": progress.lowest_concurrency,
    }


def kill_trials(count: int) -> dict:
    import test_resume  # the test suite's own trial, reused so the figure is what the tests prove

    failures = 0
    for seed in range(count):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                test_resume.kill_and_resume(Path(tmp) / "k.db", random.Random(1000 + seed).randint(1, 70))
            except AssertionError as exc:
                failures += 1
                print(f"  trial {seed} failed: {exc}", file=sys.stderr)
    return {"trials": count, "failed": failures}


def _random_json(rng: random.Random, depth: int = 0):
    keys = ["id", "steps", "messages", "role", "content", "tool_calls", "history", "index", "ref", "kind", "text", "traj"]
    pick = rng.random()
    if depth > 3 or pick < 0.35:
        return rng.choice([None, True, 0, -1, 3.5, "", "user", "assistant", "tool", "decision", "x" * rng.randint(0, 50)])
    if pick < 0.65:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(keys + [f"k{rng.randint(0, 9)}"]): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def fuzz(cases: int) -> dict:
    import yaml

    rng = random.Random(5)
    crashes = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(cases):
            path = Path(tmp) / ("f.jsonl" if i % 3 else "f.json")
            if i % 5 == 0:
                path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
            else:
                path.write_text("\n".join(json.dumps(_random_json(rng)) for _ in range(rng.randint(1, 4))))
            try:
                for fmt in ("auto", "native", "openai", "history"):
                    assert all(isinstance(o, (Trace, RecordError)) for o in read_file(path, fmt))
                rubric = Path(tmp) / "r.yaml"
                rubric.write_text(yaml.safe_dump(_random_json(rng)))
                try:
                    load_rubric(rubric)
                except RubricError:
                    pass
            except Exception as exc:  # noqa: BLE001 - counting is the point
                crashes += 1
                print(f"  case {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return {"cases": cases, "adapter_and_rubric_runs": cases * 5, "crashes": crashes}


def injection() -> dict:
    import test_hardening as h

    flips = flagged = 0
    for attack in h.HOSTILE:
        try:
            h.test_no_verdict_flips_under_injection_and_the_step_is_flagged(attack)
            flagged += 1
        except AssertionError as exc:
            flips += "flipped" in str(exc)
    return {"cases": len(h.HOSTILE), "verdict_flips": flips, "flagged": flagged}


def pii() -> dict:
    import test_hardening as h

    from chainjudge.testing.fakejudge import FakeJudgeServer

    with tempfile.TemporaryDirectory() as tmp, FakeJudgeServer() as server:
        try:
            h.test_no_raw_pii_reaches_the_judge_and_the_mapping_stays_local(Path(tmp), server)
            leaked = 0
        except AssertionError as exc:
            leaked = 1
            print(f"  {exc}", file=sys.stderr)
    return {"values": len(h.PII), "names": sorted(h.PII), "leaked": leaked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judgments", type=int, default=2000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--kill-trials", type=int, default=20)
    parser.add_argument("--fuzz", type=int, default=3000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    results = {
        "faults": faults(args.judgments, args.fault_rate),
        "kill -9": kill_trials(args.kill_trials),
        "fuzz": fuzz(args.fuzz),
        "injection": injection(),
        "pii": pii(),
    }
    for name, figures in results.items():
        print(f"{name}: {json.dumps(figures, ensure_ascii=False)}")


if __name__ == "__main__":
    main()
