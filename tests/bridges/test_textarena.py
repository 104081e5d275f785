"""The TextArena bridge against the real textarena package: parity, determinism under threads, opponents."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from _require import require_module

require_module("textarena", setup="scripts/setup (`.[dev]` includes the `textarena` extra)")

from _scripted import scripted_move  # noqa: E402

import openenvs  # noqa: E402
from openenvs.bridges.textarena import EXCLUDED, GAMES, TextArenaEnv, env_id  # noqa: E402
from openenvs.rollout import FunctionPolicy, Runner, make_episodes  # noqa: E402

HERE = Path(__file__).resolve().parent  # not `from conftest import`: another folder's conftest may own that name
ROOT = HERE.parents[1]

MAX_MOVES = 40
SEEDS = (0, 3)


def _joined(messages) -> str:
    return "".join("\n" + m.content for m in messages if m.role == "user")


def _bridge_play(game: str, players: int, seed: int) -> dict:
    """The same scripted game as _textarena_native.play, through the bridge (the opponent is a policy)."""
    log_obs, log_moves = [], []
    rngs = {p: random.Random(f"{seed}:{p}") for p in range(players)}

    def opponent(messages, tools):
        text = _joined(messages)
        move = scripted_move(text, rngs[1])
        log_obs.append([1, text])
        log_moves.append([1, move])
        return move

    kwargs = {"opponent": FunctionPolicy(opponent)} if players == 2 else {}
    env = TextArenaEnv(game=game, num_players=players, **kwargs)
    obs, _ = env.reset(seed=seed)
    history = list(obs.messages)
    result = None
    while len(log_moves) < MAX_MOVES:
        text = _joined(history)
        move = scripted_move(text, rngs[0])
        log_obs.append([0, text])
        log_moves.append([0, move])
        result = env.step(move)
        history += [openenvs.Message(role="assistant", content=move), *result.observation.messages]
        if result.terminated:
            break
    return {"observations": log_obs, "moves": log_moves, "result": result}


@pytest.fixture(scope="module")
def native() -> dict:
    runs = [[g, p, s] for g, (p, _) in GAMES.items() for s in SEEDS]
    out = subprocess.run(
        [sys.executable, str(HERE / "_textarena_native.py"), json.dumps(runs), str(MAX_MOVES)],
        capture_output=True, text=True, timeout=300, cwd=HERE, check=True,
    )
    traces = json.loads(out.stdout.strip().splitlines()[-1])
    return {(g, s): t for (g, _, s), t in zip(runs, traces, strict=True)}


@pytest.fixture
def offline(monkeypatch):
    """Any download or network connection attempted during the test fails it."""
    import socket

    import nltk

    def refuse(*args, **kwargs):
        raise AssertionError("the bridge attempted a download or a network connection")

    monkeypatch.setattr(nltk, "download", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("game", list(GAMES))
def test_parity_with_native_textarena(game, native, offline):
    players = GAMES[game][0]
    for seed in SEEDS:
        expected = native[(game, seed)]
        got = _bridge_play(game, players, seed)
        n = len(expected["moves"])
        assert got["observations"][:n] == expected["observations"], f"{game} seed {seed}: observations differ"
        assert got["moves"][:n] == expected["moves"]
        if expected["done"]:
            assert len(got["moves"]) == n and got["result"].terminated
            assert got["result"].reward == expected["rewards"]["0"]
            assert got["result"].info["rewards"] == expected["rewards"]


def test_at_least_twenty_games_and_reasons_for_the_rest():
    assert len({g.split("-v")[0] for g in GAMES}) >= 20
    ids = {s.id for s in openenvs.list_envs(tags=["textarena"])}
    assert ids == {env_id(g) for g in GAMES}
    assert all(reason for reason in EXCLUDED.values())
    assert not {g.split("-v")[0] for g in GAMES} & set(EXCLUDED)


def test_listing_imports_no_textarena():
    code = "import sys, openenvs; ids = [s.id for s in openenvs.list_envs()]; " \
           "assert 'textarena/sudoku-v0' in ids; print('textarena' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_manifest_carries_upstream_name_version_license():
    from importlib.metadata import version

    spec = openenvs.spec("textarena/sudoku-v0")
    assert spec.license == "MIT" and spec.sources[0].url.startswith("https://github.com/")
    assert spec.verifier.version == version("textarena") and "textarena" in spec.packages
    assert version("textarena") in spec.sources[0].title
    assert spec.kwargs == {"game": "Sudoku-v0", "num_players": 1}


def _trace(env_id_: str, seed: int) -> list:
    """A deterministic episode: the scripted player picks from the text it sees."""
    env = openenvs.make(env_id_)
    rng = random.Random(seed)
    obs, _ = env.reset(seed=seed)
    text = obs.messages[-1].content
    out = [text]
    for _ in range(12):
        r = env.step(scripted_move(text, rng))
        text = r.observation.messages[-1].content if r.observation.messages else ""
        out.append([text, r.reward, r.terminated])
        if r.terminated or r.truncated:
            break
    return out


def test_deterministic_when_32_episodes_run_in_runner_threads():
    """32 episodes at once in the Runner's worker threads, with another thread drawing from (and reseeding)
    the global `random`, play exactly the episodes a sequential run plays."""
    ids = ["textarena/sudoku-easy-v0", "textarena/minesweeper-small-v0", "textarena/kuhn-poker-v0",
           "textarena/2048-easy-v0", "textarena/blackjack-v0", "textarena/frozen-lake-random-v0",
           "textarena/mastermind-v0", "textarena/snake-v0"]

    def policy_fn(messages, tools):
        text = _joined(messages)
        return scripted_move(text, random.Random(len(messages) * 7919 + len(text)))

    def run(concurrency: int):
        runner = Runner(FunctionPolicy(policy_fn), concurrency=concurrency, max_turns=10, parquet=False)
        result = runner.run(make_episodes(ids, 4, seed=11))
        assert not result.errors, result.errors
        return {t.id: (t.messages, [s.reward for s in t.steps]) for t in result.trajectories}

    stop = threading.Event()

    def noise():
        while not stop.is_set():
            random.seed(random.random())
            random.shuffle(list(range(50)))

    state = random.getstate()
    sequential = run(1)
    assert random.getstate() == state, "a bridged episode touched the global random state"
    thread = threading.Thread(target=noise, daemon=True)
    thread.start()
    try:
        concurrent = run(32)
    finally:
        stop.set()
        thread.join()
    assert len(sequential) == 32 and concurrent == sequential


def test_random_opponent_is_seeded_and_plays_listed_moves():
    a, b = _trace("textarena/tic-tac-toe-v0", 5), _trace("textarena/tic-tac-toe-v0", 5)
    assert a == b
    env = openenvs.make("textarena/tic-tac-toe-v0")
    env.reset(seed=1)
    result = env.step("[4]")
    assert result.info["opponent_moves"][0] in {f"[{i}]" for i in range(9)} - {"[4]"}


def test_self_play_with_one_policy_in_both_seats():
    """The Runner's policy is also the opponent (named by import path, as run records need JSON kwargs)."""
    import _policies

    _policies.SEEN.clear()
    result = Runner(_policies.selfplay, max_turns=9, parquet=False).run(
        make_episodes("textarena/tic-tac-toe-v0", 2, env_kwargs={"opponent": "_policies:selfplay"})
    )
    assert not result.errors and len(result.trajectories) == 2
    assert {"You are Player 0 in Tic Tac Toe.", "You are Player 1 in Tic Tac Toe."} <= set(_policies.SEEN)
    env = TextArenaEnv(game="TicTacToe-v0", num_players=2, opponent=_policies.selfplay)  # or the object itself
    env.reset(seed=0)
    assert env.step("[4]").info["opponent_moves"]


def test_opponent_by_import_path_and_model_in_seat_one():
    env = TextArenaEnv(game="TicTacToe-v0", num_players=2, player=1, opponent="_policies:center_first")
    obs, info = env.reset(seed=0)
    assert info["opponent_moves"] == ["[4]"] and "You are Player 1" in obs.messages[0].content


def test_config_errors_name_the_fix():
    with pytest.raises(openenvs.ConfigError, match="Sudoku-v0"):
        TextArenaEnv(game="NoSuchGame-v0").reset(seed=0)
    with pytest.raises(openenvs.ConfigError, match="opponent"):
        TextArenaEnv(game="TicTacToe-v0", num_players=2, opponent="best")
    with pytest.raises(openenvs.ConfigError, match="unknown argument `opponnent`"):
        TextArenaEnv(game="TicTacToe-v0", opponnent="random")
