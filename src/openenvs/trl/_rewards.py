r"""Reward functions in TRL's calling convention that score completions through the env.

Each function is batched and keyword-only (``prompts``, ``completions`` and the dataset columns
``env_id``, ``env_kwargs``, ``env_seed``), accepts ``**kwargs`` and returns one float per
completion, or None where it does not apply. They are importable by dotted path, so a TRL
config can name them: ``reward_funcs: [openenvs.trl.correct_reward, openenvs.trl.format_reward]``.

The episode behind a row is rebuilt from its columns: ``make(env_id, **env_kwargs)`` then
``reset(seed=env_seed)``, so the reward is exactly what the env gives; results are cached, so the
correctness and format functions step each completion once between them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._api import make
from .._env import Env

__all__ = [
    "EnvScorer",
    "completion_text",
    "correct_reward",
    "default_scorer",
    "env_reward",
    "format_reward",
    "lenient_correct_reward",
    "tool_answer_reward",
]

logger = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    r"""Return the text of a TRL completion: a string, or the last assistant message of a conversation.

    Example:
        >>> completion_text([{"role": "assistant", "content": "\\boxed{4}"}])
        '\\boxed{4}'
    """
    if isinstance(completion, str):
        return completion
    for message in reversed(list(completion)):
        if message.get("role") == "assistant" and not message.get("tool_calls"):
            return str(message.get("content") or "")
    return str(completion[-1].get("content") or "") if completion else ""


class EnvScorer:
    """Scores (row, completion) pairs through cached env instances and remembers recent results.

    Cheap verdicts (a regex, a fast-path number compare) run inline; once scoring proves slow
    (a sandboxed unit test, a math-verify call in the env's worker pool), a batch is scored by a
    thread pool, each thread with its own env instances, so the waits overlap.

    Args:
        cache_size: How many (row, completion) verdicts to keep, so several reward functions
            scoring the same batch step each completion once.
        workers: Threads for slow batches; 1 scores everything inline.
        slow_s: Mean seconds per verdict above which a batch goes to the thread pool.
    """

    def __init__(self, cache_size: int = 8192, workers: int = 8, slow_s: float = 0.01) -> None:
        """Start with no envs and an empty verdict cache."""
        self._envs: dict[tuple[int, str, str], Env] = {}
        self._verdicts: OrderedDict[tuple[str, str, int, str], tuple[float, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._mean_s = 0.0
        self._pool: ThreadPoolExecutor | None = None
        self.workers = workers
        self.slow_s = slow_s
        self.outcomes: list[tuple[str, float]] = []
        """(env_id, correct-or-reward) of every newly scored completion; consumers (a curriculum) drain it."""

    def clear(self) -> None:
        """Close the cached envs and forget the cached verdicts (e.g. after `use_remote` re-routed an id)."""
        with self._lock:
            envs, self._envs = list(self._envs.values()), {}
            self._verdicts.clear()
        for env in envs:
            env.close()

    def env(self, env_id: str, kwargs_json: str) -> Env:
        """Return this thread's cached env for `env_id` with these (JSON-encoded) kwargs."""
        key = (threading.get_ident(), env_id, kwargs_json)
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = make(env_id, **json.loads(kwargs_json or "{}"))
        return env

    def score(
        self, env_id: str, kwargs_json: str, seed: int, text: str, *, record: bool = True
    ) -> tuple[float, dict[str, Any]]:
        """Reward and info of answering episode (`env_id`, kwargs, `seed`) with `text` in one step.

        With `record`, the outcome is appended to :attr:`outcomes` (for a curriculum).
        """
        key = (env_id, kwargs_json, int(seed), text)
        with self._lock:
            hit = self._verdicts.get(key)
            if hit is not None:
                self._verdicts.move_to_end(key)
                return hit
        started = time.perf_counter()
        env = self.env(env_id, kwargs_json)
        env.reset(seed=int(seed))
        result = env.step(text)
        verdict = (float(result.reward), dict(result.info))
        self._mean_s = 0.9 * self._mean_s + 0.1 * (time.perf_counter() - started)
        with self._lock:
            self._verdicts[key] = verdict
            if len(self._verdicts) > self._cache_size:
                self._verdicts.popitem(last=False)
            correct = verdict[1].get("correct")
            if record:
                self.outcomes.append((env_id, float(correct) if correct is not None else verdict[0]))
        return verdict

    def score_batch(
        self,
        completions: Sequence[Any],
        env_id: Sequence[str],
        env_kwargs: Sequence[str],
        env_seed: Sequence[int],
        *,
        record: bool = True,
    ) -> list[tuple[float, dict[str, Any]]]:
        """Score every completion of a TRL batch against its row's episode."""
        items = [
            (eid, kw, seed, completion_text(c))
            for c, eid, kw, seed in zip(completions, env_id, env_kwargs, env_seed, strict=True)
        ]
        if self.workers > 1 and len(items) > 1 and self._mean_s > self.slow_s:
            if self._pool is None:  # kept for the scorer's life, so each thread keeps its env instances
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="openenvs-score")
            return list(self._pool.map(lambda item: self.score(*item, record=record), items))
        return [self.score(*item, record=record) for item in items]

    def close(self) -> None:
        """Close the cached envs and the thread pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for env in self._envs.values():
            env.close()
        self._envs.clear()


_DEFAULT = EnvScorer()


def default_scorer() -> EnvScorer:
    """The scorer behind the module-level reward functions (one per process)."""
    return _DEFAULT


def _verdicts(completions: Sequence[Any], kwargs: dict[str, Any]) -> list[tuple[float, dict[str, Any]]] | None:
    if "environments" in kwargs and kwargs["environments"] is not None:  # tool envs via environment_factory
        finals = [env._finish(completion_text(c)) for env, c in zip(kwargs["environments"], completions, strict=True)]
        return [v if isinstance(v, tuple) else (float(v), {}) for v in finals]
    if "env_return" in kwargs:  # multi-turn episodes already played by the rollout function
        return [(float(r), dict(i)) for r, i in zip(kwargs["env_return"], kwargs["env_info"], strict=True)]
    missing = [c for c in ("env_id", "env_kwargs", "env_seed") if c not in kwargs]
    if missing:
        raise ValueError(
            f"openenvs reward functions need the dataset columns {missing}; build the dataset with "
            "openenvs.trl.for_grpo(...) or keep those columns (remove_unused_columns=False is not needed)."
        )
    return _DEFAULT.score_batch(completions, kwargs["env_id"], kwargs["env_kwargs"], kwargs["env_seed"])


def _log_per_env(kwargs: dict[str, Any], verdicts: list[tuple[float, dict[str, Any]]]) -> None:
    log_metric = kwargs.get("log_metric")
    ids = kwargs.get("env_id")
    if log_metric is None or ids is None:
        return
    for env_id in sorted(set(ids)):
        rows = [v for v, i in zip(verdicts, ids, strict=True) if i == env_id]
        log_metric(f"env/{env_id}/reward", sum(r for r, _ in rows) / len(rows))
        flags: list[float] = [float(bool(info["correct"])) for _, info in rows if info.get("correct") is not None]
        if flags:
            log_metric(f"env/{env_id}/accuracy", sum(flags) / len(flags))


def env_reward(*, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""The env's own reward for each completion (including any shaping the env config sets).

    Example:
        >>> env_reward(completions=["\\boxed{4}"], env_id=["math/arithmetic-v1"], env_kwargs=["{}"], env_seed=[0])
        [0.0]
    """
    verdicts = _verdicts(completions, kwargs)
    assert verdicts is not None
    _log_per_env(kwargs, verdicts)
    return [reward for reward, _ in verdicts]


