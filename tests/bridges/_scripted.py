"""The scripted player shared by the parity tests: a seeded choice among the moves a text offers.

Both sides of a parity test (TextArena driven natively, and the bridge) pick their moves with it
from the same observation text, so equal observations give equal moves.
"""

from __future__ import annotations

import random
import re

MOVE = re.compile(r"\[[^\[\]\n]{1,40}\]")
TAGS = {"[GAME]", "[Player 0]", "[Player 1]", "[Player]"}
FALLBACK = ["[up]", "[1 1 1]", "[0]", "[A C]", "hello"]


def scripted_move(text: str, rng: random.Random) -> str:
    """A move from the newest line of `text` that offers bracketed moves (role tags aside), else a fallback."""
    for line in reversed(text.split("\n")):
        if line.startswith("[Player"):
            continue  # a player's echoed move, not an offer
        moves = sorted({m for m in MOVE.findall(line) if m not in TAGS})
        if moves:
            return rng.choice(moves)
    return rng.choice(FALLBACK)
