"""`check_env`: does an environment keep the openenvs contract?

Each ``check_*`` function takes a factory that builds a fresh environment and raises
:class:`ConformanceError` with a message naming the fix. ``check_env`` runs them all.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._env import Env
from .._errors import OpenEnvsError, ResetNeeded
from .._spec import EnvSpec
from .._types import Action, Message, Observation, StepResult

__all__ = [
    "ConformanceError",
    "ConformanceWarning",
    "check_async_agrees",
    "check_close",
    "check_cross_process",
    "check_determinism",
    "check_env",
    "check_episode_ends",
    "check_oracle",
    "check_reset",
    "check_spec",
    "check_step",
    "check_step_before_reset",
    "play_oracle",
]

EnvMaker = Callable[[], Env]
PROBE_ACTIONS: tuple[str, ...] = ("", "I am not sure.", "\\boxed{-12345678}")
"""Actions that should never solve a task: empty, a refusal and an implausible boxed number."""
_MAX_STEPS = 64


class ConformanceError(OpenEnvsError, AssertionError):
    """An environment breaks the openenvs contract; the message says what to fix."""


def _fail(env: Env | str, problem: str, fix: str) -> ConformanceError:
    name = env if isinstance(env, str) else (env.spec.id if env.spec else type(env).__name__)
    return ConformanceError(f"{name}: {problem}. Fix: {fix}")


def _dump(obs: Observation) -> str:
    return json.dumps(obs.to_dict(), sort_keys=True, default=str)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _episode(env: Env, seed: int, actions: Sequence[Action]) -> list[Any]:
    """Reset with `seed`, play `actions` (cycling) until the episode ends; return a comparable trace."""
    obs, info = env.reset(seed=seed)
    trace: list[Any] = [_dump(obs), _jsonable(info)]
    for i in range(_MAX_STEPS):
        result = env.step(actions[i % len(actions)])
        obs, reward, terminated, truncated, info = result
        trace.append([_dump(obs), reward, terminated, truncated, _jsonable(info)])
        if terminated or truncated:
            break
    return trace


async def _aepisode(env: Env, seed: int, actions: Sequence[Action]) -> list[Any]:
    obs, info = await env.areset(seed=seed)
    trace: list[Any] = [_dump(obs), _jsonable(info)]
    for i in range(_MAX_STEPS):
        obs, reward, terminated, truncated, info = await env.astep(actions[i % len(actions)])
        trace.append([_dump(obs), reward, terminated, truncated, _jsonable(info)])
        if terminated or truncated:
            break
    return trace


def check_spec(env: Env) -> None:
    """The env carries an `EnvSpec` that round-trips through JSON with a stable fingerprint."""
    spec = env.spec
    if spec is None:
        return
    if not isinstance(spec, EnvSpec):
        raise _fail(env, f"`env.spec` is {type(spec).__name__}", "leave `spec` to `openenvs.make`, or set an EnvSpec")
    again = EnvSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    if again != spec or again.fingerprint != spec.fingerprint:
        raise _fail(env, "the manifest does not survive a JSON round trip", "keep manifest kwargs JSON-serialisable")


def check_reset(env: Env) -> None:
    """`reset` returns ``(Observation, dict)`` with at least one message and well-typed tools."""
    result = env.reset(seed=0)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise _fail(env, f"reset() returned {type(result).__name__}", "return `(Observation(...), info_dict)`")
    obs, info = result
    if not isinstance(obs, Observation):
        raise _fail(env, f"reset() observation is {type(obs).__name__}", "return an openenvs.Observation")
    if not isinstance(info, dict):
        raise _fail(env, f"reset() info is {type(info).__name__}", "return a dict as the second item")
    if not obs.messages:
        raise _fail(env, "reset() returned no messages", "return the opening system/user messages")
    if obs.messages[-1].role not in ("user", "tool", "system"):
        raise _fail(env, f"the opening ends with a `{obs.messages[-1].role}` message", "end with the user's turn")


def check_step(env: Env, actions: Sequence[Action] = PROBE_ACTIONS) -> None:
    """`step` returns a `StepResult` of the right types, rewards inside the manifest's range, info with `correct`."""
    low, high = env.spec.reward_range if env.spec else (-math.inf, math.inf)
    for action in actions:
        env.reset(seed=1)
        result = env.step(action)
        if not isinstance(result, tuple) or len(result) != 5:
            raise _fail(
                env,
                f"step() returned {type(result).__name__}",
                "return StepResult(obs, reward, terminated, truncated, info)",
            )
        obs, reward, terminated, truncated, info = result
        if not isinstance(obs, Observation):
            raise _fail(env, f"step() observation is {type(obs).__name__}", "return an openenvs.Observation")
        if not isinstance(reward, (int, float)) or isinstance(reward, bool) or not math.isfinite(reward):
            raise _fail(env, f"step() reward is {reward!r}", "return a finite float")
        if not low <= reward <= high:
            raise _fail(
                env,
                f"reward {reward} for action {action!r} is outside reward_range {(low, high)}",
                "clip the reward or widen the manifest's reward_range",
            )
        if not isinstance(terminated, bool) or not isinstance(truncated, bool):
            raise _fail(env, "terminated/truncated are not bools", "return Python bools")
        if not isinstance(info, dict):
            raise _fail(env, f"step() info is {type(info).__name__}", "return a dict as the fifth item")
        if info.get("correct") not in (True, False, None):
            raise _fail(env, f"info['correct'] is {info['correct']!r}", "set `correct` to True, False or None")
        for message in obs.messages:
            if not isinstance(message, Message) or message.role == "assistant":
                raise _fail(
                    env, "step() returned an assistant message", "return only env-written messages (user, tool, system)"
                )


