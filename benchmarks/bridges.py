"""Overhead of a bridged step over the library's own step, measured in the same run.

For each library the same seeded episodes and the same moves are played natively and through the
bridge, timing only the steps (resets excluded):

- TextArena ``2048-v0``: native ``env.step(move)`` + ``env.get_observation()`` on ``textarena.make``'s
  env (default wrappers), and on the unwrapped ``2048-v0-raw`` (a stricter baseline: no history
  string), vs ``openenvs.make("textarena/2048-v0").step(move)``.
- Gymnasium ``Taxi-v4``: native ``env.step(int)`` vs the bridge's ``step("[north]")`` (parse the
  text, step, render the observation as text, build the messages).
- OpenEnv echo (in .venv-openenv, when built): ``EchoEnvironment.step(EchoAction)`` vs the bridge's
  ``step(text)``.
- GEM ``game:Game2048-v0-extreme-hard`` (in .venv-gem, when built): ``gem.make(...)``'s
  ``step(text)`` vs ``openenvs.make("gem/2048-extreme-hard-v0").step(text)`` (routing GEM's
  global-random draws to the episode's generator, building the messages).
- verifiers (in .venv-verifiers, when built): scoring one reply natively (a ``vf.Trace`` of the
  prompt and reply, ``asyncio.run(task.score(trace))``) vs the bridge's ``step(reply)`` on
  ``verifiers/reverse-text-v0``.

Goal: bridged minus native < 20 us per step. Prints one line per library; the best of REPEATS
interleaved runs is reported, so machine load hits both sides alike.

Run: python benchmarks/bridges.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5
GOAL_US = 20.0


def _best(native, bridged) -> tuple[float, float, int]:
    """Interleave the two timers REPEATS times; return the best per-step seconds of each and the step count."""
    best_n = best_b = float("inf")
    steps = 0
    for _ in range(REPEATS):
        t, steps = native()
        best_n = min(best_n, t / steps)
        t, steps = bridged()
        best_b = min(best_b, t / steps)
    return best_n, best_b, steps


def _report(name: str, native_s: float, bridged_s: float, steps: int) -> None:
    overhead = (bridged_s - native_s) * 1e6
    verdict = "ok" if overhead < GOAL_US else "OVER GOAL"
    print(
        f"{name:28s} native {native_s * 1e6:8.2f} us/step  bridged {bridged_s * 1e6:8.2f} us/step  "
        f"overhead {overhead:7.2f} us (goal < {GOAL_US:.0f} us: {verdict}; {steps} steps, ratio {bridged_s / native_s:.2f}x)"
    )


def textarena() -> None:
    import textarena as ta

    import openenvs

    moves = ["[up]", "[left]", "[down]", "[right]"]
    seeds = range(3)

    def native(game: str = "2048-v0") -> tuple[float, int]:
        total, steps = 0.0, 0
        for seed in seeds:
            env = ta.make(game)
            env.reset(num_players=1, seed=seed)
            env.get_observation()
            done, i = False, 0
            while not done and i < 400:
                start = time.perf_counter()
                done, _ = env.step(action=moves[i % 4])
                env.get_observation()
                total += time.perf_counter() - start
                i += 1
            steps += i
        return total, steps

    def bridged() -> tuple[float, int]:
        total, steps = 0.0, 0
        env = openenvs.make("textarena/2048-v0")
        for seed in seeds:
            env.reset(seed=seed)
            done, i = False, 0
            while not done and i < 400:
                start = time.perf_counter()
                result = env.step(moves[i % 4])
                total += time.perf_counter() - start
                done = result.terminated or result.truncated
                i += 1
            steps += i
        return total, steps

    _report("textarena 2048-v0", *_best(native, bridged))
    # the same game without TextArena's wrappers (raw tuples, no history string): a stricter baseline
    _report("textarena 2048-v0 vs -raw", *_best(lambda: native("2048-v0-raw"), bridged))


def gymnasium_taxi() -> None:
    import gymnasium

    import openenvs

    names = ["south", "north", "east", "west"]
    n = 20_000

    def native() -> tuple[float, int]:
        env = gymnasium.make("Taxi-v4", max_episode_steps=10**9)
        env.reset(seed=0)
        start = time.perf_counter()
        for i in range(n):
            env.step(i % 4)
        return time.perf_counter() - start, n

    def bridged() -> tuple[float, int]:
        env = openenvs.make("gymnasium/taxi-v4", gym_kwargs={"max_episode_steps": 10**9})
        env.reset(seed=0)
        actions = [f"[{names[i % 4]}]" for i in range(n)]
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        return time.perf_counter() - start, n

    _report("gymnasium Taxi-v4", *_best(native, bridged))


def openenv_echo() -> None:
    from openenvs.bridges.openenv import OpenEnvEnv, echo_environment

    n = 20_000
    action_cls = sys.modules["openenvs_openenv_echo.models"].EchoAction if "openenvs_openenv_echo.models" in sys.modules else None

    def native() -> tuple[float, int]:
        env = echo_environment()
        env.reset(seed=0)
        cls = action_cls or sys.modules["openenvs_openenv_echo.models"].EchoAction
        start = time.perf_counter()
        for _ in range(n):
            env.step(cls(message="hello"))
        return time.perf_counter() - start, n

    def bridged() -> tuple[float, int]:
        env = OpenEnvEnv(environment="echo")
        env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(n):
            env.step("hello")
        return time.perf_counter() - start, n

    _report("openenv echo (in-process)", *_best(native, bridged))


def gem_2048() -> None:
    import gem

    import openenvs

    moves = [r"\boxed{up}", r"\boxed{left}", r"\boxed{down}", r"\boxed{right}"]
    seeds = range(3)

    def play(make, step) -> tuple[float, int]:
        total, steps = 0.0, 0
        for seed in seeds:
            env = make(seed)
            done, i = False, 0
            while not done and i < 300:
                start = time.perf_counter()
                done = step(env, moves[i % 4])
                total += time.perf_counter() - start
                i += 1
            steps += i
        return total, steps

    def native_make(seed: int):
        env = gem.make("game:Game2048-v0-extreme-hard")
        env.reset(seed=seed)
        return env

    def native_step(env, move: str) -> bool:
        _, _, terminated, truncated, _ = env.step(move)
        return bool(terminated or truncated)

    bridged_env = openenvs.make("gem/2048-extreme-hard-v0")

    def bridged_make(seed: int):
        bridged_env.reset(seed=seed)
        return bridged_env

    def bridged_step(env, move: str) -> bool:
        result = env.step(move)
        return result.terminated or result.truncated

    _report("gem 2048-extreme-hard", *_best(lambda: play(native_make, native_step), lambda: play(bridged_make, bridged_step)))


def verifiers_score() -> None:
    import asyncio

    import openenvs
    from openenvs.bridges.verifiers import _trace_for, reverse_text_taskset

    n = 300
    tasks = list(reverse_text_taskset(16))
    replies = [t.data.answer if i % 2 else "no" for i, t in enumerate(tasks)]
    env = openenvs.make("verifiers/reverse-text-v0", num_tasks=16)
    prompts = []
    for seed in range(16):
        obs, _ = env.reset(seed=seed)
        prompts.append(obs.messages)

    def native() -> tuple[float, int]:
        total = 0.0
        for i in range(n):
            task, reply = tasks[i % 16], replies[i % 16]
            start = time.perf_counter()
            trace = _trace_for(task, prompts[i % 16], reply)  # the trace verifiers scores: prompt + one reply
            asyncio.run(task.score(trace))
            total += time.perf_counter() - start
        return total, n

    def bridged() -> tuple[float, int]:
        total = 0.0
        for i in range(n):
            env.reset(seed=i % 16)
            start = time.perf_counter()
            env.step(replies[i % 16])
            total += time.perf_counter() - start
        return total, n

    _report("verifiers Task.score", *_best(native, bridged))


SIDE_VENVS = {  # flag: (venv, function, what builds it)
    "--openenv": (".venv-openenv", openenv_echo, "scripts/setup.d/60-openenv.sh"),
    "--gem": (".venv-gem", gem_2048, "scripts/setup.d/62-gem.sh"),
    "--verifiers": (".venv-verifiers", verifiers_score, "scripts/setup.d/61-verifiers.sh"),
}


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in SIDE_VENVS:
        SIDE_VENVS[sys.argv[1]][1]()
        return
    textarena()
    gymnasium_taxi()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    for flag, (venv, _, setup) in SIDE_VENVS.items():
        python = ROOT / venv / "bin" / "python"
        if python.exists():
            subprocess.run([str(python), __file__, flag], env=env, check=True)
        else:
            print(f"{flag[2:]:28s} skipped: no {venv} ({setup} builds it)")


if __name__ == "__main__":
    main()
