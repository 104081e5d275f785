"""The CI guard: a missing component skips outside CI and fails under CI=true; deselected groups fail the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _require import COMPONENTS, MINIMUMS_FILE, load_groups, require_module

ROOT = Path(__file__).resolve().parents[1]

NEEDS_MISSING = """
from _require import missing, require_module

def test_needs_a_component():
    missing("the frobnicator is not installed", setup="scripts/setup.d/99-frob.sh")

def test_needs_a_module():
    require_module("no_such_module_openenvs_ci")
"""


def _pytest(args: list[str], *, ci: bool, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    if ci:
        env["CI"] = "true"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def needs_missing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("needs")
    (folder / "test_needs.py").write_text(NEEDS_MISSING)
    return folder


def test_missing_component_skips_with_setup_step_outside_ci(needs_missing: Path) -> None:
    run = _pytest(["test_needs.py"], ci=False, cwd=needs_missing)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 skipped" in run.stdout
    assert "the frobnicator is not installed (installed by scripts/setup.d/99-frob.sh)" in run.stdout


def test_missing_component_fails_under_ci_naming_the_setup_step(needs_missing: Path) -> None:
    run = _pytest(["test_needs.py"], ci=True, cwd=needs_missing)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 failed" in run.stdout
    assert "scripts/setup.d/99-frob.sh installs it" in run.stdout
    assert "cannot import no_such_module_openenvs_ci" in run.stdout


def test_group_below_its_minimum_fails_the_run(tmp_path: Path) -> None:
    """A group whose tests were deselected fails the run even though every test that ran passed."""
    minimums = tmp_path / "minimums.json"
    minimums.write_text(
        json.dumps({"types": {"min": 1, "nodeids": ["tests/test_types.py"]}, "gone": {"min": 2, "markers": ["nope"]}})
    )
    args = ["tests/test_types.py", "-k", "not nothing_matches_this", "--ci-minimums", str(minimums)]
    assert _pytest(args, ci=False, cwd=ROOT).returncode == 0  # outside CI the counts are only reported
    run = _pytest(args, ci=True, cwd=ROOT)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "failed" not in run.stdout.split("tests per component group")[0].lower()
    assert "gone" in run.stdout and "TOO FEW" in run.stdout
    minimums.write_text(json.dumps({"types": {"min": 1, "nodeids": ["tests/test_types.py"]}}))
    assert _pytest(args, ci=True, cwd=ROOT).returncode == 0


def test_committed_minimums_load_and_name_known_markers() -> None:
    groups = {g.name: g for g in load_groups(MINIMUMS_FILE)}
    assert {"sandbox", "vllm", "docker", "ray", "textarena", "gymnasium", "openenv", "verifiers", "gem"} <= set(groups)
    assert all(g.markers or g.nodeids for g in groups.values())


def test_require_module_refuses_the_projects_own_modules() -> None:
    with pytest.raises(ValueError, match="import the project's own modules directly"):
        require_module("openenvs.trl")
    assert {"vllm", "docker", "bwrap", "seccomp", "ray"} <= set(COMPONENTS)
