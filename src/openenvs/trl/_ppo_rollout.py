"""Rollouts for PPO: drive a batch of environments turn by turn and keep the episode's tokens.

An episode is one token sequence: the rendered opening messages, then for every turn the tokens
the policy wrote (``action_mask`` 1) and the tokens the environment's answer adds through the chat
template (``action_mask`` 0, never trained on). The policy's tokens are kept exactly as sampled;
only the environment's part is tokenized from text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from .._errors import ConfigError
from .._types import Message, Observation, StepResult, ToolSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .._env import Env

__all__ = ["Episode", "GenerateFn", "collect_episodes", "episode_from_trajectory"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class GenerateFn(Protocol):
    """Samples one completion (token ids, ending with EOS unless cut off) for each prompt."""

    def __call__(self, prompts: list[list[int]]) -> list[list[int]]:
        """Return one list of completion token ids per prompt, in order."""
        ...


@dataclass
class Episode:
    """One finished episode as PPO sees it.

    Attributes:
        token_ids: The whole episode: prompt, policy turns and environment turns.
        action_mask: 1 on the tokens the policy wrote, 0 on the prompt and env-written tokens.
        turn_ends: Index in `token_ids` of the last token of each policy turn.
        rewards: The environment's reward for each policy turn.
        missing_eos: Whether each turn stopped at the length limit instead of an end-of-turn token.
        messages: The conversation as chat dicts, the policy's turns included.
        infos: The `info` dict of each step.
        prompt_length: Number of tokens before the first policy turn.
        terminated: The environment ended the episode.
        truncated: The turn or length limit ended it.
        sampler_logprobs: The sampler's log-prob of each token (vLLM rollouts), for importance correction.
    """

    token_ids: list[int]
    action_mask: list[int]
    prompt_length: int
    messages: list[dict[str, Any]]
    turn_ends: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    missing_eos: list[bool] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    sampler_logprobs: list[float] | None = None
    """With vLLM rollouts: the server's log-prob of each token of `token_ids` (0 where not sampled)."""

    @property
    def reward(self) -> float:
        """The episode's return: the sum of its turn rewards."""
        return float(sum(self.rewards))

    @property
    def correct(self) -> bool | None:
        """The last step's `info["correct"]`, if the environment reported it."""
        return self.infos[-1].get("correct") if self.infos else None

    @property
    def num_turns(self) -> int:
        """Number of policy turns."""
        return len(self.turn_ends)

    @property
    def done(self) -> bool:
        """The episode has ended."""
        return self.terminated or self.truncated


def _run(coro: Awaitable[T]) -> T:
    """Run a coroutine from sync code, also when the caller is already inside an event loop."""

    async def wrap() -> T:
        return await coro

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrap()).result()


async def _gather(items: Sequence[Awaitable[T]]) -> list[T]:
    return list(await asyncio.gather(*items))


