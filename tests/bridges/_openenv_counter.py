"""A tiny OpenEnv env with a non-text action, for the OpenEnv bridge checks (imported in .venv-openenv only)."""

from __future__ import annotations

import random

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation


class CountAction(Action):
    amount: int


class CountObservation(Observation):
    total: int = 0


class Counter(Environment):
    """Add `amount` to a total that starts at a seeded 0-4; done (reward 1) at 10 or more."""

    def reset(self, seed=None, episode_id=None, **kwargs):
        self.total = random.Random(seed).randrange(5)
        return CountObservation(total=self.total)

    def step(self, action: CountAction) -> CountObservation:
        self.total += action.amount
        return CountObservation(total=self.total, done=self.total >= 10, reward=float(self.total >= 10))

    @property
    def state(self):
        return None
