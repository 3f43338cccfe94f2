"""The offline local judge on a real run, as a user would start it: `chainjudge judge` with `--judge local`
and the defaults, output redirected to a file. Two workloads: the first N AgentProcessBench HotPotQA
trajectories (step-quality rubric), or `--cep`, the demo's own "judge the rest" command (every model
criterion of the bundled CEP rubric on the bundled CEP traces).

Prints: work items, stored judgments, timeouts and other errors, server requests per stored judgment
(re-asks included), seconds per judgment, prefix-cache hits (llama.cpp's "prefix-match hit" lines and
the prompt tokens they saved), and the ETA the plain progress line gave at 25% done against the time
that was actually left.

    .venv/bin/python bench/local_runs.py --trajectories 25
    .venv/bin/python bench/local_runs.py --cep
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "agentprocessbench" / "hotpotqa.jsonl"
LINE = re.compile(r"(\d+)/(\d+) done .*?ETA (?:(\d+)h)?(\d+)m(\d+)s.*?elapsed (?:(\d+)h)?(\d+)m(\d+)s")
PREFIX = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens")


def seconds(h, m, s) -> int:
    return int(h or 0) * 3600 + int(m) * 60 + int(s)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trajectories", type=int, default=25)
    parser.add_argument("--cep", action="store_true", help="run the demo's 'judge the rest' command instead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chainjudge-local-"))
    if args.cep:
        traces, rubric = (
            ROOT / "chainjudge" / "packs" / "cep" / "traces" / "traces.jsonl",
            ROOT / "chainjudge" / "packs" / "cep" / "rubrics" / "cep.yaml",
        )
    else:
        traces, rubric = work / "hotpotqa.jsonl", ROOT / "rubrics" / "step-quality.yaml"
        traces.write_text("\n".join(DATA.read_text().splitlines()[: args.trajectories]) + "\n")
    db = work / "local.db"
    output = work / "judge.out"
    started = time.monotonic()
    with output.open("w") as handle:
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "chainjudge.cli",
                "judge",
                str(traces),
                "--rubric",
                str(rubric),
                "--judge",
                "local",
                "--db",
                str(db),
                "--run",
                "bench",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    wall = time.monotonic() - started
    text = output.read_text()
    print(text[-3000:])

    from chainjudge.core.store import Store

    with Store(db) as store:
        judgments = list(store.judgments("bench"))
    errors = [j for j in judgments if j.error]
    timeouts = [j for j in errors if j.error_kind == "timeout"]
    scored = [j for j in judgments if j.error is None]
    log = (work / "local-judge-server.log").read_text(errors="replace")
    requests = log.count('"POST /v1/chat/completions')
    prefix = [(int(a), int(b)) for a, b in PREFIX.findall(log)]
    per = sum(j.latency_s for j in judgments) / len(judgments) if judgments else float("nan")
    print(
        f"\nexit code {code}; wall {wall:.0f} s; {len(judgments)} judgments stored ({len(scored)} scored, "
        f"{len(errors)} errors, of which {len(timeouts)} timeouts)"
    )
    print(f"server requests {requests}: {requests / max(1, len(judgments)):.2f} per stored judgment (re-asks included)")
    print(f"seconds per judgment {per:.1f} (judge latency, mean); {len(judgments) / (wall / 60):.2f} judgments per minute of wall time")
    if prefix:
        saved = sum(a for a, _ in prefix)
        total = sum(a + b for a, b in prefix)
        print(
            f"prefix-cache hits: {sum(1 for a, _ in prefix if a > 0)}/{len(prefix)} prompts reused a prefix; "
            f"{saved}/{total} prompt tokens ({saved / total:.0%}) not evaluated again"
        )
    lines = [m for m in LINE.finditer(text.replace("\n", " "))]  # a line wrapped by an older console still reads
    quarter = next((m for m in lines if int(m.group(1)) >= 0.25 * int(m.group(2))), None)
    if quarter:
        eta = seconds(quarter.group(3), quarter.group(4), quarter.group(5))
        at = seconds(quarter.group(6), quarter.group(7), quarter.group(8))
        actual = max(0.0, wall - at - 15)  # ~15 s of the wall went to start-up before the first item
        print(
            f"ETA at {quarter.group(1)}/{quarter.group(2)} done: {eta} s; actual remaining {actual:.0f} s (ratio {eta / actual:.2f})"
            if actual
            else "ETA: run ended right after the 25% line"
        )
    print(f"files: {work}")


if __name__ == "__main__":
    main()
