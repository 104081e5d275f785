r"""The shared base of single-turn math environments: answer in a box, reward for a correct value.

Reward of one answer (always inside ``[0, 1]``, the range every math manifest declares):

- ``1.0`` when the extracted answer equals the gold answer (`math_equal`); when the gold answer is a
  plain number and ``answer_form`` is ``"value"`` (the default), the answer must state a number too
  (units, ``$`` and ``x =`` allowed), so restating the question (``0 + 8``, ``\binom{6}{2}``) or
  leaving arithmetic undone (``2^{10}``) earns nothing, and so does copying a formula of the
  question that the gold answer does not contain (``Simplify $\frac{18}{24}$`` answered
  ``\frac{18}{24}``);
- ``format_reward`` when an answer was found in the expected style but is wrong;
- ``0.0`` when no answer was found;

then multiplied by ``1 - length_penalty * overflow``, where ``overflow`` is how far the completion
runs past ``length_budget`` characters, as a fraction of the budget (capped at 1).
"""

from __future__ import annotations

import asyncio
import re
from typing import ClassVar, Literal

from pydantic import Field

from ._env import action_text
from ._shapes import EnvConfig, Score, SingleTurnEnv, Task
from ._types import Action, Message, Observation, StepResult
from .verify._extract import AnswerStyle, extract_answer
from .verify._fast import is_literal, literal_value, num_equal, parse_number
from .verify._math import math_equal

__all__ = ["MathConfig", "MathEnv"]


class MathConfig(EnvConfig):
    """Reward fields shared by the math environments."""

    answer_style: AnswerStyle = Field(
        default="boxed",
        description="Where the answer must be: 'boxed' (\\boxed{}), 'tag' (<answer>), 'gsm8k' (####), "
        "'phrase', 'last_number' or 'auto' (first found, in that order). Keep 'boxed' for RL.",
    )
    answer_form: Literal["value", "expression"] = Field(
        default="value",
        description="'value': when the gold answer is a plain number, the answer must state a number (the "
        "question's own expression, or arithmetic left undone like 2^{10}, is wrong). 'expression': any "
        "mathematically equal answer counts. Keep 'value' for RL: a policy otherwise learns to copy the question.",
    )
    format_reward: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Reward for a wrong answer given in `answer_style`; 0 disables it."
    )
    length_penalty: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Fraction of the reward removed when the completion is twice `length_budget` or longer "
        "(linear from the budget); 0 disables it.",
    )
    length_budget: int = Field(default=4000, ge=1, description="Completion length in characters before any penalty.")
    few_shot: int = Field(
        default=0,
        ge=0,
        le=8,
        description="Worked examples (other tasks of the same env, answered in `answer_style`) shown as earlier "
        "user/assistant turns before the question. 0 for capable models; 1 teaches small models the format.",
    )
    verify_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Seconds math-verify may spend on one answer; past it the answer is wrong.",
    )


class MathEnv(SingleTurnEnv[MathConfig]):
    r"""A single-turn env whose task answer is a gold answer string checked with `math_equal`.

    A subclass MUST implement ``get_task(index) -> Task`` with ``Task.answer`` the gold answer as
    text (LaTeX allowed), and MAY set ``Config`` (a subclass of :class:`MathConfig`) and
    ``default_system_prompt``. It gets `score` and an `oracle` that answers the current task.
    """

    Config = MathConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Reason step by step, then put the final answer in \\boxed{}."
    )

    def opening_messages(self, task: Task) -> list[Message]:
        """The system message, `few_shot` solved examples as earlier turns, then the question."""
        messages = super().opening_messages(task)
        if not self.config.few_shot or isinstance(task.prompt, list):
            return messages
        shots: list[Message] = []
        n = self.num_tasks()
        for k in range(self.config.few_shot):
            index = (self.index or 0) + 1 + k
            example = self.get_task(index % n if n else index)
            if isinstance(example.prompt, list):
                continue
            answer = format_answer(str(example.answer), self.config.answer_style)
            shots += [Message(role="user", content=example.prompt), Message(role="assistant", content=answer)]
        return [*messages[:-1], *shots, messages[-1]]

    def score(self, text: str, task: Task) -> Score:
        """Reward `text` against the gold answer (see the module docstring for the formula)."""
        config = self.config
        extracted = extract_answer(text, config.answer_style)
        gold = str(task.answer)
        correct = (
            extracted is not None
            and not (config.answer_form == "value" and _restates(extracted, gold, task))
            and _equal(extracted, gold, config)
        )
        reward = 1.0 if correct else (config.format_reward if extracted is not None else 0.0)
        if config.length_penalty and len(text) > config.length_budget:
            overflow = min(1.0, (len(text) - config.length_budget) / config.length_budget)
            reward *= 1.0 - config.length_penalty * overflow
        return Score(reward=reward, correct=correct, info={"answer": gold, "extracted": extracted})

    async def astep(self, action: Action) -> StepResult:
        """Score in a worker thread, so that concurrent episodes verify in parallel in the pool."""
        assert self.task is not None  # guaranteed by the base class's ResetNeeded check
        verdict = await asyncio.to_thread(self.score, action_text(action), self.task)
        info = {"correct": verdict.correct, "source": self.source(), **verdict.info}
        return StepResult(Observation(), float(verdict.reward), True, False, info)

    def oracle(self) -> str | None:
        """Return a completion that states the gold answer of the current task in the configured style."""
        if self.task is None:
            return None
        return format_answer(str(self.task.answer), self.config.answer_style)


_MATH_SPAN = re.compile(r"\$\$?([^$]+)\$\$?|\\\((.+?)\\\)")


def _plain(latex: str) -> str:
    for old, new in (("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\left", ""), ("\\right", "")):
        latex = latex.replace(old, new)
    return re.sub(r"[\s{}$]", "", latex)


def _restates(extracted: str, gold: str, task: Task) -> bool:
    r"""Whether the answer copies a formula of the question that the gold answer does not contain.

    ``Simplify $\frac{18}{24}$`` answered ``\frac{18}{24}``, or ``Write $\frac{1}{\sqrt{2}}$ with a
    rational denominator`` answered with the question's own fraction, equal in value to the gold
    answer but not an answer. A formula the gold answer contains (a choice between two) is fine.
    """
    prompt = task.prompt if isinstance(task.prompt, str) else " ".join(m.text for m in task.prompt)
    answer, expected = _plain(extracted), _plain(gold)
    for match in _MATH_SPAN.finditer(prompt):
        formula = _plain(match.group(1) or match.group(2) or "")
        if len(formula) >= 4 and not formula.isalpha() and formula in answer and formula not in expected:
            return True
    return False


def _equal(extracted: str, gold: str, config: MathConfig) -> bool:
    """`math_equal`, except that a plain-number gold answer needs a stated number when answer_form is 'value'."""
    if config.answer_form == "value" and is_literal(gold):
        stated, expected = literal_value(extracted), parse_number(gold)
        return stated is not None and expected is not None and num_equal(stated, expected)
    return math_equal(extracted, gold, timeout=config.verify_timeout)


def format_answer(answer: str, style: AnswerStyle) -> str:
    """Write `answer` the way `style` expects to find it."""
    if style == "tag":
        return f"<answer>{answer}</answer>"
    if style == "gsm8k":
        return f"#### {answer}"
    if style == "phrase":
        return f"The answer is {answer}"
    if style == "last_number":
        return answer
    return f"The answer is \\boxed{{{answer}}}."
