"""`openenvs train` and the recipes in trainers/: real (tiny) training through the CLI, recipe validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _require import require_module

require_module("trl")

from openenvs import ConfigError  # noqa: E402
from openenvs.cli import main  # noqa: E402
from openenvs.trl._recipe import load_recipe, make_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "trainers").glob("*.yaml"))


def test_there_is_a_recipe_per_algorithm_and_env_kind():
    names = {p.stem for p in RECIPES}
    assert {"grpo_arithmetic_cpu", "grpo_gsm8k_vllm", "grpo_tools_calculator", "ppo_arithmetic"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipes_use_real_config_fields(path):
    recipe = load_recipe(path)
    if recipe.algorithm == "grpo":
        from trl import GRPOConfig as Config
    else:
        from openenvs.trl import PPOConfig as Config
    fields = set(Config.__dataclass_fields__)
    unknown = set(recipe.trainer) - fields
    assert not unknown, f"{path.name}: {unknown} are not {Config.__name__} fields"
    import openenvs

    for env in recipe.envs:
        openenvs.spec(env.id)  # registered


def test_bad_recipe_names_the_fix(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("algorithm: grpo\nenvs: [math/arithmetic-v1]\nlearning_rate: 1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_recipe(path)
    with pytest.raises(ConfigError, match="envs"):
        make_recipe({"algorithm": "grpo"})
    with pytest.raises(FileNotFoundError, match="trainers"):
        load_recipe(tmp_path / "missing.yaml")


def test_train_flags_run_grpo_and_write_report_and_provenance(tmp_path, capsys):
    out = tmp_path / "run"
    main(
        [
            "train", "grpo", "--env", "math/arithmetic-v1", "--model", "tiny", "--max-steps", "2", "-o", str(out),
            "--threads", "1", "--set", "per_device_train_batch_size=4", "--set", "num_generations=4",
            "--set", "max_completion_length=8", "--set", "save_strategy=no", "--set", "logging_steps=1",
        ]
    )
    text = capsys.readouterr().out
    assert "correct" in text and "Report:" in text  # the per-step reward table and the end line
    record = json.loads((out / "openenvs_provenance.json").read_text())
    assert record["envs"][0]["id"] == "math/arithmetic-v1" and len(record["envs"][0]["fingerprint"]) == 16
    assert record["config"]["algorithm"] == "grpo"
    report = json.loads((out / "report.json").read_text())
    assert sum("reward" in e for e in report["log_history"]) == 2
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    assert (out / "report.png").stat().st_size > 1000
    assert (out / "final" / "config.json").is_file()


def test_train_grpo_needs_an_env():
    with pytest.raises(SystemExit):
        main(["train", "grpo", "--model", "tiny"])
