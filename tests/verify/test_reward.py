"""The shared math reward: correctness, format reward, length penalty, answer styles."""

from __future__ import annotations

import pytest

import openenvs
from openenvs import ConfigError


def _episode(env_id: str, action: str, **kwargs):
    env = openenvs.make(env_id, **kwargs)
    env.reset(seed=0)
    return env, env.step(action)


def test_correct_wrong_and_missing_answers():
    env, result = _episode("math/arithmetic-v1", "no box here")
    assert result.reward == 0.0 and result.info["correct"] is False and result.info["extracted"] is None
    gold = env.task.answer
    _, result = _episode("math/arithmetic-v1", f"\\boxed{{{gold}}}")
    assert result.reward == 1.0 and result.info["correct"] is True
    _, result = _episode("math/arithmetic-v1", f"\\boxed{{{gold + 1}}}", format_reward=0.1)
    assert result.reward == pytest.approx(0.1) and result.info["correct"] is False


def test_length_penalty_scales_the_reward():
    env = openenvs.make("math/arithmetic-v1", length_penalty=0.5, length_budget=100)
    env.reset(seed=0)
    answer = f"\\boxed{{{env.task.answer}}}"
    assert env.step(answer).reward == 1.0
    env.reset(seed=0)
    assert env.step("x" * 150 + answer).reward == pytest.approx(1.0 - 0.5 * (150 + len(answer) - 100) / 100)
    env.reset(seed=0)
    assert env.step("x" * 1000 + answer).reward == pytest.approx(0.5)  # capped at twice the budget


@pytest.mark.parametrize("style", ["tag", "gsm8k", "phrase", "auto"])
def test_oracle_follows_the_answer_style(style):
    env = openenvs.make("math/fractions-v1", answer_style=style, difficulty=3)
    env.reset(seed=1)
    assert env.step(env.oracle()).reward == 1.0
    env.reset(seed=1)
    assert env.step(f"\\boxed{{{env.task.answer}}}").reward == (1.0 if style == "auto" else 0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"format_reward": 1.0}, "format_reward"),
        ({"answer_style": "box"}, "answer_style"),
        ({"length_budget": 0}, "length_budget"),
    ],
)
def test_bad_reward_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        openenvs.make("math/arithmetic-v1", **kwargs)


async def test_async_steps_verify_concurrently():
    import asyncio

    envs = [openenvs.make("math/competition-sample-v1") for _ in range(6)]
    for i, env in enumerate(envs):
        await env.areset(options={"index": 9 + i})  # radicals, intervals, sets: the math-verify path
    results = await asyncio.gather(*(env.astep(env.oracle()) for env in envs))
    assert [r.reward for r in results] == [1.0] * 6 and all(r.terminated for r in results)
    for env in envs:
        await env.areset(options={"index": 9})
    wrong = await asyncio.gather(*(env.astep("\\boxed{\\sqrt{3}}") for env in envs))
    assert [r.info["correct"] for r in wrong] == [False] * 6
