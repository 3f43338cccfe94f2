"""What keeping every token's logits costs the offline local judge (llama-cpp-python's `logits_all`).

llama-cpp-python's server keeps the logits of every token by default, which token log-probabilities need
(an aligned judge's decision threshold) and plain judging does not.  chainjudge starts it with
`--logits_all false` unless a judge asks for label probabilities.  This judges the same HotPotQA steps
three ways, each with its own server and store:

  old default   logits_all on, no log-probabilities asked (how plain judgments were made before)
  plain         logits_all off (the default for plain judging now)
  probs         logits_all on and label log-probabilities asked (an aligned judge with thresholds)

and prints, per mode, the median seconds per judgment, the server's peak resident memory, and how many
labels agree with the old default's (temperature 0: they should all).

    .venv/bin/python bench/local_logits.py --steps 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chainjudge.core import offline  # noqa: E402

offline.apply()

from _common import machine  # noqa: E402

from chainjudge.core.judges.litellm_judge import LiteLLMJudge  # noqa: E402
from chainjudge.core.judges.local import LocalServer, ensure_model  # noqa: E402
from chainjudge.core.judges.resolve import local_settings  # noqa: E402
from chainjudge.core.offline import quiet_libraries  # noqa: E402
from chainjudge.core.rubric import load_rubric  # noqa: E402
from chainjudge.core.store import Store  # noqa: E402
from chainjudge.pipeline import judge_traces, load_traces  # noqa: E402

DATA = ROOT / "tests" / "data" / "agentprocessbench" / "hotpotqa.jsonl"
MODES = {"old default": (True, False), "plain": (False, False), "probs": (True, True)}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def judge_mode(traces, rubric, logits_all: bool, probs: bool, steps: int, work: Path) -> tuple[list[float], float, dict]:
    """Seconds per judgment, the server's peak RSS (MB), and the labels by (trace, step, criterion)."""
    with LocalServer(ensure_model(), logits_all=logits_all, log_path=work / "server.log") as server:
        settings = local_settings(server.api_base, None, False, 0.0, 0, False).model_copy(update={"label_probs": probs})
        judge = LiteLLMJudge(settings, api_key="local", max_in_flight=server.slots)
        with Store(work / "bench.db") as store:
            judge_traces(traces, rubric, settings, judge, store, "bench", select=lambda items: items[:steps])
            judged = list(store.judgments("bench"))
        seconds = [j.latency_s for j in judged]
        labels = {(j.trace_id, j.step_ref, j.criterion_id): j.verdict.label if j.verdict else None for j in judged}
        rss = peak_rss_mb(server._process.pid)
    return seconds, rss, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="steps judged in each mode")
    args = parser.parse_args()
    quiet_libraries()
    traces = load_traces([DATA]).traces[:10]
    rubric = load_rubric(ROOT / "rubrics" / "step-quality.yaml")
    rubric = rubric.model_copy(update={"criteria": rubric.criteria[:1]})
    print(f"{machine()}; {args.steps} HotPotQA steps, criterion {rubric.criteria[0].id}, one server per mode")
    results = {}
    for name, (logits_all, probs) in MODES.items():
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = judge_mode(traces, rubric, logits_all, probs, args.steps, Path(tmp))
        seconds, rss, _ = results[name]
        print(
            f"  {name:12} logits_all={str(logits_all):5} log-probs={str(probs):5}  "
            f"median {statistics.median(seconds):5.1f} s per judgment  peak RSS {rss:6.0f} MB",
            flush=True,
        )
    base_seconds, base_rss, base_labels = results["old default"]
    for name in ("plain", "probs"):
        seconds, rss, labels = results[name]
        same = sum(labels.get(key) == label for key, label in base_labels.items())
        print(
            f"  {name} vs old default: time x{statistics.median(seconds) / statistics.median(base_seconds):.2f}, "
            f"peak RSS x{rss / base_rss:.2f}, same label {same}/{len(base_labels)}"
        )


if __name__ == "__main__":
    main()
