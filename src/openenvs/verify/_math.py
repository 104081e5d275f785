"""Math answer equivalence: `math_equal` for one pair and `verify_batch` for thousands."""

from __future__ import annotations

from collections.abc import Sequence

from ._extract import AnswerStyle, extract_answer
from ._fast import _split_top, fast_equal
from ._pool import VerifyPool, default_pool

__all__ = ["math_equal", "verify_batch"]

_MAX_ANSWER_CHARS = 20_000


def _far_more_items(answer: str, gold: str) -> bool:
    """Whether `answer` lists far more comma-separated items than `gold` (a spray of candidates).

    Such an answer cannot equal the gold one, so it is wrong without a trip to math-verify, which
    would spend a second parsing a hundred candidates.
    """
    return len(_split_top(answer)) > 4 * len(_split_top(gold)) + 4


def math_equal(pred: str | None, gold: str, *, timeout: float = 5.0, pool: VerifyPool | None = None) -> bool:
    r"""Whether the answer `pred` is mathematically equal to the gold answer `gold`.

    Plain integers, decimals, fractions, percentages and short exact expressions are compared
    in-process without sympy. Anything else (LaTeX, sets, intervals, matrices, equations, units)
    goes to math-verify in a worker process, killed after `timeout` seconds, in which case the
    answer counts as wrong.

    Args:
        pred: The predicted answer, already extracted (see `extract_answer`); None is wrong.
        gold: The reference answer.
        timeout: Seconds math-verify may spend on this pair.
        pool: Worker pool to use (default: the process-wide `default_pool()`).

    Returns:
        True when the answers are equal.

    Example:
        >>> math_equal("0.75", r"\frac{3}{4}")
        True
        >>> math_equal("1,234", "1234")
        True
        >>> math_equal("7", "8")
        False
    """
    return verify_batch([pred], [gold], style=None, timeout=timeout, pool=pool)[0]


def verify_batch(
    preds: Sequence[str | None],
    golds: Sequence[str],
    *,
    style: AnswerStyle | None = "auto",
    timeout: float = 5.0,
    pool: VerifyPool | None = None,
) -> list[bool]:
    r"""Check many predictions at once: fast path in-process, the rest in parallel in the worker pool.

    Args:
        preds: Model completions (or extracted answers when `style` is None); None is wrong.
        golds: Reference answers, one per prediction.
        style: How to extract the answer from each completion (see `extract_answer`); None when
            `preds` already hold answers.
        timeout: Seconds math-verify may spend on one pair.
        pool: Worker pool to use (default: the process-wide `default_pool()`).

    Returns:
        One verdict per pair, in order.

    Raises:
        ValueError: `preds` and `golds` differ in length.

    Example:
        >>> verify_batch([r"so \boxed{4}", "#### 5", "no answer"], ["4", "6", "1"])
        [True, False, False]
    """
    if len(preds) != len(golds):
        raise ValueError(f"verify_batch needs one gold per prediction; got {len(preds)} preds and {len(golds)} golds.")
    answers = [p if style is None or p is None else extract_answer(p, style) for p in preds]
    results = [False] * len(answers)
    slow: list[int] = []
    for i, (answer, gold) in enumerate(zip(answers, golds, strict=True)):
        if answer is None or not str(gold).strip() or len(answer) > _MAX_ANSWER_CHARS:
            continue
        if _far_more_items(answer, str(gold)):
            continue
        verdict = fast_equal(answer, str(gold))
        if verdict is None:
            slow.append(i)
        else:
            results[i] = verdict
    if slow:
        # a GRPO group often repeats an answer: send each distinct pair to math-verify once
        unique: dict[tuple[str, str], list[int]] = {}
        for i in slow:
            unique.setdefault((str(answers[i]), str(golds[i])), []).append(i)
        verdicts = (pool or default_pool()).map(list(unique), timeout=timeout)
        for indices, verdict in zip(unique.values(), verdicts, strict=True):
            for i in indices:
                results[i] = verdict
    return results
