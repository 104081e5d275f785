from __future__ import annotations

import re

import pytest
import sympy

import openenvs
from openenvs import ConfigError

ENV_ID = "math/linear-equations-v1"


def _value(latex: str) -> sympy.Rational:
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", latex)
    if m:
        return sympy.Rational(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return sympy.Integer(int(latex))


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_gold_answers_match_sympy_solve(difficulty):
    env = openenvs.make(ENV_ID, difficulty=difficulty)
    for index in range(30):
        task = env.get_task(index)
        symbols = sympy.symbols(task.metadata["unknowns"])
        equations = [sympy.Eq(*map(sympy.sympify, eq.split("="))) for eq in task.metadata["equations"]]
        solution = sympy.solve(equations, symbols, dict=True)
        assert len(solution) == 1, task.prompt
        if difficulty == 5:
            x, y = (int(v) for v in task.answer.strip("()").split(","))
            assert (solution[0][symbols[0]], solution[0][symbols[1]]) == (x, y)
        else:
            assert solution[0][symbols[0]] == _value(task.answer), task.prompt
            if difficulty == 4:
                assert _value(task.answer).q != 1  # level 4 has a fractional solution
        # the prompt shows the same equation as the metadata
        assert all(s.name in task.prompt for s in symbols)


def test_system_oracle_and_failure():
    env = openenvs.make(ENV_ID, difficulty=5)
    env.reset(seed=2)
    assert env.step(env.oracle()).reward == 1.0
    env.reset(seed=2)
    x, y = (part.strip() for part in env.task.answer.strip("()").split(","))
    assert x != y  # seed 2 has distinct coordinates, so the swapped pair is wrong
    assert env.step(f"\\boxed{{({y}, {x})}}").reward == 0.0


def test_determinism_and_config_errors():
    a, _ = openenvs.make(ENV_ID, difficulty=3).reset(seed=11)
    b, _ = openenvs.make(ENV_ID, difficulty=3).reset(seed=11)
    c, _ = openenvs.make(ENV_ID, difficulty=3, seed=1).reset(seed=11)
    assert a == b and a != c
    with pytest.raises(ConfigError, match="difficulty"):
        openenvs.make(ENV_ID, difficulty=9)