def correct_reward(*, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""1.0 when the env judges the answer correct, else 0.0; the env reward where it has no notion of correct.

    Example:
        >>> from openenvs import make
        >>> env = make("math/arithmetic-v1"); _ = env.reset(seed=0); answer = env.task.answer
        >>> correct_reward(completions=[f"\\boxed{{{answer}}}"], env_id=["math/arithmetic-v1"],
        ...                env_kwargs=["{}"], env_seed=[0])
        [1.0]
    """
    verdicts = _verdicts(completions, kwargs)
    assert verdicts is not None
    _log_per_env(kwargs, verdicts)
    return [float(info["correct"]) if info.get("correct") is not None else reward for reward, info in verdicts]


def format_reward(*, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""1.0 when the env could extract an answer (e.g. a ``\boxed{}``), else 0.0; None for envs that do not say.

    Example:
        >>> format_reward(completions=["\\boxed{7}", "seven"], env_id=["math/arithmetic-v1"] * 2,
        ...               env_kwargs=["{}"] * 2, env_seed=[0, 0])
        [1.0, 0.0]
    """
    verdicts = _verdicts(completions, kwargs)
    assert verdicts is not None
    return [(1.0 if info["extracted"] is not None else 0.0) if "extracted" in info else None for _, info in verdicts]


def _lenient(env_id: str, kwargs_json: str) -> str:
    env = _DEFAULT.env(env_id, kwargs_json)
    config = getattr(env, "config", None)
    if config is None or "answer_style" not in type(config).model_fields:
        return kwargs_json
    return json.dumps({**json.loads(kwargs_json or "{}"), "answer_style": "auto"}, sort_keys=True)


def lenient_correct_reward(*, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    r"""Correctness wherever the answer is written (``answer_style="auto"``: boxed, tags, ``####``, last number).

    For envs with an ``answer_style`` field; other envs get :func:`correct_reward`. It rewards a right
    answer before the model has learned the format, so both curves can rise from the start.

    Example:
        >>> from openenvs import make
        >>> env = make("math/arithmetic-v1"); _ = env.reset(seed=0); answer = env.task.answer
        >>> lenient_correct_reward(completions=[f"It is {answer}"], env_id=["math/arithmetic-v1"],
        ...                        env_kwargs=["{}"], env_seed=[0])
        [1.0]
    """
    if "environments" in kwargs or "env_return" in kwargs or "env_id" not in kwargs:
        return correct_reward(completions=completions, **kwargs)
    lenient = [_lenient(eid, kw) for eid, kw in zip(kwargs["env_id"], kwargs["env_kwargs"], strict=True)]
    verdicts = _DEFAULT.score_batch(completions, kwargs["env_id"], lenient, kwargs["env_seed"], record=False)
    return [float(info["correct"]) if info.get("correct") is not None else reward for reward, info in verdicts]


def tool_answer_reward(*, completions: Sequence[Any], environments: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """Hand each rollout's final answer to its tool env; returns None (the env's ``get_reward`` column scores it).

    For TRL's ``environment_factory`` classes from ``openenvs.tools.environment_factory``: TRL adds
    their ``get_reward`` as a reward column after the reward functions, so recording the answer
    here lets the env's checker judge it. Without environments, every value is None.
    """
    for env, completion in zip(environments or [], completions, strict=False):
        env._finish(completion_text(completion))
    return [None] * len(completions)
