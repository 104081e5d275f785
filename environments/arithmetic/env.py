"""Procedural integer arithmetic with difficulty levels and a boxed-answer reward.

Task *i* is drawn from ``random.Random(f"{seed}:{i}")``, so it is the same on every machine.
Level 1 is one-digit addition; each level adds operands, digits and operators.
"""

from __future__ import annotations

import random
import re
from typing import ClassVar

from pydantic import Field

from openenvs import EnvConfig, Score, SingleTurnEnv, Task

__all__ = ["ArithmeticConfig", "ArithmeticEnv", "LEVELS", "extract_boxed"]

# level -> (number of operands, max digits per operand, operators)
LEVELS: dict[int, tuple[int, int, str]] = {
    1: (2, 1, "+"),
    2: (2, 2, "+-"),
    3: (3, 2, "+-*"),
    4: (4, 3, "+-*"),
    5: (5, 3, "+-*"),
}

_BOXED = re.compile(r"\\boxed\s*\{")


def extract_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` in `text` (nested braces allowed), or None.

    Example:
        >>> extract_boxed(r"so \boxed{12} and \boxed{\frac{1}{2}}")
        '\\frac{1}{2}'
    """
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for pos in range(start, len(text)):
        if text[pos] == "{":
            depth += 1
        elif text[pos] == "}":
            depth -= 1
            if depth == 0:
                return text[start:pos].strip()
    return None


def _parse_int(text: str) -> int | None:
    cleaned = text.replace(",", "").replace(" ", "").replace("$", "")
    return int(cleaned) if re.fullmatch(r"[+-]?\d+", cleaned) else None


class ArithmeticConfig(EnvConfig):
    """Config of `math/arithmetic-v1`."""

    difficulty: int = Field(default=1, ge=1, le=5, description="Level 1 (one-digit sums) to 5 (five 3-digit terms).")
    format_reward: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Reward for a wrong answer that is in \\boxed{}; 0 disables shaping."
    )


class ArithmeticEnv(SingleTurnEnv[ArithmeticConfig]):
    """Evaluate an integer expression; reward 1.0 when the last ``\\boxed{}`` holds the exact value."""

    Config = ArithmeticConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Put the final answer, a single integer, in \\boxed{}."
    )

    def get_task(self, index: int) -> Task:
        """Task `index`: a random expression at the configured difficulty."""
        rng = random.Random(f"{self.config.seed}:{index}:{self.config.difficulty}")
        n_terms, digits, ops = LEVELS[self.config.difficulty]
        terms = [rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1) for _ in range(n_terms)]
        expr = str(terms[0])
        for term in terms[1:]:
            op = rng.choice(ops)
            if op == "*":
                term = rng.randint(2, 12)
            expr += f" {op} {term}"
        answer = _evaluate(expr)
        return Task(prompt=f"What is {expr}?", answer=answer, difficulty=self.config.difficulty, metadata={"expression": expr})

    def score(self, text: str, task: Task) -> Score:
        """1.0 for the exact integer in the last ``\\boxed{}``; `format_reward` for a boxed wrong answer."""
        boxed = extract_boxed(text)
        if boxed is None:
            return Score(reward=0.0, correct=False, info={"answer": task.answer, "extracted": None})
        correct = _parse_int(boxed) == task.answer
        reward = 1.0 if correct else self.config.format_reward
        return Score(reward=reward, correct=correct, info={"answer": task.answer, "extracted": boxed})


def _evaluate(expr: str) -> int:
    """Evaluate ``a op b op c`` with the usual precedence (* before + and -), without eval()."""
    tokens = expr.split()
    values = [int(tokens[0])]
    pending = []
    for op, tok in zip(tokens[1::2], tokens[2::2]):
        if op == "*":
            values[-1] *= int(tok)
        else:
            pending.append(op)
            values.append(int(tok))
    total = values[0]
    for op, value in zip(pending, values[1:]):
        total = total + value if op == "+" else total - value
    return total
