"""Conformance kit: `check_env` and the small checks it is made of."""

from __future__ import annotations

from ._check import (
    ConformanceError,
    ConformanceWarning,
    check_async_agrees,
    check_close,
    check_cross_process,
    check_determinism,
    check_env,
    check_episode_ends,
    check_oracle,
    check_reset,
    check_spec,
    check_step,
    check_step_before_reset,
    play_oracle,
)

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
