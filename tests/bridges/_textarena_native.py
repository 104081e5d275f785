"""Play TextArena games natively (no openenvs) with the scripted player; print the traces as JSON.

Usage: python _textarena_native.py '[["Sudoku-v0", 1, 0], ...]' MAX_TURNS
Each trace: per model turn, TextArena's LLMObservationWrapper string for the seat to move, and at
the end the rewards. Run in a subprocess so no openenvs code is loaded next to TextArena.
"""

from __future__ import annotations

import json
import random
import socket
import sys

import nltk
from _scripted import scripted_move


def _refuse(*args, **kwargs):
    raise RuntimeError("network or download attempted")


nltk.download = _refuse
socket.socket.connect = _refuse

import textarena as ta  # noqa: E402


def play(game: str, players: int, seed: int, max_turns: int) -> dict:
    env = ta.make(game)
    env.reset(num_players=players, seed=seed)
    rngs = {p: random.Random(f"{seed}:{p}") for p in range(players)}
    observations, moves, done = [], [], False
    while not done and len(moves) < max_turns:
        player, text = env.get_observation()
        move = scripted_move(text, rngs[player])
        observations.append([player, text])
        moves.append([player, move])
        done, _ = env.step(action=move)
    rewards, game_info = env.close()
    return {"observations": observations, "moves": moves, "done": done,
            "rewards": {str(k): v for k, v in (rewards or {}).items()}}


if __name__ == "__main__":
    runs = json.loads(sys.argv[1])
    print(json.dumps([play(g, p, s, int(sys.argv[2])) for g, p, s in runs]))
