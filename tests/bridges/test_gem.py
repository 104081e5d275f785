"""The GEM bridge against the real `gem-llm` package, which lives in .venv-gem (it pins an older reasoning-gym).

In that venv: lazy listing, parity of every registered game with GEM itself, check_env, and 32
threaded episodes. Across the venv boundary: `openenvs serve` in .venv-gem and `connect` /
`use_remote` here (the served-env boundary; no second RPC), with one GRPO step and one eval.
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

VENV = ROOT / ".venv-gem"
SETUP = "scripts/setup.d/62-gem.sh"
SERVED = ["gem/guess-the-number-easy-v0", "gem/mastermind-easy-v0", "gem/tower-of-hanoi-easy-v0"]


def _python() -> str:
    failed = VENV / ".openenvs-gem-failed"
    if failed.exists():
        missing(f"the GEM venv install failed: {failed.read_text()[-800:]}", setup=SETUP)
    if not list(VENV.glob(".openenvs-gem-0*")):
        missing(f"no GEM venv at {VENV}", setup=SETUP)
    return str(VENV / "bin" / "python")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


@pytest.fixture(scope="module")
def side() -> dict:
    out = subprocess.run(
        [_python(), str(HERE / "_gem_side.py")], capture_output=True, text=True, timeout=600, env=_env(), check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_gem_ids_listed_without_importing_gem(side):
    from openenvs.bridges.gem import GAMES, env_id

    assert side["listed"] == sorted(env_id(g) for g in GAMES) and len(side["listed"]) == 20
    assert not side["gem_imported_by_listing"]


def test_gem_parity_with_gem_itself(side):
    parity = side["parity"]
    assert len(parity) == 2 * len(side["listed"])
    for key, row in parity.items():
        assert row["same"], (key, row["first_native"], row["first_bridged"])
        assert row["steps"] >= 1 and row["global_random_untouched"], key
    assert sum(row["steps"] for row in parity.values()) > 100  # real episodes, not one-move stubs


def test_gem_check_env_and_threads(side):
    assert side["check_env"] == len(side["listed"])
    assert side["threads"] == {"jobs": 30, "same": True}


def test_gem_not_listed_where_it_is_not_installed():
    import openenvs

    assert openenvs.list_envs(namespace="gem") == []


@pytest.fixture(scope="module")
def gem_server():
    """`openenvs serve` of three GEM games, running in .venv-gem on a free loopback port."""
    python = _python()
    with serving(python, [*SERVED, "--workers", "1"], env=_env(), what="GEM-venv", attempts=600) as url:
        yield url


def test_gem_env_across_the_venv_boundary(gem_server):
    import openenvs
    from openenvs.testing import check_env

    env = openenvs.connect(gem_server, "gem/guess-the-number-easy-v0")
    obs, _ = env.reset(seed=0)
    assert obs.messages[0].content.startswith("You are playing Guess The Number.")
    result = env.step("no number here")
    assert (result.reward, result.terminated) == (-0.1, True)  # GEM's format error ends the game
    env.close()
    for env_id in SERVED:
        check_env(openenvs.connect(gem_server, env_id))


@pytest.mark.slow
def test_grpo_step_and_eval_on_gem_across_the_venv_boundary(gem_server, tmp_path):
    require_module("trl")
    from test_training import eval_run, grpo_step

    from openenvs.models import tiny_model_dir
    from openenvs.server import use_remote

    assert use_remote(gem_server, ["gem/guess-the-number-easy-v0"]) == ["gem/guess-the-number-easy-v0"]
    tiny = str(tiny_model_dir())
    assert grpo_step("gem/guess-the-number-easy-v0", tiny, tmp_path / "grpo") == 1
    summary = eval_run("gem/guess-the-number-easy-v0", tiny, tmp_path / "eval")
    assert summary["envs"]["gem/guess-the-number-easy-v0"]["episodes"] == 2
