"""Judge efficiency side by side: chainjudge, DeepEval, Ragas, Inspect AI and promptfoo on the same items
against the same fake judge (200 ms per request), one table.

    python bench/peers/run.py                      # install what is missing, run everything (~25 min)
    python bench/peers/run.py --tools chainjudge,ragas --levels step --k 3 --limit 40   # a quick look

Each peer is installed at a pinned version in its own venv (promptfoo with npm) under
~/.cache/chainjudge/peers, and runs as a child process with its default settings (concurrency, caching,
retries), its telemetry and update checks off, HOME pointed at a scratch folder and every proxy variable
pointed at a closed local port, so nothing can leave the machine.  The fake judge (fake_judge.py) counts
each run's requests and tokens itself; each runner times only its evaluation, start-up apart (promptfoo:
the whole Node process).

Items (items.py): 100 CEP decisions at item level; 400 steps of 100 four-step traces at step level; K = 1
and K = 3 criteria.  Every tool gets the same text.  Re-run: the first item-level K = 1 job is run a second
time with the same working folder, and its requests counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from fake_judge import PeerJudge  # noqa: E402

PEERS = {  # name: (pip requirements, runner, default concurrency used for the ideal wall time; None: adaptive -> peak seen)
    "deepeval": (["deepeval==4.3.1"], "run_deepeval.py", 20, "GEval"),
    "ragas": (["ragas==0.4.3", "langchain-community==0.4.1", "langchain-openai==1.1.9"], "run_ragas.py", 16, "AspectCritic"),
    "inspect": (["inspect_ai==0.3.285", "openai"], "run_inspect.py", None, "model_graded_qa"),
}
PROMPTFOO = "promptfoo@0.121.20"
MODEL = "gpt-4o-mini"  # a name every tool knows; the fake judge answers whatever the name
CHAINJUDGE_CONCURRENCY = 8  # `chainjudge judge`'s default


def sandbox_env(home: Path) -> dict[str, str]:
    dead = "http://127.0.0.1:9"  # nothing listens: a call meant for the internet fails at once
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(
        {
            "HOME": str(home),
            "OPENAI_API_KEY": "sk-fake-local",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "HTTP_PROXY": dead,
            "HTTPS_PROXY": dead,
            "ALL_PROXY": dead,
            "http_proxy": dead,
            "https_proxy": dead,
            "all_proxy": dead,
            "DEEPEVAL_TELEMETRY_OPT_OUT": "1",
            "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",
            "DEEPEVAL_DISABLE_DOTENV": "1",
            "DEEPEVAL_NO_INSPECT_PROMPT": "1",
            "CONFIDENT_API_KEY": "",
            "RAGAS_DO_NOT_TRACK": "true",
            "LANGCHAIN_TRACING_V2": "false",
            "INSPECT_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_DISABLE_SHARING": "1",
            "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1",
            "PROMPTFOO_DISABLE_REDTEAM_REMOTE_GENERATION": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def install(base: Path, tools: list[str]) -> dict[str, list[str]]:
    """Each peer in its own venv (reused when its pinned requirements are already there); promptfoo with npm."""
    commands: dict[str, list[str]] = {"chainjudge": [sys.executable]}
    base.mkdir(parents=True, exist_ok=True)
    for name, (requirements, *_rest) in PEERS.items():
        if name not in tools:
            continue
        venv, marker = base / name, base / name / ".chainjudge-requirements"
        if not marker.exists() or marker.read_text() != " ".join(requirements):
            print(f"installing {name} ({' '.join(requirements)}) into {venv} ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True)
            marker.write_text(" ".join(requirements))
        commands[name] = [str(venv / "bin" / "python")]
    if "promptfoo" in tools:
        folder, marker = base / "promptfoo", base / "promptfoo" / ".chainjudge-requirements"
        if not marker.exists() or marker.read_text() != PROMPTFOO:
            print(f"installing {PROMPTFOO} with npm into {folder} ...", flush=True)
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), PROMPTFOO], check=True)
            marker.write_text(PROMPTFOO)
        commands["promptfoo"] = [sys.executable]
    return commands


def run_one(command: list[str], runner: str, job: dict, env: dict, timeout: int) -> dict:
    job_file = Path(job["work_dir"]) / f"{job['tag']}.job.json"
    job_file.write_text(json.dumps(job))
    started = time.perf_counter()
    proc = subprocess.run([*command, str(HERE / runner), str(job_file)], cwd=HERE, env=env, capture_output=True, text=True, timeout=timeout)
    result_line = next((line for line in reversed(proc.stdout.splitlines()) if line.startswith("RESULT ")), None)
    if proc.returncode != 0 or result_line is None:
        tail = (proc.stderr or proc.stdout)[-1500:]
        return {"error": f"exit {proc.returncode}: {tail}", "process_s": time.perf_counter() - started}
    return dict(json.loads(result_line[len("RESULT ") :]), process_s=time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", default="chainjudge,deepeval,ragas,inspect,promptfoo")
    parser.add_argument("--levels", default="item,step")
    parser.add_argument("--k", default="1,3", help="criteria counts to run")
    parser.add_argument("--latency", type=float, default=0.2, help="fake judge seconds per request")
    parser.add_argument("--limit", type=int, default=None, help="judge only the first N items of each level")
    parser.add_argument("--peers-dir", type=Path, default=Path.home() / ".cache" / "chainjudge" / "peers")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run before it counts as failed")
    parser.add_argument("--out", type=Path, default=None, help="also write every figure as JSON here")
    parser.add_argument("--log-bodies", type=Path, default=None, help="write every request and its answer here (JSONL)")
    args = parser.parse_args()
    tools = args.tools.split(",")
    commands = install(args.peers_dir, tools)
    os.environ["PYTHONPATH"] = str(ROOT)

    import items  # the project venv builds the items (it needs chainjudge)

    judge = PeerJudge(args.latency).start()
    rows: list[dict] = []
    scratch = Path(tempfile.mkdtemp(prefix="chainjudge-peers-"))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; fake judge "
        f"{args.latency * 1000:.0f} ms; "
        f"scratch {scratch}",
        flush=True,
    )
    for level in args.levels.split(","):
        built = items.build(level)
        chosen = built["items"][: args.limit] if args.limit else built["items"]
        wanted_traces = {i["id"].rsplit("/", 1)[0] for i in chosen}
        for k in (int(x) for x in args.k.split(",")):
            variants = []
            for tool in tools:
                if tool == "chainjudge":
                    variants += [("chainjudge", "batched", {"batch": True})] if k > 1 else []
                    variants += [("chainjudge", "one call per criterion" if k > 1 else "one criterion", {"batch": False})]
                else:
                    variants.append((tool, PEERS[tool][3] if tool in PEERS else "llm-rubric", {}))
            for tool, setting, extra in variants:
                base_tag = f"{tool}-{level}-k{k}-{'b' if extra.get('batch') else 's'}"
                work = scratch / base_tag
                (work / "home").mkdir(parents=True)
                job = {
                    "tag": base_tag,
                    "base_url": judge.url(base_tag),
                    "model": MODEL,
                    "api_key": "sk-fake-local",
                    "work_dir": str(work),
                    "criteria": items.CRITERIA[:k],
                    "items": chosen,
                    "concurrency": CHAINJUDGE_CONCURRENCY,
                    "traces": [t for t in built["traces"] if t["id"] in wanted_traces],
                    "promptfoo_dir": str(args.peers_dir / "promptfoo"),
                    **extra,
                }
                runner = "run_chainjudge.py" if tool == "chainjudge" else PEERS[tool][1] if tool in PEERS else "run_promptfoo.py"
                env = sandbox_env(work / "home")
                print(f"{level} K={k} {tool} ({setting}) ...", end=" ", flush=True)
                result = run_one(commands[tool], runner, job, env, args.timeout)
                stats = judge.stats(base_tag)
                rerun = None
                if level == args.levels.split(",")[0] and k == int(args.k.split(",")[0]) and "error" not in result:
                    before = stats["requests"]
                    second = run_one(commands[tool], runner, job, env, args.timeout)  # same job, same folder, same URL
                    rerun = judge.stats(base_tag)["requests"] - before if "error" not in second else f"error: {second['error'][:200]}"
                n = len(chosen) * k
                concurrency = (CHAINJUDGE_CONCURRENCY if tool == "chainjudge" else 4 if tool == "promptfoo" else PEERS[tool][2]) or stats[
                    "peak_in_flight"
                ]
                row = {
                    "level": level,
                    "k": k,
                    "tool": tool,
                    "setting": setting,
                    "judged": n,
                    **stats,
                    "result": result,
                    "rerun_requests": rerun,
                    "concurrency": concurrency,
                    "adaptive": tool == "inspect",
                }
                if "error" not in result and stats["requests"]:
                    ideal = stats["requests"] * args.latency / max(1, concurrency)
                    row.update(
                        wall_over_ideal=result["wall_s"] / ideal,
                        cpu_ms_per_criterion=1000 * result["cpu_s"] / n,
                        cpu_ms_per_request=1000 * result["cpu_s"] / stats["requests"],
                    )
                rows.append(row)
                print(
                    f"{stats['requests']} requests, {result.get('wall_s', float('nan')):.1f} s"
                    if "error" not in result
                    else f"FAILED: {result['error'][-400:]}",
                    flush=True,
                )
    judge.stop()
    if args.log_bodies:
        judge.dump(str(args.log_bodies))
    print_table(rows, args.latency)
    print_targets(rows)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1, default=str))


def print_table(rows: list[dict], latency: float) -> None:
    print(
        f"\nPer judged criterion (item x criterion); fake judge {latency * 1000:.0f} ms; prompt tokens: cl100k over the messages (+ "
        f"schema sent as response_format/tools)"
    )
    print(
        "| level | K | tool | setting | requests | prompt tokens (+schema) | completion tokens | wall s | wall / ideal (concurrency) | "
        "client CPU / criterion | scored / judged | re-run requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        n = r["judged"]
        res = r["result"]
        if "error" in res:
            print(
                f"| {r['level']} | {r['k']} | {r['tool']} | {r['setting']} | failed: "
                f"{res['error'][-120:].replace('|', '/').replace(chr(10), ' ')} |||||||"
            )
            continue
        conc = f"{r['concurrency']}{' peak, adaptive' if r['adaptive'] else ''}"
        cpu = f"{r['cpu_ms_per_criterion']:.1f} ms" + (" (Node process, start-up incl.)" if res.get("cpu_includes_startup") else "")
        print(
            f"| {r['level']} | {r['k']} | {r['tool']} | {r['setting']} | {r['requests'] / n:.2f} | {r['prompt_tokens'] / n:.0f} "
            f"(+{r['schema_tokens'] / n:.0f}) | "
            f"{r['completion_tokens'] / n:.0f} | {res['wall_s']:.1f} | {r.get('wall_over_ideal', float('nan')):.2f} ({conc}) | {cpu} | "
            f"{res['scores']}/{n} | {'-' if r['rerun_requests'] is None else r['rerun_requests']} |"
        )


TARGETS = (  # (figure, how to read it from a row, target, lower is better)
    ("requests per judged criterion", lambda r: r["requests"] / r["judged"], None),
    ("prompt tokens per criterion", lambda r: r["prompt_tokens"] / r["judged"], 150),
    ("prompt + schema tokens per criterion", lambda r: (r["prompt_tokens"] + r["schema_tokens"]) / r["judged"], None),
    ("wall / ideal", lambda r: r["wall_over_ideal"], 1.2),
    ("client CPU ms per criterion", lambda r: r["cpu_ms_per_criterion"], 3.0),
)


def print_targets(rows: list[dict]) -> None:
    """chainjudge (batched at K > 1) against the best peer in this run, per level and K."""
    ok = [r for r in rows if "error" not in r["result"] and r.get("wall_over_ideal")]
    print("\n| level | K | figure | chainjudge | best peer | target |")
    print("|---|---|---|---|---|---|")
    for level, k in sorted({(r["level"], r["k"]) for r in ok}):
        here = [r for r in ok if r["level"] == level and r["k"] == k]
        ours = next((r for r in here if r["tool"] == "chainjudge" and (k == 1 or r["setting"] == "batched")), None)
        peers = [r for r in here if r["tool"] != "chainjudge"]
        if ours is None or not peers:
            continue
        for name, read, target in TARGETS:
            best = min(peers, key=read)
            verdict = "" if target is None else (" (met)" if read(ours) <= target else f" (missed by {read(ours) / target:.2f}x)")
            print(
                f"| {level} | {k} | {name} | {read(ours):.2f}{verdict} | {read(best):.2f} ({best['tool']}) | "
                f"{target if target is not None else '-'} |"
            )
        rerun = next((r["rerun_requests"] for r in here if r["tool"] == "chainjudge" and r["rerun_requests"] is not None), None)
        if rerun is not None:
            print(
                f"| {level} | {k} | requests on a re-run | {rerun} | "
                + ", ".join(f"{r['tool']} {r['rerun_requests']}" for r in peers if r["rerun_requests"] is not None)
                + " | 0 |"
            )


if __name__ == "__main__":
    main()
