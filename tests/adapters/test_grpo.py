"""GRPO through openenvs.trl with a tiny random model: single-turn, tool and multi-turn envs, real TRL steps."""

from __future__ import annotations

import json
import os

import pytest

from _require import require_module

require_module("trl")
require_module("peft")

import torch  # noqa: E402

import openenvs  # noqa: E402
from openenvs import EnvSpec  # noqa: E402
from openenvs.models import tiny_model_dir  # noqa: E402
from openenvs.trl import correct_reward, env_reward, for_grpo, format_reward, make_rows, tool_answer_reward  # noqa: E402

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny() -> str:
    return str(tiny_model_dir())


def _config(tmp_path, **overrides):
    from trl import GRPOConfig

    values = dict(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        seed=0,
        learning_rate=1e-3,
    )
    values.update(overrides)
    return GRPOConfig(**values)


@pytest.fixture
def registered():
    """Register manifests into the default registry for one test, and remove them afterwards."""
    ids = []

    def add(spec: EnvSpec) -> str:
        openenvs.register(spec)
        ids.append(spec.id)
        return spec.id

    yield add
    for env_id in ids:
        openenvs.registry.unregister(env_id)


GUESS = EnvSpec(
    id="test/guess-v1",
    entry_point="_guess_env:GuessEnv",
    description="Guess a digit with higher/lower hints.",
    license="MIT",
    kind="multi-turn",
    reward_range=(0.0, 1.0),
    kwargs={"max_turns": 3},
)
EASY = EnvSpec(id="test/easy-v1", entry_point="_easy_env:EasyEnv", description="Every answer is right.", license="MIT")


def test_rows_are_deterministic_and_mixture_follows_weights():
    envs = [("math/arithmetic-v1", {"difficulty": 1}), ("math/arithmetic-v1", {"difficulty": 3})]
    a = make_rows(envs, n=200, seed=3, weights=[3, 1])
    assert a == make_rows(envs, n=200, seed=3, weights=[3, 1])
    hard = sum(json.loads(r["env_kwargs"])["difficulty"] == 3 for r in a)
    assert 25 <= hard <= 75  # expected 50 of 200
    held_out = make_rows(envs, n=20, seed=4, exclude={json.dumps([m["content"] for m in r["prompt"]]) for r in a})
    assert not {r["prompt"][-1]["content"] for r in held_out} & {r["prompt"][-1]["content"] for r in a}


def test_bad_weights_name_the_fix():
    with pytest.raises(openenvs.ConfigError, match="weights"):
        make_rows([("math/arithmetic-v1", {})], n=2, seed=0, weights=[1, 2])


def test_rewards_score_through_the_env():
    env = openenvs.make("math/arithmetic-v1", difficulty=2)
    env.reset(seed=11)
    answer = env.task.answer
    cols = {"env_id": ["math/arithmetic-v1"] * 3, "env_kwargs": ['{"difficulty": 2}'] * 3, "env_seed": [11] * 3}
    completions = [[{"role": "assistant", "content": f"\\boxed{{{answer}}}"}], "\\boxed{-99999}", "no box"]
    logged = {}
    assert correct_reward(completions=completions, log_metric=logged.__setitem__, **cols) == [1.0, 0.0, 0.0]
    assert format_reward(completions=completions, **cols) == [1.0, 1.0, 0.0]
    assert env_reward(completions=completions, **cols) == [1.0, 0.0, 0.0]
    assert logged["env/math/arithmetic-v1/accuracy"] == pytest.approx(1 / 3)


def test_grpo_trains_on_a_single_turn_env(tiny, tmp_path):
    from trl import GRPOTrainer

    kwargs = for_grpo("math/arithmetic-v1", n=16, seed=0)
    assert [f.__name__ for f in kwargs["reward_funcs"]] == ["correct_reward", "format_reward"]
    trainer = GRPOTrainer(model=tiny, args=_config(tmp_path), **kwargs)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 2
    assert "env/math/arithmetic-v1/accuracy" in logs[0]
    assert "rewards/format_reward/mean" in logs[0]
    assert trainer.state.global_step == 2


