"""Every registered environment keeps the contract (check_env) and the scoring invariants.

Invariants, as in STYLE.md section 8: seed determinism (inside check_env), the oracle answer scores
the top of the reward range, and empty or garbage answers score below it.
"""

from __future__ import annotations

import pytest

import openenvs
from openenvs.testing import check_env

SPECS = openenvs.list_envs()


def _builtin_ids() -> set[str]:
    reg = openenvs.Registry(entry_points=False)
    reg._ensure_loaded()
    return set(reg._specs)


# Providers can add hundreds of generated ids (every reasoning-gym dataset); the cross-process
# replay runs on the ids written by hand in registry.json and entry points, the rest run in-process.
BUILTIN = _builtin_ids()


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_check_env(spec):
    check_env(spec.id, cross_process=spec.id in BUILTIN)


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_oracle_tops_and_garbage_does_not(spec):
    env = openenvs.make(spec.id)
    try:
        assert hasattr(env, "oracle"), f"{spec.id}: built-in envs define oracle() so the top reward is testable"
        low, high = spec.reward_range
        for seed in range(3):
            for garbage in ("", "I don't know.", "\\boxed{}"):
                env.reset(seed=seed)
                total = 0.0
                result = env.step(garbage)
                total += result.reward
                while not (result.terminated or result.truncated):
                    result = env.step(garbage)
                    total += result.reward
                assert total < high, f"{spec.id}: the garbage answer {garbage!r} scored {total} (seed {seed})"
    finally:
        env.close()