class _Renderer:
    """Chat template rendering and the token bookkeeping between turns."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ConfigError(
                f"The tokenizer {type(tokenizer).__name__} has no chat template; PPO on chat environments needs one. "
                "Set `tokenizer.chat_template` or use an instruct model's tokenizer."
            )
        self.tokenizer = tokenizer

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, prompt: bool) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, tools=cast(Any, tools or None), add_generation_prompt=prompt, tokenize=False
        )
        return str(text)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def env_tokens(
        self, episode: Episode, text_so_far: str, tools: list[dict[str, Any]] | None
    ) -> tuple[list[int], str]:
        """Tokens that close the policy's turn and add the env's messages, and the new full text."""
        new_text = self.render(episode.messages, tools, prompt=True)
        if new_text.startswith(text_so_far):
            return self.encode(new_text[len(text_so_far) :]), new_text
        # The template rewrote the policy's turn (stripped it, say): continue from the end of that turn.
        closed = self.render(episode.messages[: _last_assistant(episode.messages) + 1], tools, prompt=False)
        start = _common_prefix(closed, new_text)
        logger.warning(
            "The chat template does not extend the policy's turn verbatim; the env turn is tokenized from "
            "character %d of the re-rendered conversation.",
            start,
        )
        ids = self.encode(new_text[start:])
        eos = self.tokenizer.eos_token_id
        if episode.missing_eos and episode.missing_eos[-1] and eos is not None:
            ids = [int(eos), *ids]
        return ids, new_text


def _last_assistant(messages: list[dict[str, Any]]) -> int:
    return max(i for i, m in enumerate(messages) if m.get("role") == "assistant")


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _tools(observation: Observation) -> list[dict[str, Any]] | None:
    specs: list[ToolSpec] = list(observation.tools)
    return [spec.to_openai() for spec in specs] or None


def collect_episodes(
    envs: Sequence[Env],
    seeds: Sequence[int],
    tokenizer: PreTrainedTokenizerBase,
    generate: GenerateFn,
    *,
    max_completion_length: int,
    max_episode_length: int,
    max_turns: int | None = None,
) -> list[Episode]:
    """Play one episode per seed, ``len(envs)`` at a time, each turn batched over the live episodes.

    Args:
        envs: Environment instances to play on (one per concurrent episode).
        seeds: One reset seed per episode.
        tokenizer: Tokenizer with a chat template.
        generate: Samples the policy's completion for each prompt (transformers or vLLM).
        max_completion_length: Most tokens per policy turn (used for the length budget).
        max_episode_length: Most tokens per episode; the episode is truncated before a turn that could pass it.
        max_turns: Most policy turns per episode (None: until the env ends it).

    Returns:
        The episodes, in the order of `seeds`.
    """
    if not envs:
        raise ConfigError("collect_episodes needs at least one environment instance.")
    renderer = _Renderer(tokenizer)
    episodes: list[Episode] = []
    for start in range(0, len(seeds), len(envs)):
        chunk = list(seeds[start : start + len(envs)])
        episodes += _play(
            list(envs[: len(chunk)]), chunk, renderer, generate, max_completion_length, max_episode_length, max_turns
        )
    return episodes


def _play(
    envs: list[Env],
    seeds: list[int],
    renderer: _Renderer,
    generate: GenerateFn,
    max_completion_length: int,
    max_episode_length: int,
    max_turns: int | None,
) -> list[Episode]:
    resets = _run(_gather([env.areset(seed=seed) for env, seed in zip(envs, seeds, strict=True)]))
    episodes, texts, tools = [], [], []
    for observation, _info in resets:
        messages = [Message.from_dict(m).to_dict() for m in observation.messages]
        tool_dicts = _tools(observation)
        text = renderer.render(messages, tool_dicts, prompt=True)
        ids = renderer.encode(text)
        if len(ids) + max_completion_length > max_episode_length:
            raise ConfigError(
                f"An opening prompt has {len(ids)} tokens, which leaves no room for a {max_completion_length}-token "
                f"answer within max_episode_length={max_episode_length}; raise max_episode_length."
            )
        episodes.append(Episode(token_ids=ids, action_mask=[0] * len(ids), prompt_length=len(ids), messages=messages))
        texts.append(text)
        tools.append(tool_dicts)
    eos = renderer.tokenizer.eos_token_id
    turn = 0
    while True:
        live = [i for i, episode in enumerate(episodes) if not episode.done]
        if not live:
            return episodes
        completions = generate([episodes[i].token_ids for i in live])
        for i, completion in zip(live, completions, strict=True):
            episode = episodes[i]
            episode.token_ids += completion
            episode.action_mask += [1] * len(completion)
            episode.turn_ends.append(len(episode.token_ids) - 1)
            episode.missing_eos.append(not completion or completion[-1] != eos)
            content = renderer.tokenizer.decode(completion, skip_special_tokens=True)
            episode.messages.append({"role": "assistant", "content": content})
            texts[i] += str(renderer.tokenizer.decode(completion, skip_special_tokens=False))
        results: list[StepResult] = _run(_gather([envs[i].astep(episodes[i].messages[-1]["content"]) for i in live]))
        turn += 1
        for i, result in zip(live, results, strict=True):
            _record(episodes[i], result)
            episode = episodes[i]
            if episode.done:
                continue
            if max_turns is not None and turn >= max_turns:
                episode.truncated = True
                continue
            episode.messages += [m.to_dict() for m in result.observation.messages]
            tools[i] = _tools(result.observation) or tools[i]
            env_ids, texts[i] = renderer.env_tokens(episode, texts[i], tools[i])
            if len(episode.token_ids) + len(env_ids) + max_completion_length > max_episode_length:
                episode.truncated = True
                continue
            episode.token_ids += env_ids
            episode.action_mask += [0] * len(env_ids)


def _record(episode: Episode, result: StepResult) -> None:
    _observation, reward, terminated, truncated, info = result
    episode.rewards.append(float(reward))
    episode.infos.append(dict(info))
    episode.terminated = bool(terminated)
    episode.truncated = bool(truncated)


def episode_from_trajectory(trajectory: Any, max_length: int) -> Episode:
    """A PPO `Episode` from a `Trajectory` played by the Runner against a vLLM server (token-exact turns)."""
    import json

    from ._rollouts import to_training_sample

    sample = to_training_sample(trajectory, max_length)
    prompt = sample["prompt_ids"]
    ends = sample["turn_ends"]
    kept = [i for i, end in enumerate(ends) if end < len(prompt) + len(sample["completion_ids"])]
    steps = trajectory.steps
    return Episode(
        token_ids=prompt + sample["completion_ids"],
        action_mask=[0] * len(prompt) + sample["env_mask"],
        prompt_length=len(prompt),
        messages=list(trajectory.messages),
        turn_ends=[ends[i] for i in kept],
        rewards=[float(steps[i].reward) for i in kept],
        missing_eos=[steps[i].finish_reason == "length" for i in kept],
        infos=[json.loads(steps[i].info) for i in kept],
        terminated=bool(trajectory.terminated),
        truncated=bool(trajectory.truncated),
        sampler_logprobs=[0.0] * len(prompt) + sample["logprobs"],
    )
