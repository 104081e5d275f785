"""openenvs.gymnasium: every openenvs id as a Gymnasium env (`gymnasium.make("openenvs/<id>")`); the bridge the other way is tests/bridges/test_gymnasium.py."""

from __future__ import annotations

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import openenvs
import openenvs.gymnasium as og


@pytest.mark.parametrize("env_id", ["math/arithmetic-v1"])
def test_gymnasium_make_and_env_checker(env_id):
    env = gymnasium.make(f"openenvs/{env_id}")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert "observation" in info
    gym_check_env(env.unwrapped)


def test_every_builtin_id_is_registered_with_gymnasium():
    ids = og.register_gymnasium_envs()
    assert set(ids) >= {f"openenvs/{s.id}" for s in openenvs.list_envs()}


def test_kwargs_and_module_prefix_form():
    env = gymnasium.make("openenvs.gymnasium:openenvs/math/arithmetic-v1", difficulty=4)
    assert env.unwrapped.env.config.difficulty == 4


def test_spaces_describe_chat_values():
    obs_space, act_space = og.MessagesSpace(seed=0), og.ChatTextSpace(seed=0)
    assert obs_space.contains(({"role": "user", "content": "hi"},))
    assert not obs_space.contains(({"role": "robot", "content": "hi"},))
    assert not obs_space.contains([{"role": "user", "content": "hi"}])
    assert obs_space.contains(obs_space.sample()) and act_space.contains(act_space.sample())
    assert not act_space.contains(3)
