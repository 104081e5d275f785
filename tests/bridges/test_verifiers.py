"""The verifiers bridge (import side) against the real `verifiers` 0.4 package, in .venv-verifiers (it pins mcp==2.0.0).

In that venv: lazy listing; parity of rewards, metrics and prompts with verifiers' own
``Task.score`` for a taskset written with verifiers' classes and for the registered demo;
check_env. Across the venv boundary: `openenvs serve` in .venv-verifiers and `connect` /
`use_remote` here, with one GRPO step and one `openenvs eval`. The export side
(`to_verifiers` + verifiers' `run_eval` against our vLLM server) is tests/rollout/test_verifiers_export.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _require import missing, require_module
from _sideserver import serving

HERE = Path(__file__).resolve().parent  # not from conftest: another folder's conftest may hold that name
ROOT = HERE.parents[1]

VENV = ROOT / ".venv-verifiers"
SETUP = "scripts/setup.d/61-verifiers.sh"
ENV_ID = "verifiers/reverse-text-v0"


def verifiers_python() -> str:
    """The .venv-verifiers interpreter, or skip/fail (under CI) naming the setup step."""
    failed = VENV / ".openenvs-verifiers-failed"
    if failed.exists():
        missing(f"the verifiers venv install failed: {failed.read_text()[-800:]}", setup=SETUP)
    if not list(VENV.glob(".openenvs-verifiers-0*")):
        missing(f"no verifiers venv at {VENV}", setup=SETUP)
    return str(VENV / "bin" / "python")


def side_env() -> dict:
    """Environment for processes in .venv-verifiers: this checkout's openenvs, the venv's `uv` on PATH."""
    path = os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "PATH": path}


@pytest.fixture(scope="module")
def side() -> dict:
    out = subprocess.run(
        [verifiers_python(), str(HERE / "_verifiers_side.py")],
        capture_output=True, text=True, timeout=600, env=side_env(), check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_verifiers_ids_listed_without_importing_verifiers(side):
    assert side["listed"] == [ENV_ID] and not side["verifiers_imported_by_listing"]


def test_verifiers_rewards_match_verifiers_own_scoring(side):
    rows = side["parity"]
    assert {r["case"] for r in rows} == {"test-sum", "reverse-text"} and len(rows) == 16
    for row in rows:
        assert row["prompt_same"] and row["terminated"], row
        assert row["bridged"] == row["native"], row
    rewards = {r["native"][0] for r in rows}
    assert {0.0, 0.2, 1.0} <= rewards  # weighted rewards: both parts, one part, none


def test_verifiers_infinite_taskset_needs_num_tasks_and_check_env(side):
    assert side["infinite_error"].startswith("ConfigError: SumTaskset is infinite: pass num_tasks=N")
    assert side["check_env"] == "ok"


def test_verifiers_not_listed_where_it_is_not_installed():
    import openenvs

    assert openenvs.list_envs(namespace="verifiers") == []


@pytest.fixture(scope="module")
def verifiers_server():
    """`openenvs serve verifiers/reverse-text-v0` running in .venv-verifiers on a free loopback port."""
    python = verifiers_python()
    with serving(python, [ENV_ID, "--workers", "1"], env=side_env(), what="verifiers-venv", attempts=900) as url:
        yield url


def test_verifiers_env_across_the_venv_boundary(verifiers_server):
    import openenvs
    from openenvs.testing import check_env

    env = openenvs.connect(verifiers_server, ENV_ID)
    obs, _ = env.reset(seed=2)
    assert obs.messages[-1].content == "Reverse the letters of this word: bridge"
    result = env.step("egdirb")
    assert (result.reward, result.terminated) == (1.0, True)
    assert result.info["rewards"] == {"reversed_exactly": {"score": 1.0, "weight": 1.0}}
    env.close()
    check_env(openenvs.connect(verifiers_server, ENV_ID))


@pytest.mark.slow
def test_grpo_step_and_eval_on_verifiers_across_the_venv_boundary(verifiers_server, tmp_path):
    require_module("trl")
    from test_training import eval_run
    from trl import GRPOConfig, GRPOTrainer

    from openenvs.models import tiny_model_dir
    from openenvs.server import use_remote
    from openenvs.trl import for_grpo

    assert use_remote(verifiers_server, [ENV_ID]) == [ENV_ID]
    tiny = str(tiny_model_dir())
    kwargs = for_grpo(ENV_ID, n=4, seed=0)  # single-turn: a dataset and a reward function scored by verifiers
    config = GRPOConfig(
        output_dir=str(tmp_path / "grpo"), max_steps=1, per_device_train_batch_size=2, num_generations=2,
        max_completion_length=8, logging_steps=1, report_to=[], use_cpu=True, bf16=False, save_strategy="no",
        seed=0, learning_rate=1e-3,
    )  # fmt: skip
    trainer = GRPOTrainer(model=tiny, args=config, **kwargs)
    trainer.train()
    assert trainer.state.global_step == 1
    summary = eval_run(ENV_ID, tiny, tmp_path / "eval")
    assert summary["envs"][ENV_ID]["episodes"] == 2
