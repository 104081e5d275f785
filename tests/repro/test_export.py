"""`openenvs export`: trajectories as SFT/DPO data and as a GRPO dataset that TRL's own CLI trains on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openenvs.repro import export_trajectories
from openenvs.rollout import FunctionPolicy, Runner, make_episodes


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "run"
    import itertools

    counter = itertools.count()

    def alternating(messages, tools):
        # the oracle answer on every other call, a wrong one otherwise
        import re

        question = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
        a, op, b = re.search(r"(-?\d+) ([-+*]) (-?\d+)", question).groups()
        right = eval(f"{a}{op}{b}")  # noqa: S307 - the test's own arithmetic on its own prompt
        return f"\\boxed{{{right if next(counter) % 2 == 0 else right + 1}}}"

    runner = Runner(FunctionPolicy(alternating), out_dir=out, parquet=False, concurrency=1)
    result = runner.run(make_episodes("math/arithmetic-v1", 6, samples=2, env_kwargs={"difficulty": 1}))
    assert {t.reward for t in result.trajectories} == {0.0, 1.0}
    return out


def _rows(file: Path):
    return [json.loads(line) for line in file.read_text().splitlines()]


def test_sft_keeps_conversations_and_provenance(run_dir, tmp_path):
    file = export_trajectories(run_dir, tmp_path / "sft", format="sft", min_reward=1.0)
    rows = _rows(file)
    assert len(rows) == 6
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        provenance = json.loads(row["provenance"])
        assert provenance["env_id"] == "math/arithmetic-v1" and provenance["reward"] == 1.0 and provenance["fingerprint"]
    import datasets

    assert datasets.load_dataset(str(tmp_path / "sft"), split="train").num_rows == 6


def test_dpo_pairs_the_best_and_worst_attempt_of_a_task(run_dir, tmp_path):
    rows = _rows(export_trajectories(run_dir, tmp_path / "dpo", format="dpo"))
    assert len(rows) == 6
    for row in rows:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen"] != row["rejected"]
        provenance = json.loads(row["provenance"])
        assert provenance["chosen"]["reward"] == 1.0 and provenance["rejected"]["reward"] == 0.0


def test_dpo_without_preferences_is_a_clear_error(tmp_path):
    out = tmp_path / "same"
    Runner(FunctionPolicy(lambda m, t: "no idea"), out_dir=out, parquet=False).run(make_episodes("math/arithmetic-v1", 2))
    with pytest.raises(ValueError, match="different rewards"):
        export_trajectories(out, tmp_path / "x", format="dpo")


@pytest.mark.slow
def test_trl_grpo_cli_trains_on_an_exported_grpo_dataset(run_dir, tmp_path):
    data = tmp_path / "grpo"
    rows = _rows(export_trajectories(run_dir, data, format="grpo-dataset"))
    assert len(rows) == 6 and {"prompt", "env_id", "env_kwargs", "env_seed"} <= rows[0].keys()
    from openenvs.models import tiny_model_dir

    trl = shutil.which("trl", path=str(Path(sys.executable).parent))
    assert trl, "TRL's CLI is installed with the trl extra (scripts/setup)"
    out = subprocess.run(
        [trl, "grpo", "--model_name_or_path", str(tiny_model_dir()), "--dataset_name", str(data),
         "--reward_funcs", "openenvs.trl.correct_reward", "--output_dir", str(tmp_path / "out"), "--max_steps", "1",
         "--per_device_train_batch_size", "4", "--num_generations", "4", "--max_completion_length", "8",
         "--report_to", "none", "--bf16", "false", "--use_cpu", "true", "--logging_steps", "1",
         "--save_strategy", "no"],
        capture_output=True, text=True, timeout=900, env={**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"},
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    log = out.stdout + out.stderr
    # the reward function really scored the completions through the env named in the rows
    assert "rewards/correct_reward/mean" in log and "env/math/arithmetic-v1/accuracy" in log
