"""One small state classifier, shared by the gates that learn where the learner is at risk:
ThriftyDAgger's failure risk (:func:`failure_risk`) and LazyDAgger's safety classifier
(:func:`safety_classifier`). Both map a state alone to a probability, so a gate can decide before
the expert is asked."""

from __future__ import annotations

import numpy as np
import torch

from mimetic.errors import ConfigError


class StateClassifier:
    """P(event | state): a 2-hidden-layer tanh MLP on normalised observations, fitted by Adam on
    minibatches of 256 with binary cross-entropy against targets in [0, 1]."""

    def __init__(self, obs_dim: int, *, hidden: int = 64, steps: int = 300, seed: int = 0) -> None:
        self.steps, self.seed = steps, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.Tanh(),
                                           torch.nn.Linear(hidden, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
        self.mean, self.std = torch.zeros(obs_dim), torch.ones(obs_dim)

    def fit(self, obs: np.ndarray, target: np.ndarray, *, balance: bool = False) -> None:
        """``balance`` weighs the rare positive class up to the negatives' total (LazyDAgger's
        unsafe states are rare by construction); otherwise targets may be soft probabilities."""
        x = torch.from_numpy(np.asarray(obs, np.float32).reshape(len(obs), -1))  # (N, O)
        y = torch.from_numpy(np.asarray(target, np.float32))  # (N,)
        self.mean, self.std = x.mean(0), x.std(0).clamp_min(1e-6)
        pos_weight = ((len(y) - y.sum()) / y.sum().clamp_min(1.0)).reshape(1) if balance else None
        opt = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.steps):
            idx = torch.randint(len(x), (min(256, len(x)),), generator=gen)
            logit = self.net((x[idx] - self.mean) / self.std).squeeze(-1)  # (n,)
            if pos_weight is not None:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y[idx], pos_weight=pos_weight)
            else:  # on probabilities, as the risk estimate was first fitted (same numbers since)
                loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logit), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = (torch.from_numpy(np.asarray(obs, np.float32).reshape(len(obs), -1)) - self.mean) / self.std
            return torch.sigmoid(self.net(x)).squeeze(-1).numpy()  # (B,)


def failure_risk(episodes: list, *, gamma: float = 0.9, steps: int = 300, seed: int = 0) -> StateClassifier:
    """ThriftyDAgger's risk estimate: the learned chance of failing soon from a state.

    The paper learns Q_R(s, a), the discounted probability of reaching the goal, by Bellman
    backups and uses risk = 1 - Q_R(s, pi(s)). Here the same quantity for the policy that was
    actually running is regressed directly from outcomes (a Monte Carlo target): every state of
    an episode that ended in failure (``terminated``) gets gamma^(steps until the end), every
    other state 0. Tasks whose episodes terminate on success (lunarlander) should not use it.
    """
    if not 0.0 < gamma < 1.0:
        raise ConfigError(f"risk discount gamma must be in (0, 1), got {gamma}")
    obs = np.concatenate([t.obs[:-1] for t in episodes]).astype(np.float32)  # (N, O)
    target = np.concatenate([gamma ** np.arange(len(t))[::-1] * float(t.terminated)
                             for t in episodes]).astype(np.float32)  # (N,)
    model = StateClassifier(int(np.prod(obs.shape[1:])), steps=steps, seed=seed)
    model.fit(obs, target)
    return model


def safety_classifier(obs: np.ndarray, unsafe: np.ndarray, *, steps: int = 300, seed: int = 0) -> StateClassifier:
    """LazyDAgger's safety classifier: P(learner's action gap > beta_h | state), classes balanced."""
    model = StateClassifier(int(np.prod(obs.shape[1:])), steps=steps, seed=seed)
    model.fit(obs, unsafe, balance=True)
    return model
