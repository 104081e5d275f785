"""A tiny multi-turn env for the adapter tests: guess a digit, with higher/lower feedback."""

from __future__ import annotations

import random

from openenvs import Message, MultiTurnConfig, MultiTurnEnv, Task, Turn


class GuessEnv(MultiTurnEnv[MultiTurnConfig]):
    """Guess the secret digit 0-9 in at most `max_turns` tries."""

    Config = MultiTurnConfig

    def get_task(self, index: int) -> Task:
        secret = random.Random(f"{self.config.seed}:{index}").randint(0, 9)
        return Task(prompt="Guess my digit (0-9). Answer with one digit.", answer=secret)

    def respond(self, message: Message, task: Task) -> Turn:
        digits = [c for c in message.content or "" if c.isdigit()]
        if digits and int(digits[-1]) == task.answer:
            return Turn(reward=1.0, done=True, correct=True)
        hint = "No digit found." if not digits else ("Higher." if int(digits[-1]) < task.answer else "Lower.")
        return Turn(messages=[Message(role="user", content=hint)], reward=0.0, correct=False)
