"""The OpenEnv bridge against the real `openenv` package, which lives in .venv-openenv (its pins fight ours).

In that venv: parity of the echo env with OpenEnv's own Environment, check_env, JSON actions and
feedback. Across the venv boundary: `openenvs serve` in .venv-openenv and `use_remote` here, the
same boundary the served-env issue built (no second RPC).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _require import missing, require_module
from _sideserver import serving

HERE = Path(__file__).resolve().parent  # not `from conftest import`: another folder's conftest may own that name
ROOT = HERE.parents[1]

VENV = ROOT / ".venv-openenv"
SETUP = "scripts/setup.d/60-openenv.sh"


def _python() -> str:
    failed = VENV / ".openenvs-openenv-failed"
    if failed.exists():
        missing(f"the OpenEnv venv install failed: {failed.read_text()[-800:]}", setup=SETUP)
    if not list(VENV.glob(".openenvs-openenv-*")):
        missing(f"no OpenEnv venv at {VENV}", setup=SETUP)
    return str(VENV / "bin" / "python")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def test_openenv_echo_in_its_own_venv():
    out = subprocess.run(
        [_python(), str(HERE / "_openenv_side.py")], capture_output=True, text=True, timeout=300, env=_env(), check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["listed"] == ["openenv/echo-v0"] and not result["openenv_imported_by_listing"]
    assert result["check_env"] == "ok"
    assert result["first"] == ["Echo environment ready!", {"echoed_message": "Echo environment ready!", "message_length": 0}]
    for n_reward, n_done, n_text, n_len, b_reward, b_done, b_obs in result["parity"]:
        assert (b_reward, b_done, b_obs) == (n_reward, n_done, {"echoed_message": n_text, "message_length": n_len})
    first, bad, bad_reward, good, good_reward, good_done = result["json_action"]
    assert first == '{"total": 1}' and bad.startswith("Invalid action for CountAction") and bad_reward == 0.0
    assert (good, good_reward, good_done) == ('{"total": 13}', 1.0, True)


def test_openenv_not_listed_where_it_is_not_installed():
    import openenvs

    assert openenvs.list_envs(namespace="openenv") == []


@pytest.fixture(scope="module")
def echo_server():
    """`openenvs serve openenv/echo-v0` running in .venv-openenv, on a free loopback port."""
    python = _python()
    with serving(python, ["openenv/echo-v0"], env=_env(), what="OpenEnv-venv", attempts=300) as url:
        yield url


def test_openenv_env_across_the_venv_boundary(echo_server):
    import openenvs
    from openenvs.testing import check_env

    env = openenvs.connect(echo_server, "openenv/echo-v0")
    obs, _ = env.reset(seed=0)
    assert json.loads(obs.messages[0].content)["echoed_message"] == "Echo environment ready!"
    assert env.step("hello").reward == 0.5
    env.close()
    check_env(env)


@pytest.mark.slow
def test_grpo_step_and_eval_on_openenv_across_the_venv_boundary(echo_server, tmp_path):
    require_module("trl")
    from test_training import eval_run, grpo_step

    from openenvs.models import tiny_model_dir
    from openenvs.server import use_remote

    assert use_remote(echo_server) == ["openenv/echo-v0"]
    tiny = str(tiny_model_dir())
    assert grpo_step("openenv/echo-v0", tiny, tmp_path / "grpo") == 1
    summary = eval_run("openenv/echo-v0", tiny, tmp_path / "eval")
    assert summary["envs"]["openenv/echo-v0"]["episodes"] == 2
