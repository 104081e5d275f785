"""Checks that run inside .venv-gem (GEM's own venv): lazy listing, parity with GEM, check_env, threads.

Prints one JSON object; tests/bridges/test_gem.py runs it and asserts on it.
"""

from __future__ import annotations

import json
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import openenvs

SEEDS = (0, 3)
TURNS = 8


def moves(gem_id: str, seed: int) -> list[str]:
    """A seeded move sequence in the game's own format, with an unparsable reply now and then."""
    rng = random.Random(f"{gem_id}:{seed}")
    game = gem_id.split(":")[1].split("-v")[0]

    def one() -> str:
        if rng.random() < 0.1:
            return "I am not sure."
        if game == "GuessTheNumber":
            return f"\\boxed{{{rng.randint(1, 12)}}}"
        if game == "Mastermind":
            return "\\boxed{" + " ".join(str(rng.randint(1, 8)) for _ in range(rng.choice([2, 4]))) + "}"
        if game == "Minesweeper":
            return f"\\boxed{{{rng.choice(['reveal', 'flag'])} {rng.randrange(5)} {rng.randrange(5)}}}"
        if game == "Sudoku":
            return f"\\boxed{{{rng.randint(1, 4)} {rng.randint(1, 4)} {rng.randint(1, 4)}}}"
        if game == "TowerofHanoi":
            return "\\boxed{" + " ".join(rng.sample("ABC", 2)) + "}"
        return f"\\boxed{{{rng.choice(['up', 'down', 'left', 'right'])}}}"

    return [one() for _ in range(TURNS)]


def native_episode(gem, gem_id: str, seed: int) -> list:
    env = gem.make(gem_id)
    text, _ = env.reset(seed=seed)
    rows = [text]
    for move in moves(gem_id, seed):
        text, reward, terminated, truncated, _ = env.step(move)
        rows.append([text, float(reward), bool(terminated), bool(truncated)])
        if terminated or truncated:
            break
    return rows


def bridged_episode(env_id: str, gem_id: str, seed: int) -> list:
    env = openenvs.make(env_id)
    obs, _ = env.reset(seed=seed)
    rows = [obs.messages[-1].content]
    for move in moves(gem_id, seed):
        r = env.step(move)
        rows.append(
            [r.observation.messages[0].content if r.observation.messages else "", r.reward, r.terminated, r.truncated]
        )
        if r.terminated or r.truncated:
            break
    return rows


def main() -> None:
    out: dict = {}
    specs = openenvs.list_envs(namespace="gem")
    out["listed"] = [s.id for s in specs]
    out["gem_imported_by_listing"] = "gem" in sys.modules
    games = {s.id: s.kwargs["game"] for s in specs}

    import gem

    from openenvs.testing import check_env

    # parity: the same seeded moves through GEM directly (its global random, one thread) and the bridge
    out["parity"] = {}
    for env_id, gem_id in games.items():
        for seed in SEEDS:
            native = native_episode(gem, gem_id, seed)
            state = random.getstate()
            bridged = bridged_episode(env_id, gem_id, seed)
            out["parity"][f"{env_id}@{seed}"] = {
                "same": native == bridged,
                "steps": len(native) - 1,
                "global_random_untouched": random.getstate() == state,
                "first_native": native[0][:200],
                "first_bridged": bridged[0][:200],
            }

    for env_id in games:
        check_env(env_id, cross_process=False)  # the cross-process replay runs in test_gem.py via the server
    out["check_env"] = len(games)

    # 32 episodes at once in threads, while another thread reseeds the global random: the same episodes
    jobs = [(env_id, games[env_id], seed) for env_id in list(games)[::2] for seed in range(3)][:32]
    sequential = [bridged_episode(*job) for job in jobs]
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            random.seed(random.random())

    spinner = threading.Thread(target=churn)
    spinner.start()
    try:
        with ThreadPoolExecutor(32) as pool:
            threaded = list(pool.map(lambda job: bridged_episode(*job), jobs))
    finally:
        stop.set()
        spinner.join()
    out["threads"] = {"jobs": len(jobs), "same": threaded == sequential}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
