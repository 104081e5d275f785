"""Held-out evaluation of a causal LM on env rows: greedy answers scored through the env."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ._rewards import EnvScorer, _lenient

__all__ = ["evaluate_rows"]

logger = logging.getLogger(__name__)


def evaluate_rows(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int = 64,
    batch_size: int = 16,
    scorer: EnvScorer | None = None,
    record_dir: Any = None,
    model_info: Any = None,
) -> dict[str, Any]:
    """Answer every row greedily and score it through its env.

    Args:
        model: A causal LM (a PEFT model too).
        tokenizer: Its tokenizer, with a chat template.
        rows: Rows from :func:`~openenvs.trl.make_rows` (``prompt``, ``env_id``, ``env_kwargs``, ``env_seed``).
        max_new_tokens: Answer length limit, in tokens.
        batch_size: Prompts generated together.
        scorer: Scorer to use (a fresh one by default, so evaluation never feeds a curriculum).
        record_dir: Also write the answers there as trajectories (`openenvs reproduce` replays them).
        model_info: The `ModelInfo` recorded with them.

    Returns:
        ``reward`` (mean env reward), ``accuracy`` (share correct), ``format`` (share with an
        extractable answer, when the env reports it), ``n`` and ``samples`` (the first few answers).
    """
    import torch

    scorer = scorer or EnvScorer()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    answers: list[str] = []
    try:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            texts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in batch]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(
                    **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            answers += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    if record_dir is not None:
        from ..repro._records import record_answers
        from ..rollout import ModelInfo

        info = model_info or ModelInfo(name=getattr(model.config, "_name_or_path", "model"), backend="hf")
        record_answers(record_dir, rows, answers, model=info, max_tokens=max_new_tokens)
    verdicts = [scorer.score(r["env_id"], r["env_kwargs"], r["env_seed"], a) for r, a in zip(rows, answers, strict=True)]
    flags = [info.get("correct") for _, info in verdicts]
    formats = [info["extracted"] is not None for _, info in verdicts if "extracted" in info]
    result: dict[str, Any] = {
        "n": len(rows),
        "reward": sum(r for r, _ in verdicts) / len(rows),
        "accuracy": sum(bool(f) for f in flags) / len(rows),
        "format": sum(formats) / len(formats) if formats else None,
        "lenient_accuracy": _lenient_accuracy(scorer, rows, answers),
        "samples": [{"prompt": r["prompt"][-1]["content"], "answer": a} for r, a in zip(rows[:5], answers[:5], strict=True)],
    }
    return result


def _lenient_accuracy(scorer: EnvScorer, rows: Sequence[dict[str, Any]], answers: Sequence[str]) -> float:
    """Share correct wherever the answer is written (``answer_style="auto"`` where the env has that field)."""
    hits = 0
    for row, answer in zip(rows, answers, strict=True):
        _, info = scorer.score(row["env_id"], _lenient(row["env_id"], row["env_kwargs"]), row["env_seed"], answer, record=False)
        hits += bool(info.get("correct"))
    return hits / len(rows) if rows else 0.0
