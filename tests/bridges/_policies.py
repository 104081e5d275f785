"""Policies named by import path in the bridge tests."""

from __future__ import annotations

import random

from _scripted import scripted_move

from openenvs.rollout import FunctionPolicy

center_first = FunctionPolicy(lambda messages, tools: "[4]")

SEEN: list[str] = []


def _selfplay(messages, tools):
    SEEN.append(messages[0].content.split("\n")[0].removeprefix("[GAME] "))
    text = "".join("\n" + m.content for m in messages if m.role == "user")
    return scripted_move(text, random.Random(len(messages)))


selfplay = FunctionPolicy(_selfplay, name="selfplay")
