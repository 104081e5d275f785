"""The fast path reads plain numbers without sympy and agrees with math-verify on them."""

from __future__ import annotations

import random
import sys
from fractions import Fraction

import pytest

from _require import require_module
from openenvs.verify import parse_number
from openenvs.verify._fast import fast_equal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("+5", 5),
        ("007", 7),
        ("1,234,567", 1234567),
        ("1{,}234", 1234),
        ("3.25", Fraction(13, 4)),
        (".5", Fraction(1, 2)),
        ("3/4", Fraction(3, 4)),
        (r"\frac{3}{4}", Fraction(3, 4)),
        (r"\dfrac34", Fraction(3, 4)),
        (r"-\tfrac{1}{2}", Fraction(-1, 2)),
        (r"\frac{-6}{4}", Fraction(-3, 2)),
        ("50%", Fraction(1, 2)),
        (r"12.5\%", Fraction(1, 8)),
        ("2^{10}", 1024),
        ("2^3", 8),
        (r"(1 + 2) \cdot 3", 9),
        (r"6 \div 4", Fraction(3, 2)),
        (r"\left(2\right) \times 5", 10),
        ("$$ 17 $$", 17),
    ],
)
def test_parse_number(text, value):
    num = parse_number(text)
    assert num is not None and num.value == value


@pytest.mark.parametrize(
    "text",
    [
        "x",
        r"\sqrt{2}",
        r"\pi",
        "1 234",
        r"2\frac{1}{2}",
        "(1,2)",
        "1,23",
        "1e3",
        "5.",
        "1/0",
        "9^{9^{9}}",
        "2^{100000}",
        "(2)(3)",
        r"10 \text{ cm}",
        "0.1+0.2",
        "",
        "   ",
        "1" * 300,
    ],
)
def test_outside_fast_path(text):
    assert parse_number(text) is None


def test_fast_path_imports_no_sympy():
    code = "import sys; from openenvs.verify._fast import fast_equal; fast_equal('1/2', '0.5'); print('sympy' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("1,234", "1234", True),
        ("0.75", r"\frac{3}{4}", True),
        ("0.333333", "1/3", True),  # a decimal to 6 places matches the fraction
        ("0.3333", "1/3", False),
        ("5.00", "5", True),
        ("5.0000004", "5", False),  # a decimal never rounds onto an exact integer
        (r"50\%", "50", True),
        (r"50\%", "0.5", True),
        (r"50\%", r"\frac{1}{2}", True),
        (r"50\%", "50.0", False),
        ("2+3", "5", True),
        ("-0", "0", True),
        ("7", "8", False),
    ],
)
def test_fast_equal_rules(pred, gold, expected):
    assert fast_equal(pred, gold) is expected


def _random_answer(rng: random.Random) -> str:
    value = Fraction(rng.randint(-300, 300), rng.choice([1, 1, 2, 3, 4, 8, 10, 7]))
    style = rng.randrange(7)
    if style == 0 or value.denominator == 1:
        return (
            str(value.numerator // value.denominator)
            if value.denominator == 1
            else f"{value.numerator}/{value.denominator}"
        )
    if style == 1:
        return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
    if style == 2:
        return f"{float(value):.{rng.choice([1, 2, 4, 6])}f}"
    if style == 3:
        return f"{abs(value.numerator)}\\%"
    if style == 4:
        return f"{value.numerator} + {rng.randint(1, 9)}"
    if style == 5:
        return f"{rng.randint(1, 5)}^{{{rng.randint(0, 4)}}}"
    return f"{value.numerator:,}"


def test_agrees_with_math_verify_on_random_numbers():
    """Differential test: wherever the fast path decides, math-verify decides the same."""
    math_verify = require_module("math_verify")
    rng = random.Random(1)
    checked = 0
    for _ in range(80):
        gold = _random_answer(rng)
        pred = gold if rng.random() < 0.3 else _random_answer(rng)
        if rng.random() < 0.3:  # near misses and equal values written differently
            pred = _random_answer(random.Random(gold))
        verdict = fast_equal(pred, gold)
        if verdict is None:
            continue
        expected = math_verify.verify(
            math_verify.parse("\\boxed{" + gold + "}"), math_verify.parse("\\boxed{" + pred + "}")
        )
        assert verdict == expected, f"pred={pred!r} gold={gold!r}: fast path {verdict}, math-verify {expected}"
        checked += 1
    assert checked > 40


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        (r"\{3, -3\}", r"\{-3,3\}", True),
        (r"\{1, 2, 2\}", r"\{2, 1\}", True),
        ("(1, 2)", "(1,2)", True),
        ("(2, 3)", "(1, 2)", False),
        ("(2, 1)", "(1, 2)", None),  # a reversed pair is a tuple, not an interval: math-verify decides
        (r"[0, \frac{1}{2})", "[0, 1/2)", True),
        ("(1,2,3)", "(1,3,2)", False),
        ("(1, 2]", "(1, 2)", None),  # different shapes: math-verify decides
        (r"(1, 2)", r"\{1, 2\}", None),
        ("(1,234)", "(1, 234)", None),  # thousands separator or pair: math-verify decides
        ("[0, 0.5)", "[0, 1/2)", None),
        (r"\text{yes}", r"\text{ yes}", None),
        (r"\text{yes}", r"\text{yes}", True),
    ],
)
def test_structures_and_identical_answers(pred, gold, expected):
    assert fast_equal(pred, gold) is expected


def test_structures_agree_with_math_verify():
    math_verify = require_module("math_verify")
    rng = random.Random(2)
    for _ in range(40):
        shape = rng.choice(["set", "()", "[]", "[)"])
        gold_values = [rng.randint(-5, 5) for _ in range(2 if shape != "()" else rng.choice([2, 3]))]
        pred_values = list(gold_values) if rng.random() < 0.5 else [v + rng.choice([0, 1]) for v in gold_values]
        if rng.random() < 0.3:
            pred_values.reverse()

        def write(values, shape=shape):
            inner = ", ".join(str(v) for v in values)
            return f"\\{{{inner}\\}}" if shape == "set" else f"{shape[0]}{inner}{shape[1]}"

        pred, gold = write(pred_values), write(gold_values)
        verdict = fast_equal(pred, gold)
        if verdict is None:  # reversed or empty intervals go to math-verify
            assert shape != "set" and len(gold_values) == 2
            continue
        expected = math_verify.verify(
            math_verify.parse("\\boxed{" + gold + "}"), math_verify.parse("\\boxed{" + pred + "}")
        )
        assert verdict == expected, f"pred={pred!r} gold={gold!r}"


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("x = 5", "5", True),
        ("5", "y=5", True),
        ("n = 6", "5", False),
        ("x = 1/2", "0.5", True),
        ("e = 5", "5", None),
        ("x = 5", "x = 5", True),
        ("x = 5", "y = 5", None),
    ],
)
def test_assignment_against_a_number(pred, gold, expected):
    assert fast_equal(pred, gold) is expected
    math_verify = require_module("math_verify")
    if expected is not None:
        assert (
            math_verify.verify(math_verify.parse("\\boxed{" + gold + "}"), math_verify.parse("\\boxed{" + pred + "}"))
            is expected
        )
