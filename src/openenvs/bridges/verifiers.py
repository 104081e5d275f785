"""verifiers 0.4 (``import verifiers.v1 as vf``) both ways: its tasksets in openenvs, our envs in verifiers.

    >>> from openenvs.bridges.verifiers import from_verifiers, to_verifiers   # in .venv-verifiers
    >>> env = from_verifiers(MyTaskset(MyTasksetConfig()))                     # doctest: +SKIP
    >>> vf_env = to_verifiers("math/arithmetic-v1", url="http://127.0.0.1:8000")  # doctest: +SKIP

verifiers pins ``mcp==2.0.0`` (ours resolves 2.3), so it lives in a venv of its own
(``.venv-verifiers``, built by scripts/setup.d/61-verifiers.sh); this module runs there. From the
main venv its envs are reached across the process boundary of ``openenvs serve`` (run in that
venv) and ``openenvs.connect``; the other way, `to_verifiers` reaches any openenvs env through
``openenvs serve`` run in the main venv (``url=``), or makes it in-process when it imports here.

**Import** (`from_verifiers`, `VerifiersEnv`; registered: ``verifiers/reverse-text-v0``):

- Task ``i`` of the taskset (iterated as verifiers iterates it, ``num_tasks`` bounding an
  infinite one) is the episode of ``reset(seed=i)``; ``TaskData.system_prompt`` and ``prompt``
  (a string, or verifiers messages) are the opening messages.
- The reply becomes the assistant turn of a verifiers ``Trace`` and verifiers' own
  ``Task.score(trace)`` runs on it: every ``@vf.reward`` (weighted), ``@vf.metric`` and plugged
  reward/judge without a runtime. The reward is ``trace.reward`` (the weighted sum), the episode
  ends after that one reply; ``info["rewards"]`` / ``info["metrics"]`` hold the named parts.
- Not mapped: harness programs (bash, codex, the chat loop in a runtime), runtimes/sandboxes,
  toolsets (MCP tools), multi-agent ``Env.run`` and ``finalize``, signals that need a runtime
  (skipped, as verifiers skips them offline), and judges that call a model.

**Export** (`to_verifiers`): a verifiers ``Env`` whose taskset is ``num_tasks`` episodes of an
openenvs env (task ``i``: ``reset(seed=seed+i)``, the opening observation as the prompt) and whose
``run`` plays the episode turn by turn through verifiers' ``Interaction`` (the env's observation
is the next user turn, as verifiers' own TextArena env does), recording the summed openenvs
reward as the trace's reward ``openenvs``. Verifiers' eval runner (``run_eval``) then drives it
with any harness that speaks chat (``null``) against any OpenAI-compatible server. Not mapped:
openenvs tools (not offered to the model), per-step rewards (summed into one), ``truncated``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
import threading
import types
from collections.abc import Coroutine, Iterable
from typing import Any

from pydantic import Field

from .._env import Env, action_text
from .._errors import ConfigError, MissingDependency
from .._registry import load_entry_point
from .._shapes import EnvConfig, build_config
from .._spec import EnvSpec, Source, VerifierInfo, package_version
from .._types import Action, Message, Observation, StepResult

__all__ = [
    "EXPORT_ID",
    "VerifiersConfig",
    "VerifiersEnv",
    "env_config",
    "from_verifiers",
    "reverse_text_taskset",
    "specs",
    "to_verifiers",
]

UPSTREAM_URL = "https://github.com/PrimeIntellect-ai/verifiers"
EXPORT_ID = "openenvs_verifiers_export"
"""The taskset/environment id `to_verifiers` registers with verifiers' plugin loader."""