def check_step_before_reset(make: EnvMaker) -> None:
    """`step` before `reset` raises `ResetNeeded`."""
    env = make()
    try:
        env.step("hello")
    except ResetNeeded:
        return
    except Exception as exc:
        raise _fail(
            env, f"step() before reset() raised {type(exc).__name__}", "subclass openenvs.Env, which raises ResetNeeded"
        ) from exc
    finally:
        env.close()
    raise _fail(env, "step() before reset() did not raise", "subclass openenvs.Env, which raises ResetNeeded")


def check_episode_ends(env: Env, actions: Sequence[Action] = PROBE_ACTIONS) -> None:
    """Unhelpful actions end the episode within `max_turns` (or 64 steps)."""
    trace = _episode(env, 2, actions)
    last = trace[-1]
    if not (last[2] or last[3]):
        raise _fail(env, f"the episode did not end within {_MAX_STEPS} steps", "set max_turns or terminate on failure")


def check_determinism(
    make: EnvMaker, seeds: Sequence[int] = (0, 1, 7), actions: Sequence[Action] = PROBE_ACTIONS
) -> None:
    """Two instances with the same seed play the same episode; different seeds give different tasks."""
    first, second = make(), make()
    try:
        openings = set()
        for seed in seeds:
            a, b = _episode(first, seed, actions), _episode(second, seed, actions)
            if a != b:
                raise _fail(
                    first,
                    f"two instances with seed {seed} diverged",
                    "draw all randomness from self.np_random or (config.seed, index)",
                )
            openings.add(a[0])
            if _episode(first, seed, actions) != a:
                raise _fail(
                    first,
                    f"resetting the same instance with seed {seed} twice gave different episodes",
                    "reset all episode state in reset()",
                )
        # "fixed-opening" in the manifest's tags documents an env whose first observation is the same for
        # every seed (a board game's start, a puzzle with a hidden code): the seed acts later, if at all.
        fixed = first.spec is not None and "fixed-opening" in first.spec.tags
        if len(seeds) > 1 and len(openings) == 1 and not fixed:
            raise _fail(
                first,
                f"seeds {list(seeds)} all gave the same episode",
                "use the seed to choose the task, or tag the manifest 'fixed-opening' if every episode starts alike",
            )
    finally:
        first.close()
        second.close()


def check_async_agrees(make: EnvMaker, seed: int = 3, actions: Sequence[Action] = PROBE_ACTIONS) -> None:
    """`areset`/`astep` play the same episode as `reset`/`step`."""
    sync_env, async_env = make(), make()
    try:
        expected = _episode(sync_env, seed, actions)
        got = asyncio.run(_aepisode(async_env, seed, actions))
    finally:
        sync_env.close()
        async_env.close()
    if expected != got:
        raise _fail(sync_env, "async and sync episodes differ", "make areset/astep do what reset/step do")


def check_close(make: EnvMaker) -> None:
    """`close` can be called twice, before or after an episode."""
    env = make()
    env.close()
    env.close()
    env = make()
    env.reset(seed=0)
    env.close()
    env.close()


def play_oracle(
    env: Env, *, seed: int | None = None, options: dict[str, Any] | None = None
) -> tuple[float, StepResult]:
    """Reset, then follow ``env.oracle()`` until the episode ends; return the total reward and the last step.

    Raises `ConformanceError` when the env has no oracle, or its oracle returns None mid-episode.
    """
    oracle = getattr(env, "oracle", None)
    if oracle is None:
        raise _fail(env, "the env has no oracle()", "define oracle() returning the next correct action")
    env.reset(seed=seed, options=options)
    total = 0.0
    for _ in range(_MAX_STEPS):
        action = oracle()
        if action is None:
            raise _fail(env, f"oracle() returned None mid-episode (seed {seed})", "return the next correct action")
        result = env.step(action)
        total += result.reward
        if result.terminated or result.truncated:
            break
    return total, result