def test_grpo_trains_on_a_mixture_with_curriculum(tiny, tmp_path, registered):
    """The trainer's own steps move the curriculum: every answer of `test/easy-v1` is right, so it moves up."""
    from trl import GRPOTrainer

    from openenvs.verify import Curriculum

    env_id = registered(EASY)
    curriculum = Curriculum(env_id, [{"difficulty": 1}, {"difficulty": 2}], threshold=1.0, window=4)
    kwargs = for_grpo(env_id, seed=0, curriculum=curriculum)
    assert json.loads(next(iter(kwargs["train_dataset"]))["env_kwargs"]) == {"difficulty": 1}
    trainer = GRPOTrainer(model=tiny, args=_config(tmp_path, max_steps=2), **kwargs)
    trainer.train()
    assert curriculum.level == 1  # moved by the CurriculumCallback after the first step, from the scored rewards
    levels = [e["curriculum/level"] for e in trainer.state.log_history if "curriculum/level" in e]
    assert levels and levels[-1] == 1
    row = next(iter(kwargs["train_dataset"]))
    assert json.loads(row["env_kwargs"]) == {"difficulty": 2}


def test_grpo_trains_on_a_tool_env(tiny, tmp_path):
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from openenvs.trl import chatml_tool_template

    kwargs = for_grpo("tools/calculator-v1", n=8, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    tokenizer.chat_template = chatml_tool_template()
    # One step of 2 x 2: the tool schema makes prompts long, and TRL scores every position on CPU.
    config = _config(
        tmp_path, max_steps=1, per_device_train_batch_size=2, num_generations=2, max_completion_length=16,
        max_tool_calling_iterations=1,
    )
    trainer = GRPOTrainer(model=tiny, args=config, processing_class=tokenizer, **kwargs)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logs) == 1 and "tools/call_frequency" in logs[0]
    assert any(key.startswith("rewards/") and "TRLEnv" in key for key in logs[0])  # the env's checker scored it


def test_tool_rows_drive_the_same_episode_as_the_prompt():
    kwargs = for_grpo("tools/calculator-v1", n=4, seed=1)
    row = kwargs["train_dataset"][2]
    tools = kwargs["environment_factory"]()
    assert tools.reset(**row) is None  # the prompt is already in the row
    assert tools._messages()[-1]["content"] == row["prompt"][-1]["content"]
    env = openenvs.make("tools/calculator-v1")
    env.reset(seed=row["seed"])
    oracle = env.oracle()
    while oracle is not None and getattr(oracle, "tool_calls", None):
        for call in oracle.tool_calls:
            out = getattr(tools, call.name)(**json.loads(call.function.arguments))
            assert isinstance(out, str) and not out.startswith("Error")
        env.step(oracle)
        oracle = env.oracle()
    answer = oracle if isinstance(oracle, str) else (oracle.content or "")
    assert tool_answer_reward(completions=[[{"role": "assistant", "content": answer}]], environments=[tools]) == [None]
    assert tools.get_reward() == 1.0


def test_grpo_trains_on_a_multi_turn_env_with_env_mask(tiny, tmp_path, registered):
    from trl import GRPOTrainer

    env_id = registered(GUESS)
    kwargs = for_grpo(env_id, n=8, seed=0)
    assert "rollout_func" in kwargs
    trainer = GRPOTrainer(model=tiny, args=_config(tmp_path, max_completion_length=24), **kwargs)
    out = kwargs["rollout_func"]([kwargs["train_dataset"][0]["prompt"]] * 2, trainer)
    for ids, mask in zip(out["completion_ids"], out["env_mask"], strict=True):
        assert len(ids) == len(mask) and mask[0] == 1
    assert any(0 in m for m in out["env_mask"])  # a wrong guess gets an env reply, masked out
    trainer.train()
    assert trainer.state.global_step == 2


def test_slow_verdicts_are_scored_in_parallel_with_the_same_results():
    from openenvs.trl import EnvScorer

    env = openenvs.make("math/arithmetic-v1", difficulty=3)
    seeds = list(range(40))
    answers = []
    for seed in seeds:
        env.reset(seed=seed)
        answers.append(f"\\boxed{{{env.task.answer + (seed % 2)}}}")
    cols = (["math/arithmetic-v1"] * 40, ['{"difficulty": 3}'] * 40, seeds)
    inline = EnvScorer(workers=1).score_batch(answers, *cols)
    threaded = EnvScorer(workers=4, slow_s=-1.0)  # treat every verdict as slow
    assert threaded.score_batch(answers, *cols) == inline
    assert [r for r, _ in inline] == [float(s % 2 == 0) for s in seeds]
    threaded.close()
