"""A TRL ``rollout_func`` that plays multi-turn envs turn by turn, masking the env's tokens.

For each prompt row the env is rebuilt (``make(env_id, **env_kwargs)``, ``reset(seed=env_seed)``);
then, turn after turn, the policy answers (vLLM when ``use_vllm`` is set, else the trainer's
model through ``generate``), the env replies, and its messages are appended in the chat
template's own rendering. The completion is every token after the prompt; ``env_mask`` is 1 on
the policy's tokens and 0 on the env's, so TRL trains only on what the policy wrote. The episode
return and last info go to the reward function as ``env_return``/``env_info``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .._api import make
from .._env import Env
from .._types import Message

__all__ = ["Episode", "make_rollout_func"]

logger = logging.getLogger(__name__)

Generate = Callable[[list[list[int]], int], tuple[list[list[int]], list[list[float]] | None]]


class Episode:
    """One episode being played: the conversation, its tokens and the mask."""

    def __init__(self, env: Env, messages: list[dict[str, Any]], tokenizer: Any, template_kwargs: dict[str, Any]) -> None:
        """Start from the opening `messages`; the prompt is their rendering with the generation prompt."""
        self.env, self.messages, self.tokenizer, self.kw = env, messages, tokenizer, template_kwargs
        self.prompt_ids: list[int] = self._ids(messages, True)
        self.completion_ids: list[int] = []
        self.logprobs: list[float] = []
        self.mask: list[int] = []
        self.total = 0.0
        self.info: dict[str, Any] = {}
        self.done = False

    def _render(self, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt, **self.kw))

    def _ids(self, messages: list[dict[str, Any]], generation_prompt: bool) -> list[int]:
        return list(self.tokenizer(self._render(messages, generation_prompt), add_special_tokens=False)["input_ids"])

    def context(self) -> list[int]:
        """Tokens the policy continues from."""
        return self.prompt_ids + self.completion_ids

    def add_policy_turn(self, ids: Sequence[int], logprobs: Sequence[float] | None) -> str:
        """Append the policy's tokens; return its text."""
        self.completion_ids += list(ids)
        self.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)
        self.mask += [1] * len(ids)
        text = str(self.tokenizer.decode(ids, skip_special_tokens=True))
        self.messages.append({"role": "assistant", "content": text})
        return text

    def add_env_turn(self, replies: list[Message]) -> None:
        """Append the env's messages as the template renders them, plus the next generation prompt."""
        text = self.messages[-1]["content"]
        before = self._render(self.messages, False)
        self.messages += [m.model_dump(exclude_none=True) for m in replies]
        after = self._render(self.messages, True)
        if after.startswith(before) and text and text in before:
            # What the template writes after the policy's text (its end-of-turn marker), less what the
            # policy already wrote (the EOS it stopped on), then the env's messages and the next prompt.
            closing = before[before.rindex(text) + len(text) :]
            last = self.completion_ids[-1:] if self.completion_ids else []
            said = str(self.tokenizer.decode(last, skip_special_tokens=False)) if last else ""
            if said and closing.startswith(said):
                closing = closing[len(said) :]
            ids = list(self.tokenizer(closing + after[len(before) :], add_special_tokens=False)["input_ids"])
        else:  # the template rewrites earlier turns: take the tail of the full rendering
            ids = self._ids(self.messages, True)[len(self.context()) :]
        self.completion_ids += ids
        self.logprobs += [0.0] * len(ids)
        self.mask += [0] * len(ids)


