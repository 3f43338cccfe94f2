"""Runs INSIDE the Open Bandit Pipeline's own virtualenv (obp pins numpy < 2): the pipeline's estimates of
Bernoulli Thompson sampling from the random logs of one campaign, printed as JSON for bench/ope_vs_obp.py.

    python run_obp.py CAMPAIGN
"""

import json
import sys

import numpy as np
from obp.dataset import OpenBanditDataset
from obp.ope import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    OffPolicyEvaluation,
    RegressionModel,
    SelfNormalizedInverseProbabilityWeighting,
)
from obp.policy import BernoulliTS
from sklearn.linear_model import LogisticRegression

campaign = sys.argv[1]
dataset = OpenBanditDataset(behavior_policy="random", campaign=campaign)
feedback = dataset.obtain_batch_bandit_feedback()
policy = BernoulliTS(n_actions=dataset.n_actions, len_list=dataset.len_list, is_zozotown_prior=True, campaign=campaign, random_state=0)
action_dist = policy.compute_batch_action_dist(n_sim=100_000, n_rounds=feedback["n_rounds"])
model = RegressionModel(n_actions=dataset.n_actions, len_list=dataset.len_list, base_model=LogisticRegression(max_iter=1000))
estimated_rewards = model.fit_predict(
    context=feedback["context"],
    action=feedback["action"],
    reward=feedback["reward"],
    position=feedback["position"],
    pscore=feedback["pscore"],
    n_folds=2,
    random_state=0,
)
ope = OffPolicyEvaluation(
    bandit_feedback=feedback,
    ope_estimators=[InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DirectMethod(), DoublyRobust()],
)
values = ope.estimate_policy_values(action_dist=action_dist, estimated_rewards_by_reg_model=estimated_rewards)
intervals = ope.estimate_intervals(
    action_dist=action_dist, estimated_rewards_by_reg_model=estimated_rewards, n_bootstrap_samples=1000, random_state=0
)
print(
    json.dumps(
        {
            "rows": int(feedback["n_rounds"]),
            "random_click_rate": float(np.mean(feedback["reward"])),
            "values": {k: float(v) for k, v in values.items()},
            "intervals": {k: {"low": float(v["95.0% CI (lower)"]), "high": float(v["95.0% CI (upper)"])} for k, v in intervals.items()},
        }
    )
)
