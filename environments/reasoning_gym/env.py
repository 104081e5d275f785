"""Every reasoning-gym dataset as an openenvs env, scored by reasoning-gym's own `score_answer`.

``openenvs.make("rg/basic_arithmetic-v0", max_terms=4)`` builds reasoning-gym's
``basic_arithmetic`` dataset with its config field ``max_terms=4``; the fields of each dataset's
config dataclass are this env's keyword arguments (checked, with a did-you-mean for typos), plus
``seed`` and ``size``. Task *i* is item *i* of the dataset built with that seed, so it is the
same on every machine. The answer goes in ``<answer>...</answer>``, as reasoning-gym's prompts ask.

Reward is the dataset's own `score_answer`, with guards where it pays answers that solve nothing
(found by the reward-hack probes of `openenvs.testing.check_env`):

- reasoning-gym's default scorer gives ``len(gold) / len(answer)`` to any answer that *contains*
  the gold answer, so a string of every digit earns 0.1 on any one-digit task; here an answer
  must equal the gold answer (after stripping whitespace) to score, and exact answers keep 1.0;
- `GUARDED` lists the datasets whose own scorer pays junk, and what replaces it;
- an answer longer than `MAX_ANSWER_CHARS` scores 0 without reaching the scorer (a spray of
  candidates, or a slow path such as a rubiks_cube move repeated millions of times).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import json
import logging
import random
import re
import threading
import typing
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, create_model

from openenvs import ConfigError, EnvConfig, MissingDependency, Score, SingleTurnEnv, Task
from openenvs._shapes import build_config
from openenvs.verify import extract_answer

__all__ = ["GUARDED", "MAX_ANSWER_CHARS", "NO_GOLD_ANSWER", "ReasoningGymConfig", "ReasoningGymEnv", "config_model"]

logger = logging.getLogger(__name__)

NO_GOLD_ANSWER = frozenset({"boxnet", "graph_color", "propositional_logic", "rubiks_cube", "rush_hour"})
"""Datasets whose items carry no single gold answer (a checker scores any valid one): no `oracle`."""


MAX_ANSWER_CHARS = 20_000
"""Longest answer passed to a scorer; longer ones score 0 (no gold answer is near this long)."""


def _same_bool(answer: str | None, entry: dict[str, Any]) -> float:
    """1.0 when the answer names the same truth value as the gold answer ("True"/"False", any case)."""
    return float(answer is not None and answer.strip().lower() == str(entry["answer"]).strip().lower())


def _close_number(answer: str | None, entry: dict[str, Any]) -> float:
    """1.0 when the answer (a decimal or fraction) is within 1e-4 of the gold probability, else 0."""
    from fractions import Fraction

    try:
        got, gold = Fraction((answer or "").replace(",", "").strip()), Fraction(str(entry["answer"]).replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(abs(float(got) - float(gold)) <= 1e-4)


def _no_huge_repeats(answer: str | None, entry: dict[str, Any], upstream: Any) -> float:
    """Reject a move repeated 10 or more times (the scorer expands it into a list first), else score upstream."""
    if answer is None or re.search(r"\d{2,}", answer):
        return 0.0
    return float(upstream(answer, entry))


def _uses_the_numbers(answer: str | None, entry: dict[str, Any], upstream: Any) -> float:
    """Score upstream only an arithmetic expression that uses exactly the puzzle's numbers.

    Any other answer gets what upstream gives no answer (its 0.01 floor).
    """
    if answer is None or not re.fullmatch(r"[\d\s+\-*/()]+", answer):
        return float(upstream(None, entry))  # upstream evals the answer with sympy: keep to arithmetic
    used = sorted(int(n) for n in re.findall(r"\d+", answer))
    if used != sorted(int(n) for n in entry["metadata"]["numbers"]):
        return float(upstream(None, entry))
    return float(upstream(answer, entry))


GUARDED: dict[str, tuple[str, Any]] = {
    "game_of_life_halting": (
        "upstream compares bool(answer) == bool(gold), true for every non-empty answer",
        lambda answer, entry, upstream: _same_bool(answer, entry),
    ),
    "coin_flip": (
        "upstream's prefix credit divides by the shorter string, so '0' scores 1.0 against '0.99...'",
        lambda answer, entry, upstream: _close_number(answer, entry),
    ),
    "puzzle24": (
        "upstream checks that the expression makes 24, not that it uses the puzzle's numbers: '1*2*10 + 4' "
        "solves every item",
        _uses_the_numbers,
    ),
    "rubiks_cube": (
        "upstream expands 'R12345678' into twelve million moves before scoring (minutes per answer)",
        _no_huge_repeats,
    ),
}
"""Datasets whose own `score_answer` pays junk or can be made to hang: (why, replacement scorer)."""


class ReasoningGymConfig(EnvConfig):
    """Fields every `rg/*` env has; each dataset adds its own config fields (see `config_model`)."""

    dataset: str = Field(description="reasoning-gym dataset name, e.g. 'basic_arithmetic'.")
    size: int = Field(default=1000, ge=1, description="Number of distinct items; task index wraps around it.")
    format_reward: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Least reward for an answer given in <answer> tags; 0 disables it."
    )


_numpy_lock = threading.RLock()


@contextlib.contextmanager
def _scoped_global_seed(key: str) -> Iterator[None]:
    """Give one item's generation its own seeded global `random` and NumPy generators.

    A few datasets (e.g. ``codeio``) run reference code that does ``import random`` / ``import numpy``
    and draws from the global generators; without this their items would differ between processes.
    Seeding and restoring the global state is not thread-safe (episodes in the Runner's threads
    interleave their draws), so the `random` module's functions are routed to a ``random.Random``
    of this item for the calling thread only (`openenvs.bridges._rng`); NumPy's global generator,
    which cannot be routed, is seeded and restored under a lock. No global state leaks out.
    """
    import numpy as np

    from openenvs.bridges import _rng

    _rng.route_global_random()
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")
    with _numpy_lock, _rng.episode_rng(random.Random(digest)):
        saved_numpy = np.random.get_state()
        np.random.seed(digest)
        try:
            yield
        finally:
            np.random.set_state(saved_numpy)


_EXTRA_ARGS: dict[tuple[str, int, int, str], dict[str, Any]] = {}


@functools.lru_cache(maxsize=16)
def _build_dataset(key: tuple[str, int, int, str]) -> Any:
    """Build a dataset once per config: several load data files (codeio, arc_agi) or word lists."""
    from reasoning_gym.factory import create_dataset

    name, seed, size, _ = key
    try:
        return create_dataset(name, seed=seed, size=size, **_EXTRA_ARGS[key])
    except (AssertionError, ValueError, TypeError) as exc:
        raise ConfigError(f"reasoning-gym rejected the config of `{name}`: {exc}") from exc


@functools.lru_cache(maxsize=2048)
def _cached_item(key: tuple[str, int, int, str], index: int) -> Any:
    with _scoped_global_seed(f"{key[1]}:{index}"):
        return _build_dataset(key)[index]


def _item(key: tuple[str, int, int, str], index: int) -> dict[str, Any]:
    """Item `index` of a dataset, generated once (some, like zebra_puzzles, are slow) and copied out."""
    return copy.deepcopy(_cached_item(key, index))  # type: ignore[no-any-return]


def _datasets() -> dict[str, tuple[type, type]]:
    try:
        from reasoning_gym.factory import DATASETS
    except ImportError as exc:
        raise MissingDependency("reasoning-gym", "math", purpose="the rg/* environments") from exc
    return DATASETS


@functools.cache
def config_model(dataset: str) -> type[ReasoningGymConfig]:
    """The pydantic config of one dataset: `ReasoningGymConfig` plus the dataset's config fields."""
    datasets = _datasets()
    if dataset not in datasets:
        import difflib

        close = difflib.get_close_matches(dataset, list(datasets), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"reasoning-gym has no dataset {dataset!r}.{hint} Run `openenvs list --tag reasoning-gym`.")
    config_cls = datasets[dataset][1]
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: accept any value
        hints = {}
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(config_cls):
        if field.name in ("seed", "size"):
            continue
        if field.default is not dataclasses.MISSING:
            default: Any = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=field.default_factory)
        else:
            default = ...
        annotation = hints.get(field.name, Any)
        try:  # types pydantic cannot validate (custom classes) are passed through unchecked
            create_model("_Probe", __config__=ConfigDict(arbitrary_types_allowed=True), x=(annotation, ...))
        except Exception:  # noqa: BLE001
            annotation = Any
        fields[field.name] = (annotation, default)
    model = create_model(  # type: ignore[call-overload]
        f"RG_{dataset}_Config",
        __base__=ReasoningGymConfig,
        __doc__=f"Config of `rg/{dataset}-v0`: reasoning-gym's {config_cls.__name__} fields plus seed and size.",
        **fields,
    )
    model.model_config["arbitrary_types_allowed"] = True
    model.model_rebuild(force=True)
    return model  # type: ignore[no-any-return]


