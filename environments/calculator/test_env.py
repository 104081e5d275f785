from __future__ import annotations

from fractions import Fraction

import pytest

import openenvs
from openenvs import ConfigError, Message, ToolCall, testing

from .env import CalculatorEnv, extract_answer, safe_eval


def play_oracle(env, index):
    return testing.play_oracle(env, options={"index": index})


def test_safe_eval_is_exact_and_refuses_code():
    assert safe_eval("(1200 + 34) * 3 - 2") == 3700
    assert safe_eval("7 / 2") == Fraction(7, 2)
    assert safe_eval("2 ^ 10") == 1024
    for bad in ("__import__('os')", "x + 1", "2 ** 1000", "[1, 2]", "1 / 0"):
        with pytest.raises((ValueError, ZeroDivisionError, SyntaxError)):
            safe_eval(bad)


def test_oracle_scores_one_on_every_template():
    env = openenvs.make("tools/calculator-v1")
    templates = set()
    for index in range(40):
        total, r = play_oracle(env, index)
        assert total == 1.0 and r.info["correct"] is True, (index, r.info)
        templates.add(env.task.metadata["template"])
    assert len(templates) >= 6


def test_wrong_or_missing_answers_score_zero():
    env = CalculatorEnv()
    env.reset(seed=0)
    wrong = int(Fraction(env.task.answer)) + 1
    r = env.step(f"\\boxed{{{wrong}}}")
    assert (r.reward, r.terminated, r.info["correct"]) == (0.0, True, False)
    env.reset(seed=0)
    assert env.step("I cannot tell.").reward == 0.0


def test_tool_errors_reach_the_model():
    env = CalculatorEnv()
    env.reset(seed=5)
    r = env.step(Message(role="assistant", tool_calls=[ToolCall.create("calculate", {"expression": "import os"})]))
    assert r.observation.messages[0].content.startswith("Error: tool `calculate` raised")
    assert not r.terminated


def test_shaping_reward_is_a_config_field():
    env = CalculatorEnv(tool_reward=0.25)
    env.reset(seed=1)
    env.step(env.oracle())
    assert env.step("\\boxed{-1}").reward == 0.25
    with pytest.raises(ConfigError, match="tool_reward"):
        CalculatorEnv(tool_reward=2)


def test_answer_extraction():
    assert extract_answer("so \\boxed{12,345} dollars") == 12345
    assert extract_answer("it is 3.5 then 7") == 7
    assert extract_answer("no number") is None


def test_seeds_pick_different_tasks_deterministically():
    a, b = CalculatorEnv(), CalculatorEnv()
    prompts = {a.reset(seed=s)[0].messages[-1].content for s in range(10)}
    assert len(prompts) == 10
    assert a.reset(seed=3)[0] == b.reset(seed=3)[0]
