"""Off-policy evaluation, measured: the Open Bandit Dataset check, coverage on simulated logs, and a
million logged rows.

1. Open Bandit Dataset (small sample kept in tests/data/open-bandit): Bernoulli Thompson sampling, the
   production policy, is estimated from the uniform-random logs of each campaign (its slate probabilities
   from the production prior, as the Open Bandit Pipeline computes them) and compared with the click
   rate it got in its own logs (with a Wilson interval): per estimator, relative error and whether the
   95% interval covers the on-policy value; and the estimate as a ratio to the random policy's click rate
   (the pipeline's README: 1.198x with IPW on the `all` campaign, which is not in the kept sample).
2. Coverage over 200 simulated CEP logs (tests' simulator, known truth): share of 95% intervals that
   cover the agent policy's true conversion rate.
3. 1,000,000 logged rows through the whole command path (CSV read, cross-fitted reward model, every
   estimator, 200 resamples): wall seconds and peak memory.

    .venv/bin/python bench/ope.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine  # noqa: E402

from chainjudge.analysis.ope import Logged, estimate  # noqa: E402
from chainjudge.analysis.stats import wilson_interval  # noqa: E402
from chainjudge.testing import ope_sim  # noqa: E402
from chainjudge.workflows.ope import Columns, evaluate_logs  # noqa: E402

OBD = ROOT / "tests" / "data" / "open-bandit"
OBD_COLUMNS = Columns(
    reward="click", propensity="propensity_score", action="item_id", slot="position", features=tuple(f"user_feature_{i}" for i in range(4))
)


def bts_policy(folder: Path, campaign: str) -> Path:
    """The Open Bandit Dataset's Bernoulli Thompson sampling policy for CAMPAIGN (its published prior, 3
    slots) as a policy file in FOLDER; the logging policy of the random logs explored uniformly."""
    p = yaml.safe_load((OBD / "prior_bts.yaml").read_text())[campaign]
    policy = folder / f"bts-{campaign}.yaml"
    policy.write_text(
        yaml.safe_dump(
            {
                "kind": "thompson",
                "actions": list(range(len(p["alpha"]))),
                "alpha": p["alpha"],
                "beta": p["beta"],
                "slots": 3,
                "samples": 100_000,
                "exploration": "uniform",
            }
        )
    )
    return policy


def open_bandit(folder: Path) -> None:
    print("\n1. Open Bandit Dataset: Thompson sampling estimated from the random logs vs its own logs")
    for campaign in ("men", "women"):
        policy = bts_policy(folder, campaign)
        report = evaluate_logs(OBD / "random" / f"{campaign}.csv", OBD_COLUMNS, policy, bootstrap=1000)
        own = pd.read_csv(OBD / "bts" / f"{campaign}.csv").click
        low, high = wilson_interval(int(own.sum()), len(own))
        result = report.overall
        random_rate = result.incumbent.value
        print(
            f"  {campaign}: Thompson sampling's own click rate {own.mean():.4f} [{low:.4f}, {high:.4f}] "
            f"({own.mean() / random_rate:.3f}x the random policy's {random_rate:.4f}); ESS {result.diagnostics.ess:.0f} "
            f"of {result.diagnostics.rows}, largest weight {result.diagnostics.max_weight:.1f}"
        )
        for e in result.estimates:
            v = e.value
            covers = v.low <= own.mean() <= v.high
            print(
                f"    {e.estimator:10s} {v.value:.4f} [{v.low:.4f}, {v.high:.4f}]  relative error "
                f"{(v.value - own.mean()) / own.mean():+.1%}  covers: {'yes' if covers else 'NO'}  "
                f"ratio to random {v.value / random_rate:.3f}"
            )


def coverage(seeds: int = 200) -> None:
    truth = ope_sim.true_value(ope_sim.agent_policy)
    hits = {"ips": 0, "snips": 0, "dr (true model)": 0}
    for seed in range(seeds):
        sim = ope_sim.simulate(1500, seed)
        target = ope_sim.agent_policy(sim.x)
        rows = np.arange(len(sim.reward))
        q = ope_sim.response(sim.x)
        result = estimate(
            Logged(
                reward=sim.reward,
                propensity=sim.propensity,
                target=target[rows, sim.actions],
                groups=sim.users,
                q_logged=q[rows, sim.actions],
                q_target=(target * q).sum(axis=1),
            ),
            bootstrap=200,
            seed=seed,
        )
        for name, key in (("ips", "ips"), ("snips", "snips"), ("dr (true model)", "dr")):
            v = result.estimate(key).value
            hits[name] += v.low <= truth <= v.high
    print(
        f"\n2. coverage of 95% intervals over {seeds} simulated logs of 1,500 users (truth {truth:.4f}): "
        + ", ".join(f"{name} {h / seeds:.1%}" for name, h in hits.items())
    )


def million(folder: Path, rows: int) -> None:
    sim = ope_sim.simulate(rows, 99)
    logs = folder / "million.csv"
    pd.DataFrame(
        {
            "user": sim.users,
            "channel": np.array(ope_sim.ACTIONS)[sim.actions],
            "p": sim.propensity,
            "converted": sim.reward.astype(int),
            "segment": sim.x[:, 0].astype(int),
            "recency": sim.x[:, 1].round(4),
            "market": sim.x[:, 2].astype(int),
        }
    ).to_csv(logs, index=False)
    # a context-free target (one distribution for every row) keeps the policy file small at this size
    policy = folder / "email-first.yaml"
    policy.write_text(
        yaml.safe_dump({"kind": "slots", "exploration": "uniform", "probabilities": {"all": {"email": 0.7, "push": 0.2, "sms": 0.1}}})
    )
    columns = Columns(reward="converted", propensity="p", action="channel", group="user", features=("segment", "recency", "market"))
    for model in ("logistic", "boosting"):
        started = time.perf_counter()
        report = evaluate_logs(logs, columns, policy, reward_model=model, bootstrap=200)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        dr = report.overall.estimate("dr").value
        print(
            f"\n3. {rows:,} logged rows, reward model {model}: every estimator with 200 resamples of users in "
            f"{seconds:.1f} s (CSV read and reward model included); peak memory of this process {peak:.0f} MB; "
            f"DR {dr.value:.4f} [{dr.low:.4f}, {dr.high:.4f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as folder:
        open_bandit(Path(folder))
        coverage()
        million(Path(folder), args.rows)


if __name__ == "__main__":
    main()
