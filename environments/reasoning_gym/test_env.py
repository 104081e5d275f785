from __future__ import annotations

from fractions import Fraction

import pytest

from _require import require_module

rg_factory = require_module("reasoning_gym.factory")

import openenvs  # noqa: E402
from openenvs import ConfigError  # noqa: E402
from openenvs._spec import ENV_ID_RE  # noqa: E402
from openenvs.envs.reasoning_gym import env as rg_env  # noqa: E402
from openenvs.envs.reasoning_gym.env import NO_GOLD_ANSWER, ReasoningGymEnv  # noqa: E402
from openenvs.envs.reasoning_gym.specs import EXCLUDED, specs  # noqa: E402

NAMES = sorted(set(rg_factory.DATASETS) - set(EXCLUDED))


def test_every_dataset_has_an_id_and_the_tag():
    ids = {s.id for s in specs()}
    assert ids == {f"rg/{name}-v0" for name in NAMES}
    assert all(ENV_ID_RE.match(i) for i in ids)
    listed = {s.id for s in openenvs.list_envs(tags=["reasoning-gym"])}
    assert listed == ids


@pytest.mark.parametrize("name", NAMES)
def test_dataset_plays_with_its_own_scorer(name):
    env = openenvs.make(f"rg/{name}-v0", size=4)
    obs, info = env.reset(seed=0)
    assert obs.messages[0].role == "system" and "<answer>" in obs.messages[0].content
    assert obs.messages[-1].content == env.task.metadata["entry"]["question"]
    has_gold = env.task.answer is not None
    assert has_gold == (name not in NO_GOLD_ANSWER)  # catches a reasoning-gym upgrade changing this
    if has_gold:
        result = env.step(env.oracle())
        assert result.reward == 1.0 and result.info["correct"] is True
        env.reset(seed=0)
    result = env.step("I don't know.")
    assert result.reward < 1.0 and result.terminated


def test_config_fields_are_kwargs():
    env = openenvs.make("rg/basic_arithmetic-v0", min_terms=2, max_terms=2, seed=5)
    env.reset(seed=1)
    assert env.dataset.config.max_terms == 2 and env.dataset.seed == 5
    first = env.task.prompt
    again = openenvs.make("rg/basic_arithmetic-v0", min_terms=2, max_terms=2, seed=5)
    again.reset(seed=1)
    assert again.task.prompt == first
    with pytest.raises(ConfigError, match="did you mean `max_terms`"):
        openenvs.make("rg/basic_arithmetic-v0", max_term=3)
    with pytest.raises(ConfigError, match="Did you mean basic_arithmetic"):
        ReasoningGymEnv(dataset="basic_arithmetc")
    bad = openenvs.make("rg/basic_arithmetic-v0", min_terms=5, max_terms=2)
    with pytest.raises(ConfigError, match="rejected the config"):
        bad.reset(seed=0)


def test_datasets_that_use_global_random_are_still_deterministic():
    import random

    first, second = openenvs.make("rg/codeio-v0", size=50), openenvs.make("rg/codeio-v0", size=50)
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    indices = [0, 43]  # item 43 runs reference code that calls the global random.random()
    prompts = [first.get_task(i).prompt for i in indices]
    assert random.random() == expected_next  # the global generator's state is restored afterwards
    rg_env._cached_item.cache_clear()  # generate the items again rather than reuse them
    rg_env._build_dataset.cache_clear()
    assert prompts == [second.get_task(i).prompt for i in indices]


def _score(env_id, seed, answer, **kwargs):
    env = openenvs.make(env_id, **kwargs)
    env.reset(seed=seed)
    return env, env.step(f"<answer>{answer}</answer>").reward


def test_answers_that_solve_nothing_earn_nothing_and_exact_answers_keep_full_reward():
    # the default scorer's substring credit: every digit at once no longer earns len(gold)/len(answer)
    env, reward = _score("rg/gcd-v0", 3, "0123456789")
    assert reward == 0.0
    env.reset(seed=3)
    assert env.step(env.oracle()).reward == 1.0
    # game_of_life_halting compared bool(answer) == bool(gold): any text was right
    env, reward = _score("rg/game_of_life_halting-v0", 0, "banana")
    assert reward == 0.0
    env.reset(seed=0)
    assert env.step(env.oracle()).reward == 1.0
    # coin_flip's prefix credit divided by the shorter string: "0" matched every probability
    for seed in range(8):
        env, reward = _score("rg/coin_flip-v0", seed, "0")
        assert reward == float(abs(float(Fraction(env.task.answer))) <= 1e-4)
    # puzzle24 never checked that the numbers used are the puzzle's
    rewards = [_score("rg/puzzle24-v0", seed, "1*2*10 + 4")[1] for seed in range(8)]
    assert max(rewards) < 1.0
    env = openenvs.make("rg/puzzle24-v0")
    env.reset(seed=0)
    assert env.step(env.oracle()).reward == 1.0
    # rubiks_cube expanded a move repeated millions of times before scoring
    env, reward = _score("rg/rubiks_cube-v0", 0, "R12345678")
    assert reward == 0.0


def test_measured_chance_baselines_are_in_the_manifests():
    from openenvs.envs.reasoning_gym.specs import CHANCE

    assert openenvs.spec("rg/course_schedule-v0").chance_reward == CHANCE["course_schedule"] == 0.5
    assert openenvs.spec("rg/basic_arithmetic-v0").chance_reward == 0.0
