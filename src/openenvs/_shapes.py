"""Helpers that make the two common episode shapes short to write.

- :class:`SingleTurnEnv`: a prompt goes in, one answer comes back and is scored (math, code).
- :class:`MultiTurnEnv`: the env answers each policy turn until the task is done or turns run out.

Both draw task *i* as a pure function of ``(config.seed, i)`` (`task_rng` gives the RNG for it); ``reset(seed=s)`` picks the task
index from ``s`` (or takes ``options={"index": i}``), so the same id, kwargs and seed give the
same episode in any process.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._env import Env, action_text
from ._errors import ConfigError
from ._types import Action, Message, Observation, StepResult, ToolSpec

__all__ = ["EnvConfig", "MultiTurnEnv", "Score", "SingleTurnEnv", "Task", "Turn", "build_config"]

_MAX_INDEX = 2**31 - 1


class EnvConfig(BaseModel):
    """Base of every environment config: frozen, and unknown fields fail loudly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(default=0, description="Dataset seed: task i is a pure function of (seed, i). Keep 0.")
    system_prompt: str | None = Field(
        default=None, description="System message shown before the task; None uses the env's default."
    )


ConfigT = TypeVar("ConfigT", bound=EnvConfig)


def build_config(config_cls: type[ConfigT], kwargs: dict[str, Any], owner: str) -> ConfigT:
    """Validate kwargs into `config_cls`, turning pydantic errors into a `ConfigError` that names the fix."""
    try:
        return config_cls(**kwargs)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(config)"
            if err["type"] == "extra_forbidden":
                import difflib

                close = difflib.get_close_matches(field, list(config_cls.model_fields), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                problems.append(f"unknown argument `{field}`{hint}")
            else:
                problems.append(f"`{field}`: {err['msg']} (got {err.get('input')!r})")
        fields = ", ".join(sorted(config_cls.model_fields))
        raise ConfigError(f"Invalid config for {owner}: {'; '.join(problems)}. Valid arguments: {fields}.") from None


class Task(BaseModel):
    """One task of an environment: what the policy sees and what it is judged against."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    prompt: str | list[Message] = Field(description="User prompt text, or the full opening messages.")
    answer: Any = Field(default=None, description="Gold answer or test data used by `score`.")
    difficulty: int | None = Field(default=None, description="Difficulty level of this task, when the env has levels.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Anything else the scorer needs.")


class Score(BaseModel):
    """The verdict on one answer."""

    model_config = ConfigDict(extra="forbid")

    reward: float = Field(description="Reward inside the manifest's reward_range.")
    correct: bool | None = Field(default=None, description="Whether the answer is right; None if not applicable.")
    info: dict[str, Any] = Field(default_factory=dict, description="Extra fields merged into the step info.")


class _TaskEnv(Env, Generic[ConfigT]):
    Config: ClassVar[type[EnvConfig]] = EnvConfig
    default_system_prompt: ClassVar[str | None] = None
    config: ConfigT
    task: Task | None = None
    index: int | None = None

    def __init__(self, **kwargs: Any) -> None:
        """Validate keyword arguments into `self.config` (a frozen `Config`); no I/O happens here."""
        self.config = build_config(self.Config, kwargs, type(self).__name__)  # type: ignore[assignment]
        if "max_turns" in type(self.config).model_fields:
            self.max_turns = self.config.max_turns  # type: ignore[attr-defined]

    def get_task(self, index: int) -> Task:
        """Return task `index`; a pure function of ``(self.config.seed, index)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_task(index)")

    def task_rng(self, index: int, *salt: object) -> random.Random:
        """The RNG that draws task `index`: ``random.Random(f"{config.seed}:{index}:{salt...}")``.

        Seeding from the text of ``(seed, index, *salt)`` makes task *i* a pure function of them, the
        same in every process and Python version (string seeds are hashed with SHA-512, not ``hash``).
        Pass what else changes the task, such as the difficulty level, as `salt`.
        """
        return random.Random(":".join(str(part) for part in (self.config.seed, index, *salt)))

    def num_tasks(self) -> int | None:
        """Number of distinct tasks, or None for an unbounded procedural family."""
        return None

    def tools(self) -> list[ToolSpec]:
        """Tools offered to the policy (none by default)."""
        return []

    def opening_messages(self, task: Task) -> list[Message]:
        """The system and user messages that open an episode."""
        if isinstance(task.prompt, list):
            return list(task.prompt)
        system = self.config.system_prompt if self.config.system_prompt is not None else self.default_system_prompt
        head = [Message(role="system", content=system)] if system else []
        return [*head, Message(role="user", content=task.prompt)]

    def task_index(self, seed: int | None, options: dict[str, Any] | None) -> int:
        """The task index for an episode: ``options["index"]`` or one drawn from the seeded RNG."""
        if options and "index" in options:
            index = int(options["index"])
        else:
            n = self.num_tasks()
            index = int(self.np_random.integers(n if n else _MAX_INDEX))
        n = self.num_tasks()
        return index % n if n else index

    def source(self) -> dict[str, Any]:
        """The `info["source"]` record that traces a reward back to its task."""
        return {
            "env_id": self.spec.id if self.spec else type(self).__name__,
            "index": self.index,
            "difficulty": self.task.difficulty if self.task else None,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Pick the task for this seed and return its opening messages."""
        super().reset(seed=seed)
        self.index = self.task_index(seed, options)
        self.task = self.get_task(self.index)
        self.on_reset(self.task)
        obs = Observation(messages=self.opening_messages(self.task), tools=self.tools())
        return obs, {"source": self.source()}

    def on_reset(self, task: Task) -> None:
        """Hook: set up per-episode state for `task` (called by reset)."""


class SingleTurnEnv(_TaskEnv[ConfigT]):
    """A prompt in, one scored answer out; the episode ends after one step.

    A subclass MUST implement ``get_task(index) -> Task`` and ``score(text, task) -> Score``,
    and MAY set ``Config`` (a subclass of :class:`EnvConfig`), ``default_system_prompt``,
    ``num_tasks()`` (for dataset-backed envs) and ``tools()``.
    """

    def score(self, text: str, task: Task) -> Score:
        """Score the answer `text` against `task`."""
        raise NotImplementedError(f"{type(self).__name__} must implement score(text, task)")

    def step(self, action: Action) -> StepResult:
        """Score the action and end the episode."""
        assert self.task is not None  # guaranteed by the base class's ResetNeeded check
        verdict = self.score(action_text(action), self.task)
        info = {"correct": verdict.correct, "source": self.source(), **verdict.info}
        return StepResult(Observation(), float(verdict.reward), True, False, info)


class Turn(BaseModel):
    """What a multi-turn env answers to one policy turn."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(default_factory=list, description="Messages to append (feedback, next user turn).")
    reward: float = Field(default=0.0, description="Reward for this turn.")
    done: bool = Field(default=False, description="True when the task is over (terminated).")
    correct: bool | None = Field(default=None, description="Whether the task was solved, once known.")
    info: dict[str, Any] = Field(default_factory=dict, description="Extra fields merged into the step info.")


class MultiTurnConfig(EnvConfig):
    """Config of a multi-turn env: adds the turn limit."""

    max_turns: int = Field(default=4, ge=1, description="Truncate the episode after this many policy turns.")


class MultiTurnEnv(_TaskEnv[ConfigT]):
    """The env answers each policy turn until the task is done or `max_turns` is reached.

    A subclass MUST implement ``get_task(index) -> Task`` and ``respond(message, task) -> Turn``
    (keep per-episode state on ``self``, set up in ``on_reset``), and MAY set ``Config``
    (a subclass of :class:`MultiTurnConfig`), ``default_system_prompt`` and ``tools()``.
    """

    Config: ClassVar[type[EnvConfig]] = MultiTurnConfig

    def respond(self, message: Message, task: Task) -> Turn:
        """Answer one policy turn."""
        raise NotImplementedError(f"{type(self).__name__} must implement respond(message, task)")

    def step(self, action: Action) -> StepResult:
        """Pass the action to `respond` and turn its answer into a step result."""
        assert self.task is not None  # guaranteed by the base class's ResetNeeded check
        message = action if isinstance(action, Message) else Message(role="assistant", content=action)
        turn = self.respond(message, self.task)
        info = {"correct": turn.correct, "source": self.source(), **turn.info}
        return StepResult(Observation(messages=turn.messages, tools=self.tools()), float(turn.reward), turn.done, False, info)


__all__ += ["MultiTurnConfig"]
