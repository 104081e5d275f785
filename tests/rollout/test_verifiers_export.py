"""`to_verifiers`: an openenvs env run by verifiers' own eval runner against our vLLM CPU server.

The env is served by `openenvs serve` in the main venv; verifiers (in .venv-verifiers, it pins
mcp==2.0.0) builds the taskset from it through `openenvs.connect`, runs each episode with its
`null` chat harness against the shared session vLLM server (tests/rollout/conftest.py), and
records the openenvs reward. The test replays every reply through openenvs itself and checks the
reward verifiers recorded is the env's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _require import missing
from _sideserver import serving

ROOT = Path(__file__).resolve().parents[2]
BRIDGES = ROOT / "tests" / "bridges"
VENV = ROOT / ".venv-verifiers"
ENV_ID = "math/arithmetic-v1"


def verifiers_python() -> str:
    failed = VENV / ".openenvs-verifiers-failed"
    if failed.exists():
        missing(
            f"the verifiers venv install failed: {failed.read_text()[-800:]}", setup="scripts/setup.d/61-verifiers.sh"
        )
    if not list(VENV.glob(".openenvs-verifiers-0*")):
        missing(f"no verifiers venv at {VENV}", setup="scripts/setup.d/61-verifiers.sh")
    return str(VENV / "bin" / "python")


def side_env() -> dict:
    """This checkout's openenvs on PYTHONPATH; the verifiers venv's `uv` (its chat harness needs it) on PATH."""
    path = os.pathsep.join([str(VENV / "bin"), os.environ.get("PATH", "")])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "PATH": path}


@pytest.fixture(scope="module")
def openenvs_server():
    """`openenvs serve math/arithmetic-v1` in the main venv (this interpreter), on a free loopback port."""
    with serving(sys.executable, [ENV_ID, "--workers", "1"], env=side_env(), what="openenvs", attempts=600) as url:
        yield url


@pytest.mark.slow
@pytest.mark.vllm
def test_verifiers_eval_runs_an_openenvs_env_against_our_vllm_server(vllm_server, openenvs_server, tmp_path):
    import openenvs

    python = verifiers_python()
    out = subprocess.run(
        [python, str(BRIDGES / "_verifiers_export_side.py"), openenvs_server, ENV_ID, f"{vllm_server.base_url}/v1",
         vllm_server.model_name, str(tmp_path / "vf")],
        capture_output=True, text=True, timeout=600, env=side_env(), check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["env"] == "OpenEnvsVerifiersEnv"
    episodes = result["episodes"]
    assert len(episodes) == 2 and {e["seed"] for e in episodes} == {0, 1}
    for episode in episodes:
        assert episode["ok"], episode["errors"]
        assert episode["replies"] and episode["replies"][0].strip(), episode
        env = openenvs.make(ENV_ID)  # the same task, scored by openenvs here: the reward verifiers recorded
        obs, _ = env.reset(seed=episode["seed"])
        assert obs.messages[-1].content == result["prompts"][episode["seed"]]
        assert episode["rewards"] == {"openenvs": env.step(episode["replies"][0]).reward}
        assert episode["steps"] == 1.0
