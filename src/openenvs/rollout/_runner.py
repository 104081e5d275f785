"""The async rollout runner: many episodes at once against one policy, streamed to disk."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .._env import Env
from .._types import Message, ToolSpec
from ._chat import ToolParser, ToolParserName, resolve_tool_parser
from ._record import SamplingRecord, StepRecord, Trajectory, collect_versions, to_json
from ._store import TrajectoryStore, iter_trajectories
from ._types import Generation, Policy, SamplingParams

__all__ = ["EnvMaker", "EpisodeSpec", "RolloutResult", "Runner", "current_episode", "make_episodes"]

logger = logging.getLogger(__name__)

current_episode: contextvars.ContextVar[str | None] = contextvars.ContextVar("openenvs_episode", default=None)
"""The id of the episode (and try) whose turn a policy is generating, set by `Runner`; policies
that keep per-conversation state (OpenAIPolicy's token-exact turns) key it by this."""


class EnvMaker(Protocol):
    """Where a `Runner` gets its envs: an `openenvs.Registry`, a `RayEnvPool`, anything with this `make`."""

    def make(self, env_id: str, **kwargs: Any) -> Env:
        """Build an env of `env_id` with these kwargs (as `openenvs.make` does)."""
        ...


class EpisodeSpec(BaseModel):
    """One episode to run: which env (id + kwargs), which seed, which sample."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_id: str = Field(description="Registered environment id.")
    seed: int = Field(description="Seed for `env.reset`.")
    sample: int = Field(default=0, ge=0, description="Sample number, for several attempts at the same task.")
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for `openenvs.make`.")

    @functools.cached_property
    def id(self) -> str:
        """Stable key of the episode (the resume key)."""
        blob = json.dumps([self.env_id, self.env_kwargs, self.seed, self.sample], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def make_episodes(
    env_ids: str | Sequence[str],
    n: int,
    *,
    samples: int = 1,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> list[EpisodeSpec]:
    """`n` tasks (seeds ``seed .. seed+n-1``) of each env, each attempted `samples` times.

    Example:
        >>> [(e.seed, e.sample) for e in make_episodes("math/arithmetic-v1", 2, samples=2)]
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    if n < 1 or samples < 1:
        raise ValueError(f"n and samples must be >= 1 (got n={n}, samples={samples})")
    ids = [env_ids] if isinstance(env_ids, str) else list(env_ids)
    return [
        EpisodeSpec(env_id=env_id, seed=seed + i, sample=k, env_kwargs=dict(env_kwargs or {}))
        for env_id in ids
        for i in range(n)
        for k in range(samples)
    ]


class RolloutResult(BaseModel):
    """What a run produced."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    trajectories: list[Trajectory] = Field(description="Finished episodes, earlier runs' included when resumed.")
    errors: list[dict[str, Any]] = Field(description="Episodes that failed or timed out in this run.")
    skipped: int = Field(description="Episodes skipped because an earlier run finished them.")
    wall_s: float = Field(description="Wall time of this run.")
    out_dir: Path | None = Field(default=None, description="Where the files are.")

    def __repr__(self) -> str:  # short: asyncio and REPLs repr results, and there may be thousands of episodes
        return (
            f"RolloutResult(trajectories={len(self.trajectories)}, errors={len(self.errors)}, "
            f"skipped={self.skipped}, wall_s={self.wall_s:.2f}, out_dir={self.out_dir})"
        )

    __str__ = __repr__


class Runner:
    """Runs episodes concurrently against a policy and records full trajectories.

    Args:
        policy: Any `Policy` (OpenAIPolicy, HFPolicy, VLLMPolicy, FunctionPolicy...).
        sampling: Sampling parameters; each episode gets its own seed derived from ``sampling.seed``.
        concurrency: Most episodes in flight at once.
        episode_timeout_s: An episode running longer is abandoned and recorded as an error.
        retries: Times a failed episode (server error, env exception) is restarted from scratch.
        max_turns: Safety cap on policy turns for envs that set no limit of their own.
        out_dir: Folder for trajectories.jsonl / Parquet / run.json; None keeps results in memory.
        parquet: Also write Parquet shards (needs pyarrow).
        progress: Show a rich progress bar.
        tool_parser: ``auto`` reads tool calls with `openenvs.tools.parse_tool_calls` when installed,
            ``none`` keeps turns as plain text, or a callable ``text -> list[ToolCall]``.
        env_threads: Run synchronous env steps in worker threads, so slow envs do not stall the loop.
        envs: Where the envs come from (anything with ``make(env_id, **kwargs)``, e.g. a `RayEnvPool`);
            None makes them in this process with `openenvs.make`.

    Example:
        >>> from openenvs.rollout import FunctionPolicy
        >>> runner = Runner(FunctionPolicy(lambda messages, tools: "42"))
        >>> result = runner.run(make_episodes("math/arithmetic-v1", 2))
        >>> len(result.trajectories)
        2
    """

    def __init__(
        self,
        policy: Policy,
        *,
        sampling: SamplingParams | None = None,
        concurrency: int = 8,
        episode_timeout_s: float = 600.0,
        retries: int = 1,
        max_turns: int = 32,
        out_dir: str | Path | None = None,
        parquet: bool = True,
        progress: bool = False,
        tool_parser: ToolParserName | ToolParser = "auto",
        env_threads: bool = True,
        envs: EnvMaker | None = None,
    ) -> None:
        """Configure the run; nothing starts until `run`/`arun`."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.policy = policy
        self.sampling = sampling or SamplingParams()
        self.concurrency = concurrency
        self.episode_timeout_s = episode_timeout_s
        self.retries = retries
        self.max_turns = max_turns
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.parquet = parquet
        self.progress = progress
        self.tool_parser = resolve_tool_parser(tool_parser)
        self.env_threads = env_threads
        self.envs = envs

    def run(self, episodes: Iterable[EpisodeSpec]) -> RolloutResult:
        """Run the episodes (blocking); see `arun`."""
        return asyncio.run(self.arun(episodes))

    async def arun(self, episodes: Iterable[EpisodeSpec]) -> RolloutResult:
        """Run the episodes; with `out_dir`, skip those an earlier run finished."""
        start = time.perf_counter()
        todo = list(episodes)
        from .._api import spec

        for env_id in sorted({e.env_id for e in todo}):
            spec(env_id)  # unknown ids fail here, before any model time is spent
        store = TrajectoryStore(self.out_dir, parquet=self.parquet) if self.out_dir is not None else None
        done: set[str] = set()
        if store is not None:
            done = store.open(self._manifest())
        wanted = {e.id for e in todo}
        pending = [e for e in todo if e.id not in done]
        skipped = len(todo) - len(pending)
        if skipped:
            logger.info("resuming: %d of %d episodes already finished", skipped, len(todo))
        finished: list[Trajectory] = []
        errors: list[dict[str, Any]] = []
        queue: asyncio.Queue[EpisodeSpec] = asyncio.Queue()
        for episode in pending:
            queue.put_nowait(episode)
        bar = _Progress(len(todo), skipped) if self.progress else None
        try:
            workers = [
                asyncio.create_task(self._worker(queue, store, finished, errors, bar))
                for _ in range(min(self.concurrency, max(1, len(pending))))
            ]
            await asyncio.gather(*workers)
        finally:
            if bar is not None:
                bar.close()
            if store is not None:
                store.close()
            close = getattr(self.policy, "aclose", None)
            if close is not None:  # clients are bound to this event loop; they reopen on next use
                await close()
        if store is not None and skipped:
            ids = {t.id for t in finished}
            earlier = [t for t in iter_trajectories(store.out_dir) if t.id in wanted and t.id not in ids]
            finished = earlier + finished
        order = {e.id: i for i, e in enumerate(todo)}
        finished.sort(key=lambda t: order.get(t.id, len(order)))
        return RolloutResult(
            trajectories=finished,
            errors=errors,
            skipped=skipped,
            wall_s=time.perf_counter() - start,
            out_dir=self.out_dir,
        )

    def _manifest(self) -> dict[str, Any]:
        info = self.policy.model_info
        return {
            "model": info.name,
            "revision": info.revision,
            "backend": info.backend,
            "sampling": self.sampling.model_dump(mode="json"),
            "max_turns": self.max_turns,
        }

    async def _worker(
        self,
        queue: asyncio.Queue[EpisodeSpec],
        store: TrajectoryStore | None,
        finished: list[Trajectory],
        errors: list[dict[str, Any]],
        bar: _Progress | None,
    ) -> None:
        envs: dict[str, Env] = {}
        try:
            while not queue.empty():
                episode = queue.get_nowait()
                trajectory, error = await self._attempt(episode, envs)
                if trajectory is not None:
                    finished.append(trajectory)
                    if store is not None:
                        store.add(trajectory)
                        env = envs.get(episode.env_id + to_json(episode.env_kwargs))
                        if env is not None and env.spec is not None:
                            store.add_manifest(env.spec)
                else:
                    assert error is not None
                    errors.append(error)
                    if store is not None:
                        store.add_error(error)
                if bar is not None:
                    bar.advance(trajectory)
        finally:
            for env in envs.values():
                env.close()

    async def _attempt(
        self, episode: EpisodeSpec, envs: dict[str, Env]
    ) -> tuple[Trajectory | None, dict[str, Any] | None]:
        error: dict[str, Any] = {}
        for attempt in range(self.retries + 1):
            key = episode.env_id + to_json(episode.env_kwargs)
            try:
                if key not in envs:  # constructors do no I/O, and the registry is not thread-safe: make here
                    envs[key] = _make_env(episode, self.envs)
                trajectory = await asyncio.wait_for(self._episode(episode, envs[key]), self.episode_timeout_s)
                return trajectory, None
            except asyncio.TimeoutError:
                error = {"status": "timeout", "message": f"episode exceeded {self.episode_timeout_s}s"}
            except Exception as exc:  # noqa: BLE001 - recorded, retried, never fatal to the run
                error = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
                if key in envs:  # the env may be mid-episode or broken: make a fresh one
                    envs.pop(key).close()
            logger.warning(
                "episode %s (%s seed %d) try %d: %s",
                episode.id,
                episode.env_id,
                episode.seed,
                attempt + 1,
                error["message"],
            )
        return None, {"id": episode.id, **episode.model_dump(mode="json"), **error, "tries": self.retries + 1}

    def _episode_seed(self, episode: EpisodeSpec) -> int:
        blob = f"{self.sampling.seed or 0}:{episode.id}".encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") >> 1

    async def _episode(self, episode: EpisodeSpec, env: Env) -> Trajectory:
        current_episode.set(f"{episode.id}:{time.perf_counter_ns()}")  # this task's context only
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        sampling_seed = self._episode_seed(episode)
        obs, _ = await self._call(env, "reset", seed=episode.seed)
        messages: list[Message] = list(obs.messages)
        tools: list[ToolSpec] = list(obs.tools)
        offered = list(tools)
        steps: list[StepRecord] = []
        info: dict[str, Any] = {}
        terminated = truncated = False
        while not (terminated or truncated):
            params = self.sampling.model_copy(update={"seed": sampling_seed + len(steps)})
            g0 = time.perf_counter()
            gen = await self.policy.generate(messages, tools, params)
            generate_s = time.perf_counter() - g0
            action = self._action(gen, tools)
            messages.append(action)
            result = await self._call(env, "step", action)
            obs, reward, terminated, truncated, info = result
            messages.extend(obs.messages)
            if obs.tools:
                tools = list(obs.tools)
                offered.extend(t for t in tools if t not in offered)
            if not (terminated or truncated) and len(steps) + 1 >= self.max_turns:
                truncated = True
                info = {**info, "truncated_by": "runner.max_turns"}
            steps.append(_step_record(len(steps), gen, float(reward), terminated, truncated, info, generate_s))
        source = info.get("source") or {}
        rewards = [s.reward for s in steps]
        model = self.policy.model_info
        return Trajectory(
            id=episode.id,
            env_id=episode.env_id,
            env_kwargs=to_json(episode.env_kwargs),
            fingerprint=env.spec.fingerprint if env.spec is not None else "",
            seed=episode.seed,
            sample=episode.sample,
            messages=[m.to_dict() for m in messages],
            tools=to_json([t.to_openai() for t in offered]),
            steps=steps,
            rewards=rewards,
            reward=sum(rewards),
            correct=info.get("correct"),
            difficulty=source.get("difficulty") if isinstance(source, dict) else None,
            num_turns=len(steps),
            terminated=bool(terminated),
            truncated=bool(truncated),
            prompt_tokens=sum(s.prompt_tokens for s in steps),
            completion_tokens=sum(s.completion_tokens for s in steps),
            model=model,
            sampling=SamplingRecord(
                **{**self.sampling.model_dump(), "seed": sampling_seed, "extra": to_json(self.sampling.extra)}
            ),
            versions=collect_versions(model),
            started_at=started,
            wall_s=time.perf_counter() - t0,
        )

    def _action(self, gen: Generation, tools: list[ToolSpec]) -> Message:
        calls = gen.tool_calls
        if calls is None and tools and self.tool_parser is not None and gen.text:
            try:
                calls = self.tool_parser(gen.text) or None
            except Exception as exc:  # noqa: BLE001 - unreadable calls stay text for the env to judge
                logger.debug("tool parser failed on %r: %s", gen.text[:200], exc)
        return Message(role="assistant", content=gen.text, tool_calls=calls)

    async def _call(self, env: Env, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call env.reset/step; sync methods run in a thread unless the env has its own async twin."""
        if getattr(type(env), "a" + method) is not getattr(Env, "a" + method):
            return await getattr(env, "a" + method)(*args, **kwargs)
        if self.env_threads:
            return await asyncio.to_thread(getattr(env, method), *args, **kwargs)
        return getattr(env, method)(*args, **kwargs)


def _make_env(episode: EpisodeSpec, maker: EnvMaker | None) -> Env:
    if maker is not None:
        return maker.make(episode.env_id, **episode.env_kwargs)
    from .._api import make

    return make(episode.env_id, **episode.env_kwargs)


def _step_record(
    turn: int,
    gen: Generation,
    reward: float,
    terminated: bool,
    truncated: bool,
    info: dict[str, Any],
    generate_s: float,
) -> StepRecord:
    return StepRecord(
        turn=turn,
        text=gen.text,
        prompt_token_ids=gen.prompt_token_ids,
        completion_token_ids=gen.completion_token_ids,
        logprobs=gen.logprobs,
        finish_reason=gen.finish_reason,
        prompt_tokens=gen.prompt_tokens,
        completion_tokens=gen.completion_tokens,
        reward=reward,
        terminated=bool(terminated),
        truncated=bool(truncated),
        info=to_json(info),
        generate_s=generate_s,
    )


class _Progress:
    """A rich progress bar showing finished episodes and the running mean reward."""

    def __init__(self, total: int, done: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]rollouts"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("reward {task.fields[reward]}"),
            TextColumn("errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._rewards: list[float] = []
        self._errors = 0
        self._task = self._progress.add_task("rollouts", total=total, completed=done, reward="-", errors=0)
        self._progress.start()

    def advance(self, trajectory: Trajectory | None) -> None:
        if trajectory is None:
            self._errors += 1
        else:
            self._rewards.append(trajectory.reward)
        mean = f"{sum(self._rewards) / len(self._rewards):.3f}" if self._rewards else "-"
        self._progress.update(self._task, advance=1, reward=mean, errors=self._errors)

    def close(self) -> None:
        self._progress.stop()
