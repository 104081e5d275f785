"""Core overheads, measured in one run.

1. In-process step overhead: a trivial env through `openenvs.Env` vs the same logic as a bare
   `gymnasium.Env` (both return a prebuilt observation, so only the framework differs).
   Goal: <= 2 us per step absolute (OpenEnv's in-process step measured 4.4 us on this machine).
2. `import openenvs` vs `import gymnasium` wall time in fresh interpreters (minus `python -c pass`).
   Goal: `import openenvs` <= 0.3 s.

Run: python benchmarks/core.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import gymnasium

from openenvs import Env, Message, Observation, StepResult

N_STEPS = 200_000
REPEATS = 7


class OurEnv(Env):
    obs = Observation(messages=[Message(role="user", content="next")])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return self.obs, {}

    def step(self, action):
        self.count += 1
        return StepResult(self.obs, 1.0, False, False, {"correct": None})


class BareGym(gymnasium.Env):
    obs = ({"role": "user", "content": "next"},)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return self.obs, {}

    def step(self, action):
        self.count += 1
        return self.obs, 1.0, False, False, {"correct": None}


def per_step_us(env) -> float:
    env.reset(seed=0)
    step = env.step
    best = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(N_STEPS):
            step("answer")
        best.append((time.perf_counter() - t0) / N_STEPS * 1e6)
    return min(best)


def import_s(module: str) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}" if module else "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ours, bare = per_step_us(OurEnv()), per_step_us(BareGym())
    print(f"step: openenvs.Env {ours:.3f} us, bare gymnasium.Env {bare:.3f} us, "
          f"overhead {ours - bare:.3f} us, ratio {ours / bare:.2f}x (goal: <= 2 us per step absolute)")
    base = import_s("")
    ours_import, gym_import = import_s("openenvs") - base, import_s("gymnasium") - base
    full = import_s("openenvs; openenvs.make('math/arithmetic-v1')") - base
    print(f"import: openenvs {ours_import * 1000:.0f} ms, gymnasium {gym_import * 1000:.0f} ms, "
          f"ratio {ours_import / gym_import:.2f}x (goal: <= 300 ms); "
          f"import + make('math/arithmetic-v1') {full * 1000:.0f} ms")


if __name__ == "__main__":
    main()
