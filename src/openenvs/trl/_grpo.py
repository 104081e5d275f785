"""`for_grpo`: any registered env (or a weighted mixture) as keyword arguments for TRL's `GRPOTrainer`.

    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), **for_grpo("math/arithmetic-v1", n=512))

- single-turn envs: a dataset of prompts with ``env_id``/``env_kwargs``/``env_seed`` columns and
  reward functions that score each completion through the env (correctness and format apart);
- tool envs: TRL's ``environment_factory`` (``openenvs.tools.environment_factory``: the env's tools
  become methods, the env's checker scores the end);
- other multi-turn envs: a ``rollout_func`` that plays the episode turn by turn with an env mask.

With a :class:`~openenvs.verify.Curriculum`, the prompts are drawn at the curriculum's current
level as training runs, and a callback raises the level as accuracy rises.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._api import make, spec
from .._errors import ConfigError, MissingDependency
from ._rewards import correct_reward, default_scorer, env_reward, format_reward, tool_answer_reward

if TYPE_CHECKING:
    from ..verify import Curriculum

__all__ = ["EnvSource", "for_grpo", "make_rows"]

EnvSource = str | tuple[str, Mapping[str, Any]]
"""An env id, or ``(env_id, kwargs)``."""


def _normalise(envs: EnvSource | Sequence[EnvSource]) -> list[tuple[str, dict[str, Any]]]:
    items: Sequence[Any] = [envs] if isinstance(envs, (str, tuple)) else list(envs)
    if not items:
        raise ConfigError("for_grpo needs at least one env, e.g. for_grpo('math/arithmetic-v1').")
    out: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append((item[0], dict(item[1])))
        else:
            raise ConfigError(f"An env is an id or (id, kwargs); got {item!r}.")
    return out


def _kind(env_id: str) -> str:
    return str(spec(env_id).kind)


def make_rows(
    envs: Sequence[tuple[str, dict[str, Any]]],
    *,
    n: int,
    seed: int,
    weights: Sequence[float] | None = None,
    exclude: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Draw `n` episodes from a weighted mixture of envs: their opening messages and how to rebuild them.

    Args:
        envs: ``(env_id, kwargs)`` pairs.
        n: Number of rows.
        seed: Seeds the choice of env and the episode seeds; the same arguments give the same rows.
        weights: Relative frequency of each env (default: equal).
        exclude: Prompt texts to skip (e.g. the training prompts, to build a held-out set).

    Returns:
        Rows with ``prompt`` (chat messages), ``env_id``, ``env_kwargs`` (JSON) and ``env_seed``.
    """
    if weights is not None and (len(weights) != len(envs) or any(w < 0 for w in weights) or sum(weights) <= 0):
        raise ConfigError(f"weights must be {len(envs)} non-negative numbers with a positive sum; got {list(weights)}.")
    p = np.asarray(weights if weights is not None else [1.0] * len(envs), dtype=float)
    rng = np.random.default_rng(seed)
    made = [make(env_id, **kwargs) for env_id, kwargs in envs]
    rows: list[dict[str, Any]] = []
    attempts = 0
    while len(rows) < n:
        attempts += 1
        if attempts > 50 * n + 100:
            raise ConfigError(f"Could not draw {n} distinct held-out episodes from {[e for e, _ in envs]}; lower n.")
        which = int(rng.choice(len(envs), p=p / p.sum()))
        episode_seed = int(rng.integers(2**31 - 1))
        obs, _ = made[which].reset(seed=episode_seed)
        prompt = [m.model_dump(exclude_none=True) for m in obs.messages]
        if exclude is not None and _prompt_key(prompt) in exclude:
            continue
        env_id, kwargs = envs[which]
        rows.append({"prompt": prompt, "env_id": env_id, "env_kwargs": json.dumps(kwargs, sort_keys=True), "env_seed": episode_seed})
    for env in made:
        env.close()
    return rows


