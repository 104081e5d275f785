"""A single-turn env every answer passes, with a `difficulty` field: lets a trainer move a curriculum for real."""

from __future__ import annotations

from pydantic import Field

from openenvs import EnvConfig, Score, SingleTurnEnv, Task


class EasyConfig(EnvConfig):
    """Config of `EasyEnv`."""

    difficulty: int = Field(default=1, ge=1, le=3, description="Shown in the prompt; every answer is correct anyway.")


class EasyEnv(SingleTurnEnv[EasyConfig]):
    """Say anything: the answer is always correct (reward 1.0)."""

    Config = EasyConfig

    def get_task(self, index: int) -> Task:
        return Task(prompt=f"Level {self.config.difficulty}, task {index}: say anything.", difficulty=self.config.difficulty)

    def score(self, text: str, task: Task) -> Score:
        return Score(reward=1.0, correct=True)
