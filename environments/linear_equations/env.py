"""Linear equations: solve for the unknown (levels 1-4) or a 2x2 system (level 5).

Task *i* is drawn from ``random.Random(f"{seed}:{i}:{difficulty}")``. Levels:

1. ``x + b = c`` or ``a x = c`` with a small integer solution;
2. ``a x + b = c`` with negative coefficients;
3. ``a x + b = c x + d`` with an integer solution;
4. ``a x + b = c x + d`` with a fractional solution;
5. a system of two equations in x and y, answered as the ordered pair ``(x, y)``.
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import ClassVar

from pydantic import Field

from openenvs import Task
from openenvs.verify import MathConfig, MathEnv

__all__ = ["LinearEquationsConfig", "LinearEquationsEnv"]


class LinearEquationsConfig(MathConfig):
    """Config of `math/linear-equations-v1`."""

    difficulty: int = Field(default=1, ge=1, le=5, description="Level 1 (one step) to 5 (2x2 system).")


def _term(coef: int, var: str, first: bool) -> str:
    """``3x``, ``-x``, ``+ 2y``: a monomial written as a human would."""
    body = var if abs(coef) == 1 else f"{abs(coef)}{var}"
    if first:
        return f"-{body}" if coef < 0 else body
    return f"- {body}" if coef < 0 else f"+ {body}"


def _const(value: int) -> str:
    return f"- {-value}" if value < 0 else f"+ {value}"


def _fraction(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _nonzero(rng: random.Random, low: int, high: int) -> int:
    return rng.choice([v for v in range(low, high + 1) if v != 0])


class LinearEquationsEnv(MathEnv):
    """Solve a linear equation or system; the solution is checked by value."""

    Config = LinearEquationsConfig
    config: LinearEquationsConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Put the final answer (a number, or an ordered pair for a system) in \\boxed{}."
    )

    def get_task(self, index: int) -> Task:
        """Task `index`: an equation whose solution is known by construction."""
        level = self.config.difficulty
        rng = self.task_rng(index, level)
        if level == 5:
            return self._system(rng)
        var = rng.choice("xynt")
        if level == 1:
            x = rng.randint(0, 20)
            if rng.random() < 0.5:
                b = rng.randint(1, 20)
                lhs, rhs, equation = f"{var} {_const(b)}", str(x + b), f"{var} + {b} = {x + b}"
            else:
                a = rng.randint(2, 9)
                lhs, rhs, equation = f"{a}{var}", str(a * x), f"{a}*{var} = {a * x}"
            solution = Fraction(x)
        elif level == 2:
            x, a, b = rng.randint(-20, 20), _nonzero(rng, -12, 12), _nonzero(rng, -30, 30)
            lhs, rhs, equation = (
                f"{_term(a, var, True)} {_const(b)}",
                str(a * x + b),
                f"{a}*{var} + ({b}) = {a * x + b}",
            )
            solution = Fraction(x)
        else:
            a, c = _nonzero(rng, -12, 12), _nonzero(rng, -12, 12)
            while c == a or (level == 4 and abs(a - c) < 2):  # level 4 needs a non-integer (d - b) / (a - c)
                c = _nonzero(rng, -12, 12)
            b = rng.randint(-30, 30)
            if level == 3:
                x = rng.randint(-15, 15)
                d = (a - c) * x + b
            else:
                d = rng.randint(-30, 30)
                while (d - b) % (a - c) == 0:
                    d += 1
            solution = Fraction(d - b, a - c)
            lhs = f"{_term(a, var, True)} {_const(b)}" if b else _term(a, var, True)
            rhs = f"{_term(c, var, True)} {_const(d)}" if d else _term(c, var, True)
            equation = f"{a}*{var} + ({b}) = {c}*{var} + ({d})"
        prompt = f"Solve for ${var}$: ${lhs} = {rhs}$."
        if level == 4:
            prompt += " Give the exact value as a fraction in lowest terms."
        return Task(
            prompt=prompt,
            answer=_fraction(solution),
            difficulty=level,
            metadata={"equations": [equation], "unknowns": [var]},
        )

    def _system(self, rng: random.Random) -> Task:
        x, y = rng.randint(-10, 10), rng.randint(-10, 10)
        while True:
            a, b, c, d = (_nonzero(rng, -9, 9) for _ in range(4))
            if a * d - b * c != 0:
                break
        e, f = a * x + b * y, c * x + d * y
        lines = [
            f"{_term(a, 'x', True)} {_term(b, 'y', False)} = {e}",
            f"{_term(c, 'x', True)} {_term(d, 'y', False)} = {f}",
        ]
        prompt = (
            "Solve the system of equations\n$$" + lines[0] + "$$\n$$" + lines[1] + "$$\n"
            "Give the answer as the ordered pair $(x, y)$."
        )
        return Task(
            prompt=prompt,
            answer=f"({x}, {y})",
            difficulty=5,
            metadata={"equations": [f"{a}*x + ({b})*y = {e}", f"{c}*x + ({d})*y = {f}"], "unknowns": ["x", "y"]},
        )
