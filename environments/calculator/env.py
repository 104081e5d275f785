r"""`tools/calculator-v1`: arithmetic word problems with a calculator tool; reward on the final answer.

Task *i* is drawn from ``random.Random(f"{seed}:{i}")``: one of several word-problem templates
with three- and four-digit numbers, so the calculator helps. The final answer is the last
number of the reply (``\boxed{}`` preferred) and must equal the exact value.
"""

from __future__ import annotations

import ast
import operator
import re
from fractions import Fraction
from typing import Any, ClassVar

from pydantic import Field

from openenvs import Message, Score, Task, ToolCall
from openenvs.tools import ToolEnv, ToolEnvConfig, tool

__all__ = ["CalculatorConfig", "CalculatorEnv", "TEMPLATES", "safe_eval"]

# (question template, expression template); numbers are drawn per task, divisions are exact.
TEMPLATES: list[tuple[str, str]] = [
    (
        "A warehouse receives {a} boxes, each holding {b} screws. {c} screws are used. How many screws are left?",
        "{a} * {b} - {c}",
    ),
    (
        "A train covers {a} km every day for {b} days, then {c} km more. How many km does it travel in total?",
        "{a} * {b} + {c}",
    ),
    ("{a} workers each earn {b} dollars per week. What do they earn in total over {c} weeks?", "{a} * {b} * {c}"),
    (
        "A tank holds {a} liters. It loses {b} liters per hour for {c} hours, then {d} liters are added. "
        "How many liters does it hold now?",
        "{a} - {b} * {c} + {d}",
    ),
    ("A prize of {p} dollars is split equally among {n} winners. How many dollars does each winner get?", "{p} / {n}"),
    (
        "A bakery sells {a} loaves at {b} cents each and {c} cakes at {d} cents each. How many cents does it take in?",
        "{a} * {b} + {c} * {d}",
    ),
    (
        "A library has {a} shelves of {b} books. It gives {c} books to each of {d} schools. How many books remain?",
        "{a} * {b} - {c} * {d}",
    ),
]

_BINOPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def safe_eval(expression: str) -> Fraction:
    """Evaluate an arithmetic expression exactly, without `eval` (numbers, + - * / // % ** and parentheses).

    Example:
        >>> safe_eval("(12 + 3) * 4 / 6")
        Fraction(10, 1)
    """
    if len(expression) > 500:
        raise ValueError("expression too long (max 500 characters)")
    tree = ast.parse(expression.replace("^", "**").replace(",", ""), mode="eval")
    return _eval(tree.body)


def _eval(node: ast.expr) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or right.denominator != 1):
            raise ValueError("exponents must be whole numbers of at most 64")
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ZeroDivisionError("division by zero")
        result = _BINOPS[type(node.op)](left, right)
        return Fraction(result)
    raise ValueError(f"unsupported syntax: {ast.dump(node)[:60]}; use numbers, + - * / // % ** and parentheses")


def _format(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return repr(float(value))


_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*)\}")


def extract_answer(text: str) -> Fraction | None:
    r"""The final number of a reply: the last ``\boxed{}`` if any, else the last number.

    Example:
        >>> extract_answer(r"so it is \boxed{1,234}.")
        Fraction(1234, 1)
    """
    boxed = _BOXED_RE.findall(text)
    source = boxed[-1] if boxed else text
    numbers = _NUMBER_RE.findall(source)
    if not numbers:
        return None
    try:
        return Fraction(numbers[-1].replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


class CalculatorConfig(ToolEnvConfig):
    """Config of `tools/calculator-v1`."""

    max_turns: int = Field(default=6, ge=1, description="Truncate the episode after this many policy turns.")
    tool_reward: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Reward for a wrong answer given after using the calculator; 0 disables shaping.",
    )


class CalculatorEnv(ToolEnv[CalculatorConfig]):
    """Word problems with big numbers; a `calculate` tool evaluates arithmetic exactly."""

    Config = CalculatorConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the word problem. You can call the `calculate` tool to evaluate arithmetic. "
        "When you know the result, reply with the final answer in \\boxed{}."
    )

    @tool
    def calculate(self, expression: str) -> str:
        """Evaluate an arithmetic expression exactly.

        Args:
            expression: Numbers with + - * / // % ** and parentheses, e.g. "(12 + 3) * 4".
        """
        return _format(safe_eval(expression))

    def get_task(self, index: int) -> Task:
        """Task `index`: a word problem from a template with seeded numbers."""
        rng = self.task_rng(index)
        question, expr = TEMPLATES[rng.randrange(len(TEMPLATES))]
        n = rng.randint(3, 48)
        values = {
            "a": rng.randint(120, 9800),
            "b": rng.randint(13, 980),
            "c": rng.randint(11, 99),
            "d": rng.randint(101, 999),
            "n": n,
            "p": n * rng.randint(1200, 98000),
        }
        if "{a} - {b} * {c}" in expr:  # keep the tank non-negative
            values["a"] = values["b"] * values["c"] + rng.randint(100, 5000)
        if "{a} * {b} - {c} * {d}" in expr:
            values["a"] = values["c"] * values["d"] // values["b"] + rng.randint(2, 40)
        expression = expr.format(**values)
        answer = safe_eval(expression)
        return Task(
            prompt=question.format(**values),
            answer=_format(answer),
            metadata={"expression": expression, "template": TEMPLATES.index((question, expr))},
        )

    def check(self, task: Task) -> Score:
        """1.0 when the final answer equals the exact value; `tool_reward` for a wrong answer after a calculator call."""
        text = self.final_answer()
        got = extract_answer(text) if text is not None else None
        correct = got is not None and got == Fraction(task.answer)
        used = any(m.role == "tool" and m.name == "calculate" for m in self.transcript)
        reward = 1.0 if correct else (self.config.tool_reward if used else 0.0)
        return Score(
            reward=reward,
            correct=correct,
            info={"answer": task.answer, "extracted": None if got is None else _format(got), "used_calculator": used},
        )

    def oracle(self) -> str | Message | None:
        """Call the calculator on the task's expression, then answer with its result."""
        if self.task is None:
            return None
        results = [m for m in self.transcript if m.role == "tool" and m.name == "calculate"]
        if not results:
            call = ToolCall.create("calculate", {"expression": self.task.metadata["expression"]}, id="call_0")
            return Message(role="assistant", content=None, tool_calls=[call])
        return f"The answer is \\boxed{{{results[-1].content}}}."
