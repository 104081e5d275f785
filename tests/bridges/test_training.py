"""One GRPO step (openenvs.trl.for_grpo) and one `openenvs eval` run on a bridged env of each library.

TextArena and Gymnasium run here; OpenEnv's run goes through its own venv's server (test_openenv.py).
"""

from __future__ import annotations

import json
import os

import pytest

from _require import require_module

require_module("trl")
require_module("textarena", setup="scripts/setup (`.[dev]` includes the `textarena` extra)")

import torch  # noqa: E402

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
torch.set_num_threads(1)

BRIDGED = ["textarena/guess-the-number-v0", "gymnasium/blackjack-v1"]


@pytest.fixture(scope="module")
def tiny() -> str:
    from openenvs.models import tiny_model_dir

    return str(tiny_model_dir())


def grpo_step(env_id: str, model: str, out_dir) -> int:
    """Train one GRPO step on `env_id` with the tiny model; return the global step."""
    from trl import GRPOConfig, GRPOTrainer

    from openenvs.trl import for_grpo

    kwargs = for_grpo(env_id, n=4, seed=0, max_turns=2)
    assert "rollout_func" in kwargs  # multi-turn: rollouts go through the env
    config = GRPOConfig(
        output_dir=str(out_dir), max_steps=1, per_device_train_batch_size=2, num_generations=2,
        max_completion_length=8, logging_steps=1, report_to=[], use_cpu=True, bf16=False,
        save_strategy="no", seed=0, learning_rate=1e-3,
    )
    trainer = GRPOTrainer(model=model, args=config, **kwargs)
    trainer.train()
    return trainer.state.global_step


def eval_run(env_id: str, model: str, out_dir) -> dict:
    """`openenvs eval` on `env_id` with the tiny model; return summary.json."""
    from openenvs.cli._main import main

    main(["eval", env_id, "--model", model, "-n", "2", "--max-tokens", "6", "--max-turns", "3",
          "--out", str(out_dir), "--no-progress"])
    return json.loads((out_dir / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("env_id", BRIDGED)
def test_grpo_step_on_a_bridged_env(env_id, tiny, tmp_path):
    assert grpo_step(env_id, tiny, tmp_path) == 1


@pytest.mark.slow
@pytest.mark.parametrize("env_id", BRIDGED)
def test_eval_on_a_bridged_env(env_id, tiny, tmp_path):
    summary = eval_run(env_id, tiny, tmp_path / "eval")
    assert summary["envs"][env_id]["episodes"] == 2