def _transformers_generate(trainer: Any) -> Generate:
    import torch

    def generate(contexts: list[list[int]], max_new: int) -> tuple[list[list[int]], list[list[float]] | None]:
        tok = trainer.processing_class
        model = trainer.accelerator.unwrap_model(trainer.model)
        width = max(len(c) for c in contexts)
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=model.device)
        attention = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=model.device)
        config = trainer.generation_config
        with torch.no_grad():
            out = model.generate(
                input_ids=input_ids, attention_mask=attention, generation_config=config, max_new_tokens=max_new
            )
        eos = set(trainer.eos_token_ids) if hasattr(trainer, "eos_token_ids") else {tok.eos_token_id}
        results = []
        for row in out[:, width:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            results.append(row[:cut])
        return results, None

    return generate


def _vllm_generate(trainer: Any) -> Generate:
    def generate(contexts: list[list[int]], max_new: int) -> tuple[list[list[int]], list[list[float]] | None]:
        _, ids, logprobs, _ = trainer.vllm_generation.generate(prompts=contexts, images=None, num_generations=1)
        ids = [list(x[:max_new]) for x in ids]
        return ids, [[lp[0] if isinstance(lp, (list, tuple)) else lp for lp in seq][: len(i)] for seq, i in zip(logprobs, ids, strict=True)]

    return generate


def make_rollout_func(
    rows: Sequence[dict[str, Any]], *, max_turns: int | None = None, turn_tokens: int | None = None
) -> Callable[[list[Any], Any], dict[str, Any]]:
    """A ``rollout_func`` for ``GRPOTrainer`` that plays the env of each prompt row.

    TRL hands a rollout function only the prompts, so each prompt is matched to its row (the
    same opening messages are the same episode).

    Args:
        rows: The dataset rows (``prompt``, ``env_id``, ``env_kwargs``, ``env_seed``), as built by ``make_rows``.
        max_turns: The most policy turns per episode (default: the env's own limit, else 4).
        turn_tokens: The most tokens per policy turn (default: ``max_completion_length // max_turns``),
            so one long turn cannot use the whole budget.
    """
    by_prompt = {_key(row["prompt"]): row for row in rows}

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        rows = [_row_for(prompt, by_prompt) for prompt in prompts]
        tok = trainer.processing_class
        kw = dict(getattr(trainer, "chat_template_kwargs", {}) or {})
        episodes = []
        for row in rows:
            env = make(row["env_id"], **json.loads(row["env_kwargs"] or "{}"))
            obs, _ = env.reset(seed=int(row["env_seed"]))
            episodes.append(Episode(env, [m.model_dump(exclude_none=True) for m in obs.messages], tok, kw))
        generate = _vllm_generate(trainer) if trainer.use_vllm else _transformers_generate(trainer)
        budget = trainer.max_completion_length
        limit = max_turns or max((e.env.max_turns or 4) for e in episodes)
        for _ in range(limit):
            active = [e for e in episodes if not e.done and len(e.completion_ids) < budget]
            if not active:
                break
            room = min(turn_tokens or max(1, budget // limit), min(budget - len(e.completion_ids) for e in active))
            ids, logprobs = generate([e.context() for e in active], max(1, room))
            for j, episode in enumerate(active):
                text = episode.add_policy_turn(ids[j], logprobs[j] if logprobs else None)
                result = episode.env.step(text)
                episode.total += float(result.reward)
                episode.info = dict(result.info)
                episode.done = bool(result.terminated or result.truncated)
                if not episode.done:
                    episode.add_env_turn(list(result.observation.messages))
        for episode in episodes:
            episode.env.close()
            cut = budget if len(episode.completion_ids) > budget else len(episode.completion_ids)
            episode.completion_ids, episode.mask, episode.logprobs = (
                episode.completion_ids[:cut],
                episode.mask[:cut],
                episode.logprobs[:cut],
            )
        return {
            "prompt_ids": [e.prompt_ids for e in episodes],
            "completion_ids": [e.completion_ids for e in episodes],
            "logprobs": [e.logprobs for e in episodes] if trainer.use_vllm else None,
            "env_mask": [e.mask for e in episodes],
            "env_return": [e.total for e in episodes],
            "env_info": [{"correct": e.info.get("correct")} for e in episodes],
        }

    return rollout_func


def _key(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return json.dumps([(m.get("role"), m.get("content")) for m in prompt])


def _row_for(prompt: Any, by_prompt: dict[str, dict[str, Any]]) -> dict[str, Any]:
    row = by_prompt.get(_key(prompt))
    if row is None:
        raise RuntimeError(
            "The rollout function got a prompt that is not in its dataset; build the dataset and the rollout "
            "function together with openenvs.trl.for_grpo(...)."
        )
    return row
