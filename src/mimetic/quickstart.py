"""The default job: collect expert demos, train BC, evaluate it against the expert and random play."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from mimetic.algos import bc
from mimetic.data import Dataset, save_minari
from mimetic.envs import make_expert, make_task, task_names
from mimetic.errors import ConfigError, TaskError
from mimetic.interactive.budget import LabelBudget
from mimetic.policies import MLPConfig, MLPPolicy, save_policy
from mimetic.rollout import collect, evaluate, reference_results, with_reference
from mimetic.runs import RunDir, default_run_dir


def run_quickstart(*, task: str = "cartpole", episodes: int = 10, seed: int = 0, out: str | Path | None = None,
                   eval_episodes: int = 50, num_envs: int = 16) -> dict:
    """Demos -> BC -> evaluation, all written to one run directory; returns a summary dict."""

    if episodes < 1 or eval_episodes < 1:
        raise ConfigError("quickstart needs at least 1 demo episode and 1 evaluation episode")
    bc_cfg, mlp_cfg = bc.BCConfig(seed=seed), MLPConfig()
    out = Path(out) if out else default_run_dir("quickstart", task)
    config = {"command": "quickstart", "task": task, "episodes": episodes, "seed": seed,
              "eval_episodes": eval_episodes, "bc": asdict(bc_cfg), "policy": asdict(mlp_cfg)}
    run_dir = RunDir(out, config=config)  # refuses an occupied --out before any work
    env = make_task(task, num_envs=min(num_envs, max(episodes, eval_episodes)))
    try:
        expert = make_expert(task)
    except TaskError:
        raise TaskError(f"quickstart needs a task with a built-in expert ({', '.join(task_names())}); for "
                        f"{task!r} use 'mimetic collect --expert module:function', then 'mimetic train bc'") from None
    budget = LabelBudget(expert)
    trajs = collect(env, expert, episodes=episodes, seed=seed, budget=budget, progress=True)
    ds = Dataset.from_trajectories(trajs, spec=env.spec, metadata={
        "task": env.spec.name, "max_steps": env.spec.max_steps, "expert": getattr(expert, "name", "expert"),
        "seeds": [seed, seed + episodes - 1], "source": "mimetic quickstart"})
    policy = MLPPolicy.for_spec(env.spec, mlp_cfg, seed=seed)
    with run_dir as run:
        save_minari(ds, run.path / "data")
        result = bc.fit(policy, ds, bc_cfg, progress=True, callback=lambda s, m: run.log(s, m, prefix="train/"))
        save_policy(policy, run.path / "checkpoint", extra={"task": task, "max_steps": env.spec.max_steps,
                                                            "algo": "bc"})
        exp, rnd = reference_results(env, expert, episodes=eval_episodes, seed=10_000)
        res = evaluate(env, policy, episodes=eval_episodes, seed=10_000, expert=expert, reference=False,
                       progress=True)
        res = with_reference(res, expert_return=exp.return_mean, random_return=rnd.return_mean)
        run.write_json("eval.json", res.as_dict())
        run.finish({"train_s": result.wall_s, "eval": res.as_dict()})  # a finished run (not a resumable one)
    table = [("expert", {**exp.as_dict(), "normalized_score": 1.0}), ("bc", res.as_dict()),
             ("random", {**rnd.as_dict(), "normalized_score": 0.0})]
    return {"table": table, "transitions": ds.n_transitions, "train_s": result.wall_s, "out": str(out)}
