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


def main() -> None:
    if sys.argv[1:] == ["--openenv"]:
        openenv_echo()
        return
    textarena()
    gymnasium_taxi()
    python = ROOT / ".venv-openenv" / "bin" / "python"
    if python.exists():
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        subprocess.run([str(python), __file__, "--openenv"], env=env, check=True)
    else:
        print("openenv echo (in-process)    skipped: no .venv-openenv (scripts/setup.d/60-openenv.sh builds it)")


if __name__ == "__main__":
    main()