def check_oracle(env: Env, seeds: Sequence[int] = (0, 1, 2)) -> None:
    """If the env offers `oracle()`, following it scores the top of the reward range."""
    if getattr(env, "oracle", None) is None:
        return
    high = env.spec.reward_range[1] if env.spec else 1.0
    for seed in seeds:
        total, last = play_oracle(env, seed=seed)
        correct = last.info.get("correct")
        if correct is False or total < high - 1e-9:
            raise _fail(
                env,
                f"the oracle scored {total} (correct={correct}) on seed {seed}, below {high}",
                "fix the scorer or the gold answer",
            )


_CHILD = """
import json, sys
from openenvs import EnvSpec, registry
from openenvs._registry import load_entry_point
spec = EnvSpec.model_validate_json(sys.argv[1])
try:
    load_entry_point(spec.entry_point, env_id=spec.id, extras=spec.extras)
except Exception as exc:
    print(json.dumps({"unimportable": str(exc)}))
    sys.exit(3)
env = registry.make(spec)
from openenvs.testing._check import _episode, PROBE_ACTIONS
print(json.dumps(_episode(env, int(sys.argv[2]), PROBE_ACTIONS)))
"""
_UNIMPORTABLE = 3


class ConformanceWarning(UserWarning):
    """A conformance check could not run (the message says why and how to enable it)."""


def _skip(env_id: str, why: str, fix: str) -> None:
    warnings.warn(f"{env_id}: cross-process check skipped: {why}. To run it: {fix}", ConformanceWarning, stacklevel=3)


def check_cross_process(env_id: str, kwargs: dict[str, Any], seed: int = 5) -> None:
    """A fresh Python process plays the same episode for the same manifest, kwargs and seed.

    The child gets the manifest itself (so envs registered at run time with `register` are
    covered) and this process's import path. When the entry point cannot be imported in a fresh
    process (it lives in ``__main__``, say), the check is skipped with a `ConformanceWarning`.
    """
    from .._api import make
    from .._api import spec as get_spec

    env = make(env_id, **kwargs)
    try:
        expected = json.loads(json.dumps(_episode(env, seed, PROBE_ACTIONS)))
    finally:
        env.close()
    manifest = get_spec(env_id).with_kwargs(**kwargs)
    module = manifest.entry_point.partition(":")[0]
    if module == "__main__":
        _skip(env_id, f"its entry point `{manifest.entry_point}` is defined in __main__", "move the env to a module")
        return
    path = os.pathsep.join([p for p in sys.path if p] + [os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, manifest.model_dump_json(), str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": path},
    )
    if proc.returncode == _UNIMPORTABLE:
        why = json.loads(proc.stdout.strip().splitlines()[-1])["unimportable"]
        _skip(env_id, f"a fresh process cannot import it ({why})", "register it from an importable module")
        return
    if proc.returncode != 0:
        raise _fail(
            env_id,
            f"a fresh process could not play the env: {proc.stderr.strip()[-500:]}",
            "make the env constructible from its manifest alone (no state set up at run time)",
        )
    if json.loads(proc.stdout.strip().splitlines()[-1]) != expected:
        raise _fail(
            env_id,
            "a second process played a different episode with the same seed",
            "do not depend on hash(), set order, time or process state; derive tasks from (seed, index)",
        )


def check_env(
    env_or_id: Env | str,
    *,
    kwargs: dict[str, Any] | None = None,
    cross_process: bool = True,
    hacks: bool = True,
    hack_seeds: Iterable[int] = range(32),
) -> None:
    """Run every conformance check on an env instance or a registered id; raise `ConformanceError` on the first failure.

    Given an id, fresh instances are made with `openenvs.make(id, **kwargs)` and the cross-process
    determinism check runs too. Given an instance, its class is re-instantiated for the checks that
    need fresh instances (it must be constructible from its `spec` kwargs, or with no arguments).
    With `hacks`, the reward-hack probes (`check_reward_hacks`) play every seed of `hack_seeds`
    on one fresh instance: none may earn more than the manifest's `chance_reward` plus a margin.

    Example:
        >>> from openenvs.testing import check_env
        >>> check_env("math/arithmetic-v1", cross_process=False)
    """
    from .._api import make

    kwargs = dict(kwargs or {})
    if isinstance(env_or_id, str):
        env_id = env_or_id

        def maker() -> Env:
            return make(env_id, **kwargs)

        env = maker()
    else:
        env = env_or_id
        spec = env.spec
        cls = type(env)

        def maker() -> Env:
            fresh = cls(**(spec.kwargs if spec else {}))
            fresh.spec = spec
            if spec is not None and spec.max_turns is not None and fresh.max_turns is None:
                fresh.max_turns = spec.max_turns
            return fresh

    try:
        check_spec(env)
        check_reset(env)
        check_step(env)
        check_episode_ends(env)
        check_oracle(env)
    finally:
        env.close()
    check_step_before_reset(maker)
    check_determinism(maker)
    check_async_agrees(maker)
    check_close(maker)
    if cross_process and isinstance(env_or_id, str):
        check_cross_process(env_or_id, kwargs)
    if hacks:
        from ._probes import check_reward_hacks

        check_reward_hacks(maker, seeds=hack_seeds)
