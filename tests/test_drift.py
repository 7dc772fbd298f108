"""The driving task is a test bed for compounding error: cloned steering drifts as the horizon grows."""

import numpy as np
import pytest

from mimetic.algos.bc import BCConfig, fit
from mimetic.data import Dataset
from mimetic.envs import make_expert, make_task
from mimetic.policies import MLPConfig, MLPPolicy
from mimetic.rollout import collect, evaluate


@pytest.mark.slow
def test_bc_cost_grows_faster_than_the_experts_on_driving():
    expert = make_expert("driving")
    demos = collect(make_task("driving", num_envs=10), expert, episodes=10, seed=0)
    spec = make_task("driving").spec
    policy = MLPPolicy.for_spec(spec, MLPConfig(), seed=0)
    fit(policy, Dataset.from_trajectories(demos, spec=spec), BCConfig(seed=0, steps=1500))
    cost = {}
    for horizon in (100, 800):
        task = make_task("driving", num_envs=16, max_steps=horizon)
        bc = evaluate(task, policy, episodes=32, seed=10_000, expert=expert, reference=False).cost_mean
        ex = np.mean([t.costs.sum() for t in collect(task, expert, episodes=32, seed=10_000)])
        cost[horizon] = (bc, ex)
    (bc_short, ex_short), (bc_long, ex_long) = cost[100], cost[800]
    assert ex_long / ex_short < 10  # the expert's cost grows about linearly (8x for 8x the horizon)
    assert bc_long / bc_short > 1.5 * ex_long / ex_short  # BC's grows faster: compounding error
    assert bc_long > 5 * ex_long
