"""The CLI, run as a real subprocess (`python -m openenvs`), as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, input: str | None = None, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "openenvs", *args],
        capture_output=True, text=True, input=input, timeout=300, env={**os.environ, "COLUMNS": "200", **(env or {})}, cwd=cwd,
    )


def test_list_table_and_json():
    out = run("list", "--tag", "arithmetic")
    assert out.returncode == 0 and "math/arithmetic-v1" in out.stdout
    data = json.loads(run("list", "--json", "--namespace", "math").stdout)
    assert "math/arithmetic-v1" in [d["id"] for d in data]


def test_info_shows_fingerprint():
    data = json.loads(run("info", "math/arithmetic-v1", "--json").stdout)
    assert data["id"] == "math/arithmetic-v1" and len(data["fingerprint"]) == 16


def test_errors_are_one_line_without_traceback():
    out = run("info", "math/arithmtic-v1")
    assert out.returncode == 1
    assert "Did you mean `math/arithmetic-v1`" in out.stderr and "Traceback" not in out.stderr
    debug = run("--debug", "info", "math/arithmtic-v1")
    assert "Traceback" in debug.stderr


def test_check_passes_and_reports():
    out = run("check", "math/arithmetic-v1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1/1 passed" in out.stdout


def test_play_reads_actions_and_shows_reward():
    import openenvs

    env = openenvs.make("math/arithmetic-v1")
    env.reset(seed=0)
    answer = env.task.answer
    out = run("play", "math/arithmetic-v1", "--seed", "0", input=f"\\boxed{{{answer}}}\n/quit\n")
    assert out.returncode == 0, out.stderr
    assert "reward 1" in out.stdout and "correct=True" in out.stdout


def test_new_scaffold_passes_check_and_its_own_tests(tmp_path):
    (tmp_path / "registry.json").write_text(json.dumps({"envs": [], "providers": []}))
    out = run("new", "word_flip", "--namespace", "demo", "--root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    entry = json.loads((tmp_path / "registry.json").read_text())["envs"][0]
    assert entry["id"] == "demo/word-flip-v1"
    env = {"PYTHONPATH": str(tmp_path), "OPENENVS_REGISTRY": str(tmp_path / "registry.json")}
    check = run("check", "demo/word-flip-v1", env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "environments" / "word_flip")],
        capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path, timeout=300,
    )
    assert tests.returncode == 0, tests.stdout[-2000:]
    again = run("new", "word_flip", "--namespace", "demo", "--root", str(tmp_path))
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("bad", ["Word", "class", "1abc"])
def test_new_rejects_bad_names(tmp_path, bad):
    out = run("new", bad, "--root", str(tmp_path))
    assert out.returncode == 1 and "identifier" in out.stderr