def _prompt_key(prompt: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([m.get("content") for m in prompt])


def for_grpo(
    envs: EnvSource | Sequence[EnvSource],
    *,
    n: int = 1024,
    seed: int = 0,
    weights: Sequence[float] | None = None,
    curriculum: Curriculum | None = None,
    max_turns: int | None = None,
    index: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``trl.GRPOTrainer`` that train on `envs`.

    Args:
        envs: An env id, ``(env_id, kwargs)``, or a list of them (a mixture).
        n: Number of training prompts (episodes) to draw.
        seed: Seeds which episodes are drawn.
        weights: Mixture weights, one per env (default: equal).
        curriculum: Draw prompts at this curriculum's current level and raise it as accuracy
            rises (single-turn envs; `envs` must be the curriculum's env).
        max_turns: For multi-turn envs, the most policy turns per episode (default: the env's).
        index: Filled with every row drawn (also as a curriculum streams them), by
            ``openenvs.trl._rollouts.prompt_key`` of its prompt: how a ``rollout_func`` that TRL
            hands only prompts (e.g. vLLM rollouts) finds each prompt's env, kwargs and seed.

    Returns:
        ``train_dataset`` and ``reward_funcs``, plus ``environment_factory`` (tool envs),
        ``rollout_func`` (other multi-turn envs) or ``callbacks`` (curriculum).

    Raises:
        ConfigError: An empty or malformed env list, bad weights, or tool envs mixed with others.
        MissingDependency: `datasets` (the `trl` extra) is not installed.
    """
    try:
        from datasets import Dataset, IterableDataset
    except ImportError as exc:
        raise MissingDependency("datasets", "trl", "training with TRL") from exc
    items = _normalise(envs)
    kinds = {_kind(env_id) for env_id, _ in items}
    if curriculum is not None:
        return _with_curriculum(items, curriculum, n=n, seed=seed, dataset_cls=IterableDataset, index=index)
    rows = make_rows(items, n=n, seed=seed, weights=weights)
    if index is not None:
        from ._rollouts import prompt_key

        index.update({prompt_key(r["prompt"]): r for r in rows})
    dataset = Dataset.from_list(rows)
    if "tools" in kinds:
        if kinds != {"tools"}:
            raise ConfigError(f"Tool envs train through TRL's environment_factory and cannot be mixed with {kinds - {'tools'}} envs.")
        from ..tools import environment_factory

        # TRL calls reset(**row); the tool env picks its episode from `seed`.
        dataset = dataset.add_column("seed", [r["env_seed"] for r in rows])
        if len(items) == 1:
            factory: Any = environment_factory(items[0][0], **items[0][1])
        else:  # TRL routes each row to its env by the `environment` column
            factory = {f"{i}:{env_id}": environment_factory(env_id, **kwargs) for i, (env_id, kwargs) in enumerate(items)}
            slot = {(env_id, json.dumps(kwargs, sort_keys=True)): i for i, (env_id, kwargs) in enumerate(items)}
            dataset = dataset.add_column(
                "environment", [f"{slot[(r['env_id'], r['env_kwargs'])]}:{r['env_id']}" for r in rows]
            )
        # The env's checker scores each rollout through the class's get_reward (a reward column TRL adds);
        # tool_answer_reward first hands it the model's final answer.
        return {"train_dataset": dataset, "reward_funcs": [tool_answer_reward], "environment_factory": factory}
    if "multi-turn" in kinds:
        from ._multiturn import make_rollout_func

        return {"train_dataset": dataset, "reward_funcs": [env_reward], "rollout_func": make_rollout_func(rows, max_turns=max_turns)}
    return {"train_dataset": dataset, "reward_funcs": _single_turn_rewards(rows[0])}


def _single_turn_rewards(row: Mapping[str, Any]) -> list[Any]:
    """Correctness and format apart when the env reports both, else the env's own reward."""
    _, info = default_scorer().score(row["env_id"], row["env_kwargs"], row["env_seed"], "", record=False)
    if info.get("correct") is not None and "extracted" in info:
        return [correct_reward, format_reward]
    return [env_reward]


def _with_curriculum(
    items: list[tuple[str, dict[str, Any]]],
    curriculum: Curriculum,
    *,
    n: int,
    seed: int,
    dataset_cls: Any,
    index: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    from ._curriculum import CurriculumCallback

    if len(items) != 1 or items[0][0] != curriculum.env_id:
        raise ConfigError(f"With a curriculum, envs must be its env `{curriculum.env_id}` alone; got {[e for e, _ in items]}.")
    if _kind(curriculum.env_id) != "single-turn":
        raise ConfigError("A curriculum drives single-turn envs; multi-turn and tool envs take a fixed difficulty.")
    base = items[0][1]

    def generate() -> Iterator[dict[str, Any]]:
        rng = np.random.default_rng(seed)
        envs: dict[str, Any] = {}
        while True:  # TRL stops at max_steps
            kwargs = {**base, **curriculum.kwargs}
            key = json.dumps(kwargs, sort_keys=True)
            if key not in envs:
                envs[key] = make(curriculum.env_id, **kwargs)
            episode_seed = int(rng.integers(2**31 - 1))
            obs, _ = envs[key].reset(seed=episode_seed)
            prompt = [m.model_dump(exclude_none=True) for m in obs.messages]
            row = {"prompt": prompt, "env_id": curriculum.env_id, "env_kwargs": key, "env_seed": episode_seed}
            if index is not None:
                from ._rollouts import prompt_key

                index[prompt_key(prompt)] = row
            yield row

    first = next(generate())
    dataset = dataset_cls.from_generator(generate)
    del n  # the stream is endless; GRPOConfig.max_steps bounds it
    return {
        "train_dataset": dataset,
        "reward_funcs": _single_turn_rewards(first),
        "callbacks": [CurriculumCallback(curriculum, default_scorer())],
    }
