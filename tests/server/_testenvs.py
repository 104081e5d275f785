"""Envs only the server tests serve: an echo task, one that can hang, one that records close()."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openenvs
from openenvs import Env, Message, Observation, StepResult, action_text


class EchoEnv(Env):
    """Say a number back; `marker` (a file path) gets one line per close()."""

    def __init__(self, marker: str | None = None, turns: int = 1) -> None:
        self.marker = marker
        self.turns = turns

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word = str(self.np_random.integers(1_000_000))
        self.left = self.turns
        return Observation(messages=[Message(role="user", content=f"Say {self.word}")]), {}

    def step(self, action):
        text = action_text(action)
        if text == "hang":
            while True:  # a step that never returns
                time.sleep(3600)
        self.left -= 1
        done = self.left <= 0
        msgs = [] if done else [Message(role="user", content=f"Again: say {self.word}")]
        return StepResult(Observation(messages=msgs), float(self.word in text), done, False, {"correct": self.word in text})

    def oracle(self) -> str:
        return self.word

    def close(self) -> None:
        if self.marker:
            with open(self.marker, "a") as f:
                f.write("closed\n")


SPECS: list[dict[str, Any]] = [
    {"id": "test/echo-v1", "entry_point": "_testenvs:EchoEnv", "description": "Say the number back.", "license": "MIT"},
    {
        "id": "test/echo-long-v1",
        "entry_point": "_testenvs:EchoEnv",
        "description": "Say the number back, many times.",
        "license": "MIT",
        "kind": "multi-turn",
        "kwargs": {"turns": 1000},
        "max_turns": 1000,
    },
]


def register() -> None:
    for spec in SPECS:
        if spec["id"] not in openenvs.registry:
            openenvs.register(spec)


def closes(marker: str | Path) -> int:
    try:
        return Path(marker).read_text().count("closed")
    except FileNotFoundError:
        return 0
