"""Modular arithmetic and elementary number theory with integer answers.

Task *i* is drawn from ``random.Random(f"{seed}:{i}:{difficulty}")``. Levels:

1. the remainder of ``a`` divided by ``m``;
2. the gcd or lcm of two numbers;
3. a modular power ``a^b mod m``;
4. a modular inverse ``a^{-1} mod m``;
5. the smallest non-negative solution of two or three simultaneous congruences (CRT).
"""

from __future__ import annotations

import math
import random
from typing import ClassVar

from pydantic import Field

from openenvs import Task
from openenvs.verify import MathConfig, MathEnv

__all__ = ["NumberTheoryConfig", "NumberTheoryEnv"]


class NumberTheoryConfig(MathConfig):
    """Config of `math/number-theory-v1`."""

    difficulty: int = Field(default=1, ge=1, le=5, description="Level 1 (remainders) to 5 (Chinese remainders).")


class NumberTheoryEnv(MathEnv):
    """Answer a number-theory question whose answer is one integer."""

    Config = NumberTheoryConfig
    config: NumberTheoryConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Put the final answer, a single integer, in \\boxed{}."
    )

    def get_task(self, index: int) -> Task:
        """Task `index`: a question at the configured difficulty, answer computed exactly."""
        level = self.config.difficulty
        rng = self.task_rng(index, level)
        prompt, answer, meta = [_remainder, _gcd_lcm, _power, _inverse, _crt][level - 1](rng)
        return Task(prompt=prompt, answer=str(answer), difficulty=level, metadata=meta)


def _remainder(rng: random.Random) -> tuple[str, int, dict[str, object]]:
    a, m = rng.randint(10, 5000), rng.randint(2, 30)
    return f"What is the remainder when {a} is divided by {m}?", a % m, {"kind": "mod", "a": a, "m": m}


def _gcd_lcm(rng: random.Random) -> tuple[str, int, dict[str, object]]:
    common = rng.randint(1, 12)
    a, b = common * rng.randint(2, 30), common * rng.randint(2, 30)
    if rng.random() < 0.5:
        return f"What is the greatest common divisor of {a} and {b}?", math.gcd(a, b), {"kind": "gcd", "a": a, "b": b}
    return f"What is the least common multiple of {a} and {b}?", math.lcm(a, b), {"kind": "lcm", "a": a, "b": b}


def _power(rng: random.Random) -> tuple[str, int, dict[str, object]]:
    a, b, m = rng.randint(2, 99), rng.randint(5, 200), rng.randint(3, 60)
    prompt = f"What is ${a}^{{{b}}} \\bmod {m}$, the remainder of ${a}^{{{b}}}$ divided by ${m}$?"
    return prompt, pow(a, b, m), {"kind": "powmod", "a": a, "b": b, "m": m}


def _inverse(rng: random.Random) -> tuple[str, int, dict[str, object]]:
    while True:
        m = rng.randint(5, 150)
        a = rng.randint(2, m - 1)
        if math.gcd(a, m) == 1:
            break
    prompt = (
        f"Find the inverse of {a} modulo {m}: the integer $x$ with $0 \\le x < {m}$ "
        f"such that ${a}x \\equiv 1 \\pmod{{{m}}}$."
    )
    return prompt, pow(a, -1, m), {"kind": "inverse", "a": a, "m": m}


def _crt(rng: random.Random) -> tuple[str, int, dict[str, object]]:
    count = rng.choice([2, 3])
    moduli: list[int] = []
    while len(moduli) < count:
        m = rng.randint(3, 19)
        if all(math.gcd(m, other) == 1 for other in moduli):
            moduli.append(m)
    residues = [rng.randint(0, m - 1) for m in moduli]
    product = math.prod(moduli)
    x = next(v for v in range(product) if all(v % m == r for m, r in zip(moduli, residues, strict=True)))
    conditions = ", ".join(f"$x \\equiv {r} \\pmod{{{m}}}$" for m, r in zip(moduli, residues, strict=True))
    prompt = f"Find the smallest non-negative integer $x$ such that {conditions}."
    return prompt, x, {"kind": "crt", "moduli": moduli, "residues": residues}
