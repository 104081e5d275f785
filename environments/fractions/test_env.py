from __future__ import annotations

import re

import pytest
import sympy

import openenvs
from openenvs import ConfigError

ENV_ID = "math/fractions-v1"


def _gold_value(latex: str) -> sympy.Rational:
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", latex)
    if m:
        return sympy.Rational(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return sympy.Integer(int(latex))


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_gold_answers_match_sympy(difficulty):
    env = openenvs.make(ENV_ID, difficulty=difficulty)
    for index in range(40):
        task = env.get_task(index)
        expected = sympy.sympify(task.metadata["expression"], rational=True)
        gold = _gold_value(task.answer)
        assert gold == expected, (task.prompt, task.answer)
        assert sympy.gcd(gold.p, gold.q) == 1  # gold is in lowest terms
        assert task.difficulty == difficulty


def test_oracle_determinism_and_failure():
    env = openenvs.make(ENV_ID, difficulty=4)
    obs, _ = env.reset(seed=7)
    same, _ = openenvs.make(ENV_ID, difficulty=4).reset(seed=7)
    assert obs == same
    assert env.step(env.oracle()).reward == 1.0
    env.reset(seed=7)
    value = _gold_value(env.task.answer) + sympy.Rational(1, 7)
    result = env.step(f"\\boxed{{{value.p}/{value.q}}}")
    assert result.reward == 0.0 and result.info["correct"] is False
    env.reset(seed=7)
    unreduced = _gold_value(env.task.answer)
    assert env.step(f"\\boxed{{\\frac{{{2 * unreduced.p}}}{{{2 * unreduced.q}}}}}").reward == 1.0  # checked by value


@pytest.mark.parametrize("kwargs", [{"difficulty": 0}, {"difficulty": 6}, {"dificulty": 2}])
def test_config_errors(kwargs):
    with pytest.raises(ConfigError):
        openenvs.make(ENV_ID, **kwargs)
