"""promptfoo's llm-rubric assertion, one per criterion, run by its own CLI (Node) with its defaults.

The `echo` provider returns the prompt, so the recorded agent answer (with the task it answered) becomes the
output that llm-rubric grades; nothing is generated.  promptfoo runs as a child process, so its client CPU
is the whole Node process's (start-up included; the cached re-run shows what start-up alone costs).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _job import load_job

job = load_job()
work = Path(job["work_dir"])
config = {
    "description": job["tag"],
    "prompts": ["Task: {{input}}\nAnswer: {{output}}"],
    "providers": ["echo"],
    "defaultTest": {
        "options": {"provider": {"id": f"openai:chat:{job['model']}", "config": {"apiBaseUrl": job["base_url"], "apiKey": job["api_key"]}}}
    },
    "tests": [
        {
            "description": i["id"],
            "vars": {"input": i["input"], "output": i["output"]},
            "assert": [{"type": "llm-rubric", "value": c["question"], "metric": c["id"]} for c in job["criteria"]],
        }
        for i in job["items"]
    ],
}
(work / "promptfooconfig.json").write_text(json.dumps(config))
binary = Path(job["promptfoo_dir"]) / "node_modules" / ".bin" / "promptfoo"
env = dict(os.environ, PROMPTFOO_CONFIG_DIR=job.get("state_dir", str(work / ".promptfoo")))
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
proc = subprocess.run(
    [str(binary), "eval", "-c", str(work / "promptfooconfig.json"), "--no-progress-bar", "--no-table", "-o", str(work / "out.json")],
    cwd=work,
    env=env,
    capture_output=True,
    text=True,
)
wall = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
if not (work / "out.json").exists():
    sys.exit(f"promptfoo failed ({proc.returncode}): {proc.stderr[-2000:]}{proc.stdout[-2000:]}")
results = json.loads((work / "out.json").read_text())["results"]
components = [c for r in results.get("results", []) for c in (r.get("gradingResult") or {}).get("componentResults", [])]
ok = sum(1 for c in components if c.get("score") is not None and "error" not in str(c.get("reason", "")).lower()[:40])
print(
    "RESULT "
    + json.dumps(
        {
            "wall_s": wall,
            "cpu_s": cpu,
            "scores": ok,
            "failed": len(job["items"]) * len(job["criteria"]) - ok,
            "concurrency": 4,
            "cpu_includes_startup": True,
        }
    ),
    flush=True,
)
