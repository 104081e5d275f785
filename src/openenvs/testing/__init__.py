"""Conformance kit: `check_env`, the small checks it is made of, and the reward-hack probes."""

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
from ._probes import (
    PROBES,
    Probe,
    ProbeContext,
    ProbeResult,
    check_reward_hacks,
    play_probe,
)

__all__ = [
    "PROBES",
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
    "check_reward_hacks",
    "check_spec",
    "check_step",
    "check_step_before_reset",
    "Probe",
    "ProbeContext",
    "ProbeResult",
    "play_oracle",
    "play_probe",
]
