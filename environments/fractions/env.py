"""Fraction arithmetic: add, subtract, multiply and divide fractions; answer in lowest terms.

Task *i* is drawn from ``random.Random(f"{seed}:{i}:{difficulty}")``. Levels:

1. two fractions with the same denominator, added;
2. two fractions with different denominators, added or subtracted;
3. two fractions multiplied or divided;
4. three fractions, any of the four operations;
5. four fractions with parentheses and negative numerators.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import ClassVar

from pydantic import Field

from openenvs import Task
from openenvs.verify import MathConfig, MathEnv

__all__ = ["FractionsConfig", "FractionsEnv", "latex_fraction"]

_OPS = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}


class FractionsConfig(MathConfig):
    """Config of `math/fractions-v1`."""

    difficulty: int = Field(default=1, ge=1, le=5, description="Level 1 (same-denominator sums) to 5 (four terms).")


def latex_fraction(value: Fraction) -> str:
    r"""Write a fraction in LaTeX: ``\frac{p}{q}``, ``-\frac{p}{q}`` or an integer.

    Example:
        >>> latex_fraction(Fraction(-3, 4))
        '-\\frac{3}{4}'
    """
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _operand(rng: random.Random, max_den: int, negative: bool) -> tuple[int, int]:
    """Draw a fraction ``(num, den)`` in lowest terms, with den >= 2."""
    while True:
        den = rng.randint(2, max_den)
        num = rng.randint(1, 2 * den)
        if math.gcd(num, den) == 1:
            break
    return (-num if negative and rng.random() < 0.3 else num), den


class FractionsEnv(MathEnv):
    """Compute a fraction expression; the answer is checked by value (lowest terms not enforced)."""

    Config = FractionsConfig
    config: FractionsConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Put the final answer, a fraction in lowest terms or an integer, in \\boxed{}."
    )

    def get_task(self, index: int) -> Task:
        """Task `index`: a fraction expression at the configured difficulty."""
        level = self.config.difficulty
        rng = self.task_rng(index, level)
        while True:
            plain, latex, value = self._expression(rng, level)
            if value is not None:
                break
        prompt = f"Compute ${latex}$. Give the result as a fraction in lowest terms (or an integer)."
        return Task(prompt=prompt, answer=latex_fraction(value), difficulty=level, metadata={"expression": plain})

    @staticmethod
    def _expression(rng: random.Random, level: int) -> tuple[str, str, Fraction | None]:
        """Return (plain text for sympy, LaTeX for the prompt, exact value or None if it divides by 0)."""
        if level == 1:
            den = rng.randint(2, 12)
            shown = [(rng.randint(1, den - 1), den) for _ in range(2)]  # unreduced: the shared denominator shows
            ops = ["+"]
        else:
            n_terms = {2: 2, 3: 2, 4: 3, 5: 4}[level]
            max_den = {2: 10, 3: 10, 4: 12, 5: 15}[level]
            shown = [_operand(rng, max_den, negative=level == 5) for _ in range(n_terms)]
            ops = [rng.choice({2: "+-", 3: "*/", 4: "+-*/", 5: "+-*/"}[level]) for _ in range(n_terms - 1)]
        values = [Fraction(n, d) for n, d in shown]
        plain = [f"({n}/{d})" for n, d in shown]
        latex = [f"\\left(-\\frac{{{-n}}}{{{d}}}\\right)" if n < 0 else f"\\frac{{{n}}}{{{d}}}" for n, d in shown]
        if level == 5:  # parenthesise the first two terms
            first: Fraction | None = _apply(values[0], ops[0], values[1])
            plain = [f"({plain[0]} {ops[0]} {plain[1]})", *plain[2:]]
            latex = [f"\\left({latex[0]} {_OPS[ops[0]]} {latex[1]}\\right)", *latex[2:]]
            operands: list[Fraction | None] = [first, *values[2:]]
            ops = ops[1:]
        else:
            operands = list(values)
        value = _evaluate(operands, ops)
        plain_text, latex_text = plain[0], latex[0]
        for op, p_term, l_term in zip(ops, plain[1:], latex[1:], strict=True):
            plain_text += f" {op} {p_term}"
            latex_text += f" {_OPS[op]} {l_term}"
        return plain_text, latex_text, value


def _apply(left: Fraction | None, op: str, right: Fraction | None) -> Fraction | None:
    if left is None or right is None:
        return None
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    return None if right == 0 else left / right


def _evaluate(values: list[Fraction | None], ops: list[str]) -> Fraction | None:
    """Evaluate ``v0 op v1 op v2 ...`` with * and / before + and -."""
    stack: list[Fraction | None] = [values[0]]
    adds: list[str] = []
    for op, value in zip(ops, values[1:], strict=True):
        if op in "*/":
            stack[-1] = _apply(stack[-1], op, value)
        else:
            adds.append(op)
            stack.append(value)
    total = stack[0]
    for op, value in zip(adds, stack[1:], strict=True):
        total = _apply(total, op, value)
    return total
