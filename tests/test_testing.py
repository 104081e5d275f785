"""check_env must catch broken environments, with a message that names the fix."""

from __future__ import annotations

import random

import pytest

from openenvs import Env, Message, Observation, StepResult
from openenvs.testing import ConformanceError, check_env


class Good(Env):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.n = int(self.np_random.integers(100))
        return Observation(messages=[Message(role="user", content=f"n={self.n}")]), {}

    def step(self, action):
        return StepResult(Observation(), 0.0, True, False, {"correct": False})


class Nondeterministic(Good):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content=str(random.random()))]), {}


class NoCorrect(Good):
    def step(self, action):
        return StepResult(Observation(), 0.0, True, False, {})


class BadReset(Good):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return [Message(role="user", content="x")]


class NeverEnds(Good):
    def step(self, action):
        return StepResult(Observation(), 0.0, False, False, {"correct": None})


class IgnoresSeed(Good):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return Observation(messages=[Message(role="user", content="same")]), {}


class BadOracle(Good):
    def oracle(self):
        return "wrong"


def test_good_env_passes():
    check_env(Good())


@pytest.mark.parametrize(
    ("cls", "pattern"),
    [
        (Nondeterministic, "diverged"),
        (NoCorrect, "lacks `correct`"),
        (BadReset, "reset\\(\\) returned list"),
        (NeverEnds, "did not end"),
        (IgnoresSeed, "same episode"),
        (BadOracle, "oracle scored"),
    ],
)
def test_broken_envs_fail_with_a_fix(cls, pattern):
    with pytest.raises(ConformanceError, match=pattern) as info:
        check_env(cls())
    assert "Fix:" in str(info.value)


def test_play_oracle_follows_the_oracle_and_needs_one():
    import openenvs
    from openenvs.testing import play_oracle

    env = openenvs.make("math/arithmetic-v1")
    total, last = play_oracle(env, seed=4)
    assert total == 1.0 and last.terminated and last.info["correct"] is True
    with pytest.raises(ConformanceError, match="no oracle"):
        play_oracle(Good(), seed=0)