def specs() -> list[EnvSpec]:
    """Manifests of the ``verifiers/*`` ids; none where verifiers is not installed. Imports no verifiers."""
    if importlib.util.find_spec("verifiers") is None or (version := package_version("verifiers")) is None:
        return []
    return [
        EnvSpec(
            id="verifiers/reverse-text-v0",
            entry_point="openenvs.bridges.verifiers:VerifiersEnv",
            description=(
                f"Reverse a word: a taskset built from verifiers {version}'s own Taskset/Task/@vf.reward classes, "
                "scored by verifiers' Task.score (exact reversal 1, else the share of letters in place)."
            ),
            license="MIT",
            kind="single-turn",
            tags=["verifiers", "demo", "text"],
            reward_range=(0.0, 1.0),
            sources=[Source(kind="upstream", title=f"verifiers {version}", url=UPSTREAM_URL, license="MIT")],
            verifier=VerifierInfo(name="verifiers:Task.score", version=version),
            extras=["verifiers"],
            packages=["verifiers"],
            kwargs={"taskset": "openenvs.bridges.verifiers:reverse_text_taskset", "num_tasks": 64},
        )
    ]


def _vf() -> Any:
    try:
        import verifiers.v1 as vf
    except ImportError as exc:
        raise MissingDependency(
            "verifiers",
            "verifiers",
            purpose="the verifiers bridge (it runs in .venv-verifiers: scripts/setup.d/61-verifiers.sh)",
        ) from exc
    return vf


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run verifiers' async code to completion from sync code, in a fresh loop (a thread of its own if one runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: list[Any] = []

    def target() -> None:
        box.append(asyncio.run(coro))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return box[0]


# -- import: a verifiers taskset as an openenvs env -----------------------------------------------


class VerifiersConfig(EnvConfig):
    """Config of a bridged verifiers taskset."""

    taskset: str = Field(description="'module:attr' of a vf.Taskset instance, or of a callable returning one.")
    num_tasks: int | None = Field(
        default=None, ge=1, description="Use the first N tasks (required for an infinite taskset)."
    )


class VerifiersEnv(Env):
    """A verifiers taskset whose tasks are episodes and whose ``Task.score`` is the reward; see the module docstring."""

    oracle = None

    def __init__(self, taskset_obj: Any = None, **kwargs: Any) -> None:
        """Validate the config; `taskset_obj` (a ``vf.Taskset``) stands in for the ``taskset`` path."""
        if taskset_obj is not None:
            kwargs.setdefault("taskset", f"<{type(taskset_obj).__name__}>")
        self.config = build_config(VerifiersConfig, kwargs, f"verifiers taskset {kwargs.get('taskset', '?')!r}")
        self._taskset = taskset_obj
        self._tasks: list[Any] | None = None
        self._task: Any = None
        self._prompt: list[Any] = []

    @property
    def tasks(self) -> list[Any]:
        """The taskset's tasks, in verifiers' iteration order (loaded on first use)."""
        if self._tasks is None:
            _vf()
            taskset = self._taskset
            if taskset is None:
                target = load_entry_point(self.config.taskset, extras=["verifiers"])
                taskset = target() if callable(target) and not hasattr(target, "load") else target
            if getattr(taskset, "INFINITE", False) and self.config.num_tasks is None:
                raise ConfigError(f"{type(taskset).__name__} is infinite: pass num_tasks=N to use its first N tasks.")
            tasks = itertools.islice(iter(taskset), self.config.num_tasks)
            self._tasks = list(tasks)
            if not self._tasks:
                raise ConfigError(f"{type(taskset).__name__} yielded no tasks.")
        return self._tasks

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Task ``seed % len(tasks)``: its system prompt and prompt are the opening messages."""
        super().reset(seed=seed)
        tasks = self.tasks
        index = (seed or 0) % len(tasks)
        self._task = tasks[index]
        data = self._task.data
        messages = []
        system = self.config.system_prompt or data.system_prompt
        if system:
            messages.append(Message(role="system", content=system))
        if isinstance(data.prompt, str):
            messages.append(Message(role="user", content=data.prompt))
        else:
            messages.extend(Message(role=m.role, content=_text(m.content)) for m in data.prompt or [])
        self._prompt = messages
        info = {"source": {"env_id": self._name(), "index": index, "difficulty": None}, "task_key": self._task.key}
        return Observation(messages=messages), info

    def step(self, action: Action) -> StepResult:
        """Score the reply with verifiers' ``Task.score`` on a one-turn trace; the episode ends."""
        trace = _trace_for(self._task, self._prompt, action_text(action))
        _run(self._task.score(trace))
        rewards = {k: (None if r is None else {"score": r.score, "weight": r.weight}) for k, r in trace.rewards.items()}
        info = {
            "correct": None,
            "rewards": rewards,
            "metrics": dict(trace.metrics),
            "source": {"env_id": self._name(), "index": self.seed, "difficulty": None},
        }
        return StepResult(Observation(messages=[]), float(trace.reward), True, False, info)

    def _name(self) -> str:
        return self.spec.id if self.spec else self.config.taskset