class ReasoningGymEnv(SingleTurnEnv[ReasoningGymConfig]):
    """One reasoning-gym item per episode; reward is the dataset's own `score_answer` in [0, 1]."""

    Config = ReasoningGymConfig
    config: ReasoningGymConfig
    default_system_prompt: ClassVar[str | None] = None  # reasoning-gym's default prompt, read at reset

    def __init__(self, **kwargs: Any) -> None:
        """Validate kwargs against the dataset's config; the dataset is built on the first reset."""
        name = kwargs.get("dataset")
        if not isinstance(name, str):
            raise ConfigError("ReasoningGymEnv needs dataset='<name>', e.g. dataset='basic_arithmetic'.")
        self.Config = config_model(name)  # type: ignore[misc]
        self.config = build_config(self.Config, kwargs, f"rg/{name}-v0")
        self._dataset: Any = None
        if name in NO_GOLD_ANSWER:
            self.oracle = None  # type: ignore[assignment,method-assign]

    @property
    def dataset(self) -> Any:
        """The reasoning-gym dataset (built on first use, shared by envs with the same config)."""
        if self._dataset is None:
            self._dataset = _build_dataset(self._dataset_key())
        return self._dataset

    def _dataset_key(self) -> tuple[str, int, int, str]:
        own = set(ReasoningGymConfig.model_fields)
        extra = {k: getattr(self.config, k) for k in sorted(self.config.model_fields_set) if k not in own}
        key = (self.config.dataset, self.config.seed, self.config.size, json.dumps(extra, default=repr))
        _EXTRA_ARGS.setdefault(key, extra)
        return key

    def num_tasks(self) -> int:
        """Number of distinct items (`size`)."""
        return self.config.size

    def get_task(self, index: int) -> Task:
        """Task `index`: item ``index mod size`` of the dataset."""
        from reasoning_gym.utils import SYSTEM_PROMPTS

        self.dataset  # noqa: B018 - build (or fetch) it first, so that config errors surface here
        entry = _item(self._dataset_key(), index % self.config.size)
        system = self.config.system_prompt if self.config.system_prompt is not None else SYSTEM_PROMPTS["default"]
        prompt = [{"role": "system", "content": system}, {"role": "user", "content": entry["question"]}]
        difficulty = entry.get("metadata", {}).get("difficulty")
        return Task(
            prompt=prompt,  # type: ignore[arg-type]
            answer=entry["answer"],
            difficulty=difficulty if isinstance(difficulty, int) else None,
            metadata={"entry": entry},
        )

    def score(self, text: str, task: Task) -> Score:
        """Score the ``<answer>`` content with the dataset's `score_answer`."""
        extracted = extract_answer(text, "tag")
        entry = task.metadata["entry"]
        try:
            value = self._score_answer(extracted, entry)
        except Exception as exc:  # noqa: BLE001 - a scorer crash on odd input is a wrong answer
            logger.debug("score_answer of %s failed: %r", self.config.dataset, exc)
            value = 0.0
        value = min(1.0, max(0.0, value))
        if extracted is not None:
            value = max(value, self.config.format_reward)
        return Score(reward=value, correct=value >= 1.0, info={"answer": task.answer, "extracted": extracted})

    def _score_answer(self, answer: str | None, entry: dict[str, Any]) -> float:
        """The dataset's `score_answer`, behind the guards listed in the module docstring."""
        if answer is not None and len(answer) > MAX_ANSWER_CHARS:
            return 0.0
        upstream = self.dataset.score_answer
        guard = GUARDED.get(self.config.dataset)
        if guard is not None:
            return float(guard[1](answer, entry, upstream))
        if _uses_default_scorer(self.dataset):
            return float(answer is not None and answer.strip() == str(entry["answer"]).strip())
        return float(upstream(answer, entry))

    def oracle(self) -> str | None:
        """Return the gold answer of the current item in ``<answer>`` tags (None before reset)."""
        if self.task is None or self.task.answer is None:
            return None
        return f"<answer>{self.task.answer}</answer>"


def _uses_default_scorer(dataset: Any) -> bool:
    """Whether the dataset keeps reasoning-gym's base `score_answer` (substring credit)."""
    from reasoning_gym.dataset import ProceduralDataset

    return getattr(type(dataset), "score_answer", None) is ProceduralDataset.score_answer
