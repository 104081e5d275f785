"""reasoning-gym's `codeio` runs reference code that draws from the global `random`: it must stay
deterministic when 32 episodes generate their items at once in the Runner's threads."""

from __future__ import annotations

import random
import sys
import threading

from _require import require_module

require_module("reasoning_gym")

from openenvs.envs.reasoning_gym import env as rg_env  # noqa: E402
from openenvs.rollout import EpisodeSpec, FunctionPolicy, Runner  # noqa: E402

# items of a 400-item codeio dataset whose reference code draws from the global random
GLOBAL_RANDOM_ITEMS = [43, 50, 87, 88, 110, 177, 215, 231, 272]


def _run(concurrency: int) -> dict[str, tuple[str, float]]:
    rg_env._cached_item.cache_clear()  # every run generates its items afresh, in its own threads
    policy = FunctionPolicy(lambda messages, tools: "<answer>{}</answer>")
    episodes = [
        EpisodeSpec(env_id="rg/codeio-v0", seed=GLOBAL_RANDOM_ITEMS[i % 9], sample=i // 9, env_kwargs={"size": 400})
        for i in range(32)
    ]
    result = Runner(policy, concurrency=concurrency, max_turns=1, parquet=False).run(episodes)
    assert not result.errors, result.errors
    return {t.id: (t.messages[-2]["content"], t.reward) for t in result.trajectories}


def test_codeio_is_deterministic_with_32_episodes_in_runner_threads():
    state = random.getstate()
    sequential = _run(1)
    assert random.getstate() == state, "item generation leaked into the global random state"
    stop = threading.Event()

    def noise() -> None:  # another thread reseeding and drawing from the global random all along
        while not stop.is_set():
            random.seed(random.random())
            random.shuffle(list(range(50)))

    thread = threading.Thread(target=noise, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so unguarded global draws would interleave
    thread.start()
    try:
        concurrent = _run(32)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert len(sequential) == 32 and concurrent == sequential


def test_codeio_items_are_the_same_when_generated_in_32_threads_at_once():
    """The stress form: 32 threads generate the global-random items at once (without the per-thread
    routing about a third of them come out different)."""
    from concurrent.futures import ThreadPoolExecutor

    import openenvs

    env = openenvs.make("rg/codeio-v0", size=400)
    expected = {i: env.get_task(i).prompt for i in GLOBAL_RANDOM_ITEMS}
    stop = threading.Event()

    def noise() -> None:
        while not stop.is_set():
            random.seed(random.random())

    thread = threading.Thread(target=noise, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread.start()
    try:
        for _ in range(3):
            rg_env._cached_item.cache_clear()
            with ThreadPoolExecutor(32) as pool:
                got = list(pool.map(lambda i: env.get_task(i).prompt, GLOBAL_RANDOM_ITEMS * 3))
            assert got == [expected[i] for i in GLOBAL_RANDOM_ITEMS * 3]
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