def _text(content: Any) -> str:
    from verifiers.v1.types import content_text

    return str(content_text(content))


def _trace_for(task: Any, prompt: list[Message], reply: str) -> Any:
    """A verifiers ``Trace`` of `task` holding the prompt and one sampled assistant reply."""
    vf = _vf()
    from verifiers.v1.trace import AgentInfo, TraceTask

    classes = {"system": vf.SystemMessage, "user": vf.UserMessage, "assistant": vf.AssistantMessage}
    nodes = []
    for i, message in enumerate(prompt):
        nodes.append(
            vf.MessageNode(parent=i - 1 if i else None, message=classes[message.role](content=message.content))
        )
    nodes.append(
        vf.MessageNode(
            parent=len(nodes) - 1 if nodes else None, message=vf.AssistantMessage(content=reply), sampled=True
        )
    )
    return vf.Trace(
        task=TraceTask(type=type(task).__name__, data=task.data, key=task.key, hash=task.hash),
        agent=AgentInfo(config=vf.AgentConfig()),
        nodes=nodes,
        is_completed=True,
        ok=True,
    )


def from_verifiers(taskset: Any, *, num_tasks: int | None = None, **kwargs: Any) -> VerifiersEnv:
    """An openenvs env over a verifiers taskset: a ``vf.Taskset`` instance, or ``"module:attr"`` naming one.

    Example:
        >>> env = from_verifiers(reverse_text_taskset())    # doctest: +SKIP
        >>> env.reset(seed=0)[0].messages[-1].content       # doctest: +SKIP
        'Reverse the letters of this word: ...'
    """
    if isinstance(taskset, str):
        return VerifiersEnv(taskset=taskset, num_tasks=num_tasks, **kwargs)
    return VerifiersEnv(taskset, num_tasks=num_tasks, **kwargs)


WORDS = ("openenvs", "verifiers", "bridge", "episode", "reward", "rubric", "taskset", "harness",
         "rollout", "policy", "gradient", "sandbox", "tokenizer", "sampler", "trainer", "dataset")  # fmt: skip


def reverse_text_taskset(num_tasks: int = 64) -> Any:
    """The registered demo: "reverse this word", written with verifiers' public Taskset/Task/@vf.reward classes."""
    return _reverse_classes()[0](_reverse_classes()[1](), num_tasks)


_classes_lock = threading.Lock()
_classes: tuple[Any, ...] | None = None


def _reverse_classes() -> tuple[Any, ...]:
    global _classes
    with _classes_lock:
        if _classes is None:
            _classes = _define_reverse_classes(_vf())
    return _classes


