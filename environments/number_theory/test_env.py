from __future__ import annotations

import pytest
import sympy
from sympy.ntheory.modular import crt

import openenvs
from openenvs import ConfigError

ENV_ID = "math/number-theory-v1"


def _expected(meta: dict) -> int:
    kind = meta["kind"]
    if kind == "mod":
        return int(sympy.Mod(meta["a"], meta["m"]))
    if kind == "gcd":
        return int(sympy.igcd(meta["a"], meta["b"]))
    if kind == "lcm":
        return int(sympy.ilcm(meta["a"], meta["b"]))
    if kind == "powmod":
        return int(sympy.Integer(meta["a"]) ** meta["b"] % meta["m"])
    if kind == "inverse":
        return int(sympy.mod_inverse(meta["a"], meta["m"]))
    value, modulus = crt(meta["moduli"], meta["residues"])
    return int(value % modulus)


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_gold_answers_match_sympy(difficulty):
    env = openenvs.make(ENV_ID, difficulty=difficulty)
    for index in range(40):
        task = env.get_task(index)
        assert int(task.answer) == _expected(task.metadata), task.prompt
        assert str(task.metadata.get("a", "")) in task.prompt


def test_oracle_failure_and_determinism():
    env = openenvs.make(ENV_ID, difficulty=5)
    obs, _ = env.reset(seed=3)
    assert env.step(env.oracle()).reward == 1.0
    env.reset(seed=3)
    assert env.step(f"\\boxed{{{int(env.task.answer) + 1}}}").info["correct"] is False
    again, _ = openenvs.make(ENV_ID, difficulty=5).reset(seed=3)
    assert obs == again


def test_config_errors():
    with pytest.raises(ConfigError, match="difficulty"):
        openenvs.make(ENV_ID, difficulty=0)
    with pytest.raises(ConfigError, match="did you mean `seed`"):
        openenvs.make(ENV_ID, sed=1)
