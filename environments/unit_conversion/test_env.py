from __future__ import annotations

import re

import pytest
import sympy
from sympy.physics import units as u

import openenvs
from openenvs import ConfigError

ENV_ID = "math/unit-conversion-v1"

SYMPY_UNITS = {
    "mm": u.millimeter,
    "cm": u.centimeter,
    "m": u.meter,
    "km": u.kilometer,
    "in": u.inch,
    "ft": u.foot,
    "yd": u.yard,
    "mi": u.mile,
    "mg": u.milligram,
    "g": u.gram,
    "kg": u.kilogram,
    "lb": u.pound,
    "oz": u.pound / 16,
    "s": u.second,
    "min": u.minute,
    "h": u.hour,
    "day": u.day,
    "mL": u.milliliter,
    "L": u.liter,
}


def _value(text: str) -> sympy.Rational:
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", text)
    if m:
        return sympy.Rational(int(m.group(2)), int(m.group(3)))
    return sympy.Rational(text)


def _expected(meta: dict) -> sympy.Expr:
    value = sympy.Rational(meta["value"])
    if meta["from"] == "km/h" and meta["to"] == "m/s":
        quantity = u.convert_to(value * u.kilometer / u.hour, u.meter / u.second)
        return quantity / (u.meter / u.second)
    if meta["from"] == "km/h":
        distance = value * u.kilometer / u.hour * sympy.Rational(meta["minutes"]) * u.minute
        return u.convert_to(distance, u.meter) / u.meter
    return u.convert_to(value * SYMPY_UNITS[meta["from"]], SYMPY_UNITS[meta["to"]]) / SYMPY_UNITS[meta["to"]]


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_gold_answers_match_sympy_units(difficulty):
    env = openenvs.make(ENV_ID, difficulty=difficulty)
    for index in range(30):
        task = env.get_task(index)
        expected = sympy.nsimplify(_expected(task.metadata), rational=True)
        assert abs(_value(task.answer) - expected) <= abs(expected) * sympy.Rational(1, 10**12), task.prompt


def test_oracle_failure_units_and_determinism():
    env = openenvs.make(ENV_ID, difficulty=2)
    obs, _ = env.reset(seed=4)
    assert env.step(env.oracle()).reward == 1.0
    env.reset(seed=4)
    assert env.step(f"\\boxed{{{env.task.answer} \\text{{ m}}}}").reward == 1.0  # units are stripped
    env.reset(seed=4)
    assert env.step("\\boxed{0.001}").reward == 0.0
    again, _ = openenvs.make(ENV_ID, difficulty=2).reset(seed=4)
    assert obs == again


def test_config_errors():
    with pytest.raises(ConfigError, match="difficulty"):
        openenvs.make(ENV_ID, difficulty="hard")