def _define_reverse_classes(vf: Any) -> tuple[Any, ...]:
    class ReverseData(vf.TaskData):  # type: ignore[misc]
        answer: str

    class ReverseTask(vf.Task[ReverseData, vf.State, vf.TaskConfig]):  # type: ignore[misc]
        @vf.reward  # type: ignore[untyped-decorator]
        async def reversed_exactly(self, trace: Any) -> float:
            reply, answer = str(trace.last_reply).strip().lower(), str(self.data.answer)
            if reply == answer:
                return 1.0
            return sum(a == b for a, b in zip(reply, answer, strict=False)) / len(answer) * 0.5

        @vf.metric  # type: ignore[untyped-decorator]
        async def reply_length(self, trace: Any) -> float:
            return float(len(trace.last_reply))

    class ReverseTaskset(vf.Taskset[ReverseTask, vf.TasksetConfig]):  # type: ignore[misc]
        def __init__(self, config: Any, num_tasks: int) -> None:
            super().__init__(config)
            self.num_tasks = num_tasks

        def load(self) -> Iterable[Any]:
            for i in range(self.num_tasks):
                word = WORDS[i % len(WORDS)] + ("" if i < len(WORDS) else str(i // len(WORDS)))
                yield ReverseTask(
                    ReverseData(
                        idx=i,
                        prompt=f"Reverse the letters of this word: {word}",
                        answer=word[::-1],
                        system_prompt="Answer with the reversed word only.",
                    ),  # fmt: skip
                    self.config.task,
                )

    return ReverseTaskset, vf.TasksetConfig


# -- export: an openenvs env as a verifiers Env ---------------------------------------------------

_export_lock = threading.Lock()


def _export_module() -> types.ModuleType:
    """The plugin module verifiers' loader imports for the id `EXPORT_ID` (its Taskset and Env subclasses)."""
    with _export_lock:
        module = sys.modules.get(EXPORT_ID)
        if module is None:
            module = _define_export_module(_vf())
            sys.modules[EXPORT_ID] = module
    return module


def _open(config: Any) -> Env:
    import openenvs

    if config.url:
        return openenvs.connect(config.url, config.env_id, **config.env_kwargs)
    return openenvs.make(config.env_id, **config.env_kwargs)


def _define_export_module(vf: Any) -> types.ModuleType:
    class OpenEnvsTasksetConfig(vf.TasksetConfig):  # type: ignore[misc]
        id: str = EXPORT_ID
        env_id: str = ""
        url: str | None = None
        env_kwargs: dict[str, Any] = Field(default_factory=dict)
        num_tasks: int = 8
        seed: int = 0

    class OpenEnvsData(vf.TaskData):  # type: ignore[misc]
        env_id: str
        seed: int

    class OpenEnvsTask(vf.Task[OpenEnvsData, vf.State, vf.TaskConfig]):  # type: ignore[misc]
        pass

    class OpenEnvsTaskset(vf.Taskset[OpenEnvsTask, OpenEnvsTasksetConfig]):  # type: ignore[misc]
        def load(self) -> Iterable[Any]:
            env = _open(self.config)
            try:
                for i in range(self.config.num_tasks):
                    seed = self.config.seed + i
                    obs, _ = env.reset(seed=seed)
                    system = "\n\n".join(m.content or "" for m in obs.messages if m.role == "system") or None
                    prompt = "\n\n".join(m.content or "" for m in obs.messages if m.role != "system")
                    yield OpenEnvsTask(
                        OpenEnvsData(
                            idx=i,
                            name=f"{self.config.env_id}#{seed}",
                            prompt=prompt,
                            system_prompt=system,
                            env_id=self.config.env_id,
                            seed=seed,
                        ),  # fmt: skip
                        self.config.task,
                    )
            finally:
                env.close()

    class OpenEnvsEnvConfig(vf.EnvConfig):  # type: ignore[misc]
        player: vf.AgentConfig = vf.AgentConfig()
        max_turns: int = 8

    class OpenEnvsVerifiersEnv(vf.Env[OpenEnvsEnvConfig]):  # type: ignore[misc]
        """Plays one openenvs episode per task: the model's replies are its actions, its observations the user turns."""

        async def run(self, task: Any, agents: Any) -> None:
            config = self.taskset.config
            env = await asyncio.to_thread(_open, config)
            total, steps, outcome = 0.0, 0, None
            try:
                await asyncio.to_thread(env.reset, seed=task.data.seed)
                async with agents.player.interaction(task) as interaction:
                    segment = await interaction.turn()
                    while not segment.terminated:
                        result = await asyncio.to_thread(env.step, segment.last_reply)
                        total += result.reward
                        steps += 1
                        if result.terminated or result.truncated or steps >= self.config.max_turns:
                            outcome = result.info.get("correct")
                            break
                        text = "\n\n".join(m.content or "" for m in result.observation.messages)
                        segment = await interaction.turn(text or "(no observation)")
            finally:
                await asyncio.to_thread(env.close)
            trace = interaction.trace
            trace.record_reward("openenvs", total, 1.0)
            trace.record_metric("openenvs_steps", float(steps))
            if outcome is not None:
                trace.info["openenvs_correct"] = bool(outcome)

    module = types.ModuleType(
        EXPORT_ID, "openenvs envs as a verifiers taskset + Env (made by openenvs.bridges.verifiers)."
    )
    for cls in (
        OpenEnvsTasksetConfig,
        OpenEnvsData,
        OpenEnvsTask,
        OpenEnvsTaskset,
        OpenEnvsEnvConfig,
        OpenEnvsVerifiersEnv,
    ):
        cls.__module__ = EXPORT_ID
        setattr(module, cls.__name__, cls)
    module.__all__ = ["OpenEnvsTaskset", "OpenEnvsVerifiersEnv"]  # type: ignore[attr-defined]
    return module


def to_verifiers(
    env_id: str,
    *,
    url: str | None = None,
    num_tasks: int = 8,
    seed: int = 0,
    max_turns: int = 8,
    harness: str = "null",
    env_kwargs: dict[str, Any] | None = None,
) -> Any:
    """A verifiers ``Env`` playing `num_tasks` episodes of openenvs' `env_id` (seeds ``seed..``).

    Args:
        env_id: The openenvs id.
        url: An ``openenvs serve`` URL serving `env_id` (e.g. run in the main venv); None makes the
            env in this process.
        num_tasks: Tasks in the taskset (task ``i`` is the episode of seed ``seed + i``).
        seed: The first seed.
        max_turns: Most model turns per episode.
        harness: The verifiers harness the player runs (``null``: verifiers' plain chat loop).
        env_kwargs: Keyword arguments for the openenvs env.

    Returns:
        The env, built by verifiers' own ``load_environment``; its ``config`` is what an
        ``EvalConfig(env=...)`` takes, so ``run_eval`` evaluates it against a model server.
    """
    vf = _vf()
    from verifiers.v1.utils.loaders import load_environment

    module = _export_module()
    config = env_config(env_id, url=url, num_tasks=num_tasks, seed=seed, max_turns=max_turns, harness=harness,
                        env_kwargs=env_kwargs)  # fmt: skip
    env = load_environment(config)
    if not isinstance(env, module.OpenEnvsVerifiersEnv) or not isinstance(env, vf.Env):
        raise ConfigError(f"verifiers loaded {type(env).__name__} for {EXPORT_ID!r}, not the openenvs Env")
    return env


def env_config(
    env_id: str,
    *,
    url: str | None = None,
    num_tasks: int = 8,
    seed: int = 0,
    max_turns: int = 8,
    harness: str = "null",
    env_kwargs: dict[str, Any] | None = None,
) -> Any:
    """The verifiers ``EnvConfig`` of `to_verifiers` (for ``EvalConfig(env=...)``); same arguments."""
    vf = _vf()
    from verifiers.v1.utils.loaders import harness_config_type

    module = _export_module()
    taskset = module.OpenEnvsTasksetConfig(env_id=env_id, url=url, env_kwargs=dict(env_kwargs or {}),
                                           num_tasks=num_tasks, seed=seed)  # fmt: skip
    player = vf.AgentConfig(harness=harness_config_type(harness)(id=harness), runtime=vf.SubprocessConfig())
    return module.OpenEnvsEnvConfig(taskset=taskset, player=player, max_turns=max_turns)
