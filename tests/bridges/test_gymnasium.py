"""The Gymnasium bridge against the real gymnasium package: parity, feedback for bad actions, from_gym."""

from __future__ import annotations

import random
import string

import gymnasium
import pytest

import openenvs
from openenvs.bridges.gymnasium import _TOY_TEXT, PARSERS, RENDERERS, GymTextEnv, from_gym
from openenvs.testing import check_env

NAMES = {
    "frozen_lake": ["left", "down", "right", "up"],
    "cliff_walking": ["up", "right", "down", "left"],
    "taxi": ["south", "north", "east", "west", "pickup", "dropoff"],
    "blackjack": ["stick", "hit"],
}
IDS = [f"gymnasium/{name}" for name in _TOY_TEXT]


@pytest.mark.parametrize("env_id", IDS)
def test_parity_with_native_gymnasium(env_id):
    spec = openenvs.spec(env_id)
    gym_id, preset = spec.kwargs["gym_id"], spec.kwargs["render"]
    render = RENDERERS[preset]
    for seed in range(4):
        native = gymnasium.make(gym_id)
        bridge = openenvs.make(env_id)
        obs, _ = native.reset(seed=seed)
        bobs, _ = bridge.reset(seed=seed)
        assert bobs.messages[-1].content.endswith(render(obs, native.unwrapped))
        rng = random.Random(seed)
        for _ in range(60):
            action = rng.randrange(native.action_space.n)
            obs, reward, terminated, truncated, _ = native.step(action)
            result = bridge.step(f"I choose [{NAMES[preset][action].upper()}]")
            assert result.observation.messages[-1].content == render(obs, native.unwrapped)
            assert (result.reward, result.terminated, result.truncated) == (reward, terminated, truncated)
            assert result.info["action"] == action
            if terminated or truncated:
                break


def test_bad_action_is_feedback_and_takes_no_gymnasium_step():
    env = openenvs.make("gymnasium/taxi-v4")
    native = gymnasium.make("Taxi-v4")
    env.reset(seed=3)
    native.reset(seed=3)
    result = env.step("let me think about it")
    assert not result.terminated and not result.truncated and result.reward == 0.0
    assert "Answer with one of [south], [north]" in result.observation.messages[0].content
    assert result.info["invalid_action"]
    obs, reward, *_ = native.step(1)
    assert env.step("[north]").observation.messages[0].content == RENDERERS["taxi"](obs, native.unwrapped)
    for _ in range(3):
        result = env.step("???")
    assert result.truncated and result.info["truncated_by"] == "invalid_actions" and result.info["correct"] is False


def test_every_toy_text_env_is_registered_and_passes_check():
    toy_text = {"FrozenLake-v1", "FrozenLake8x8-v1", "CliffWalking-v1", "CliffWalkingSlippery-v1", "Taxi-v4", "Blackjack-v1"}
    assert {openenvs.spec(i).kwargs["gym_id"] for i in IDS} == toy_text
    for env_id in IDS:
        spec = openenvs.spec(env_id)
        assert spec.license == "MIT" and spec.verifier.version == gymnasium.__version__ and spec.packages == ["gymnasium"]
        check_env(env_id, cross_process=False)


class _Riddle(gymnasium.Env):
    """A Gymnasium env with text observations and a text action space."""

    observation_space = gymnasium.spaces.Text(64, charset=string.printable)
    action_space = gymnasium.spaces.Text(64, charset=string.printable)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word = ["apple", "pear", "plum"][int(self.np_random.integers(3))]
        return f"Spell {self.word} backwards.", {}

    def step(self, action):
        right = action.strip() == self.word[::-1]
        return "Right." if right else "Wrong.", float(right), True, False, {}


def test_from_gym_with_a_text_env_and_defaults():
    if "test/Riddle-v0" not in gymnasium.registry:
        gymnasium.register("test/Riddle-v0", entry_point=_Riddle)
    env = from_gym("test/Riddle-v0")
    obs, _ = env.reset(seed=0)
    word = obs.messages[0].content.split()[1]
    result = env.step(word[::-1])
    assert result.reward == 1.0 and result.terminated and result.observation.messages[0].content == "Right."
    check_env(env)


def test_from_gym_with_callables_and_a_discrete_default():
    def render(observation, env):
        return f"You are on cell {observation} of 16."

    def parse(text, env):
        if "south" not in text:
            raise ValueError("say south")
        return 1

    env = from_gym("FrozenLake-v1", render=render, parse_action=parse, instructions="Go south.", gym_kwargs={"is_slippery": False})
    obs, _ = env.reset(seed=0)
    assert obs.messages[0].content == "Go south.\n\nYou are on cell 0 of 16."
    assert env.step("north").observation.messages[0].content == "Invalid action: say south"
    assert env.step("south").observation.messages[0].content == "You are on cell 4 of 16."
    auto = from_gym("FrozenLake-v1", gym_kwargs={"is_slippery": False})
    auto.reset(seed=0)
    assert "from 0 to 3" in auto.step("[7]").observation.messages[0].content
    assert auto.step("1").observation.messages[0].content == "Observation: 4"


def test_errors_name_the_fix():
    with pytest.raises(openenvs.ConfigError, match="Unknown renderer 'ascii'"):
        GymTextEnv(gym_id="Taxi-v4", render="ascii")
    with pytest.raises(openenvs.ConfigError, match="Gymnasium cannot make"):
        GymTextEnv(gym_id="Nope-v0").reset(seed=0)
    assert set(PARSERS) == set(RENDERERS)
