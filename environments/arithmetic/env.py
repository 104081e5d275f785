r"""Procedural integer arithmetic with difficulty levels and a boxed-answer reward.

Task *i* is drawn from ``random.Random(f"{seed}:{i}:{difficulty}")``, so it is the same on every
machine. Level 1 is one-digit addition; each level adds operands, digits and operators. Answers are
checked with `openenvs.verify.math_equal` (so ``42``, ``42.0`` and ``\boxed{42}`` all count).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from openenvs import Task
from openenvs.verify import MathConfig, MathEnv, extract_boxed

__all__ = ["LEVELS", "ArithmeticConfig", "ArithmeticEnv", "evaluate", "extract_boxed"]

# level -> (number of operands, max digits per operand, operators)
LEVELS: dict[int, tuple[int, int, str]] = {
    1: (2, 1, "+"),
    2: (2, 2, "+-"),
    3: (3, 2, "+-*"),
    4: (4, 3, "+-*"),
    5: (5, 3, "+-*"),
}


class ArithmeticConfig(MathConfig):
    """Config of `math/arithmetic-v1`."""

    difficulty: int = Field(default=1, ge=1, le=5, description="Level 1 (one-digit sums) to 5 (five 3-digit terms).")


class ArithmeticEnv(MathEnv):
    r"""Evaluate an integer expression; reward 1.0 when the last ``\boxed{}`` holds its value."""

    Config = ArithmeticConfig
    config: ArithmeticConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Put the final answer, a single integer, in \\boxed{}."
    )

    def get_task(self, index: int) -> Task:
        """Task `index`: a random expression at the configured difficulty."""
        rng = self.task_rng(index, self.config.difficulty)
        n_terms, digits, ops = LEVELS[self.config.difficulty]
        terms = [rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1) for _ in range(n_terms)]
        expr = str(terms[0])
        for term in terms[1:]:
            op = rng.choice(ops)
            if op == "*":
                term = rng.randint(2, 12)
            expr += f" {op} {term}"
        answer = evaluate(expr)
        return Task(
            prompt=f"What is {expr}?", answer=answer, difficulty=self.config.difficulty, metadata={"expression": expr}
        )


def evaluate(expr: str) -> int:
    """Evaluate ``a op b op c`` with the usual precedence (* before + and -), without eval().

    Example:
        >>> evaluate("2 + 3 * 4 - 1")
        13
    """
    tokens = expr.split()
    values = [int(tokens[0])]
    pending = []
    for op, tok in zip(tokens[1::2], tokens[2::2], strict=True):
        if op == "*":
            values[-1] *= int(tok)
        else:
            pending.append(op)
            values.append(int(tok))
    total = values[0]
    for op, value in zip(pending, values[1:], strict=True):
        total = total + value if op == "+" else total - value
    return total
