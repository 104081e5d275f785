"""Third-party registration through entry points, and the built wheel in a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
import openenvs
from openenvs import Env, Message, Observation, StepResult


class Echo(Env):
    """Repeat a number."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.word = str(self.np_random.integers(1000))
        return Observation(messages=[Message(role="user", content=f"Say {self.word}")]), {}

    def step(self, action):
        text = action if isinstance(action, str) else action.content
        ok = text.strip() == self.word  # exact: `word in text` would pay a spray of numbers (check_env's probes)
        return StepResult(Observation(), float(ok), True, False, {"correct": ok})

    def oracle(self):
        return self.word


def specs():
    return [openenvs.EnvSpec(id="demo/echo-v1", entry_point="thirdparty_envs:Echo", description="Repeat a number.",
                             license="MIT", kind="single-turn", tags=["demo"], reward_range=(0.0, 1.0))]
'''


def _fake_install(site: Path, name: str, module_src: str, entry: str) -> None:
    (site / f"{name}.py").write_text(module_src)
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[openenvs.environments]\n{name} = {entry}\n")


def _python(code: str, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(site)})


def test_entry_point_package_registers_env_lazily(tmp_path):
    _fake_install(tmp_path, "thirdparty_envs", PLUGIN, "thirdparty_envs:specs")
    out = _python(
        """
        import sys, openenvs
        from openenvs.testing import check_env
        assert "demo/echo-v1" in [s.id for s in openenvs.list_envs(tags=["demo"])]
        env = openenvs.make("demo/echo-v1")
        obs, _ = env.reset(seed=3)
        print(env.step(env.word).reward)
        check_env("demo/echo-v1")
        print("ok")
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "ok"]


def test_broken_plugin_error_names_the_package(tmp_path):
    bad = "import openenvs\ndef specs():\n    return [{'id': 'demo/bad-v1', 'entry_point': 'x:y', 'description': 'd', 'license': 'NOPE'}]\n"
    _fake_install(tmp_path, "broken_envs", bad, "broken_envs:specs")
    out = _python("import openenvs; openenvs.list_envs()", tmp_path)
    assert out.returncode != 0
    assert "broken_envs" in out.stderr and "license" in out.stderr


@pytest.mark.slow
def test_wheel_installs_in_fresh_venv_and_finds_builtin_envs(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True, timeout=600, capture_output=True)
    wheel = next((tmp_path / "dist").glob("openenvs-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=600, capture_output=True)
    code = (
        "import openenvs; from openenvs.testing import check_env;"
        "assert 'math/arithmetic-v1' in [s.id for s in openenvs.list_envs(namespace='math')];"
        "check_env('math/arithmetic-v1', cross_process=False); print(openenvs.__file__)"
    )
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300, env=clean)
    assert out.returncode == 0, out.stderr
    assert str(venv) in out.stdout  # the installed copy, not the source tree
    import zipfile

    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"openenvs", wheel.name.split("-py")[0] + ".dist-info"}  # no top-level `environments`
    envs = subprocess.run([str(py), "-c", "import openenvs.envs.code.env as m; print(m.__file__)"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, env=clean)
    assert envs.returncode == 0 and str(venv) in envs.stdout, envs.stderr
    cli = subprocess.run([str(venv / "bin" / "openenvs"), "info", "math/arithmetic-v1"], capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 0 and "fingerprint" in cli.stdout
