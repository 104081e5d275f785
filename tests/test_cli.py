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


def test_list_shows_a_namespace_with_a_missing_dependency_as_unavailable(tmp_path):
    (tmp_path / "needs_dep_provider.py").write_text("import openenvs_no_such_dep\n\ndef specs():\n    return []\n")
    registry = tmp_path / "registry.json"
    provider = {"namespace": "dep", "entry_point": "needs_dep_provider:specs", "extras": ["math"]}
    registry.write_text(json.dumps({"envs": [], "providers": [provider]}))
    env = {"OPENENVS_REGISTRY": str(registry), "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = run("list", env=env)
    assert out.returncode == 0, out.stderr
    assert "math/arithmetic-v1" in out.stdout
    line = next(line for line in out.stdout.splitlines() if "dep/*" in line)
    assert line.startswith("unavailable dep/*: The package `openenvs_no_such_dep` is not installed")
    assert "pip install 'openenvs[math]'" in out.stdout
    made = run("info", "dep/thing-v1", env=env)
    assert made.returncode == 1 and "pip install 'openenvs[math]'" in made.stderr


LONG_ID = "contrib/an-environment-with-a-rather-long-descriptive-name-v12"


def test_list_at_80_columns_never_cuts_ids(tmp_path):
    registry = tmp_path / "registry.json"
    spec = {"id": LONG_ID, "entry_point": "openenvs.envs.arithmetic.env:ArithmeticEnv", "license": "MIT",
            "description": "An environment whose id is long, listed with a description that has to wrap somewhere.",
            "tags": ["a-long-tag", "another-long-tag"]}
    registry.write_text(json.dumps({"envs": [spec]}))
    for columns in ("80", "40"):
        out = run("list", env={"OPENENVS_REGISTRY": str(registry), "COLUMNS": columns})
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert any(LONG_ID in line for line in lines), out.stdout
        assert "math/arithmetic-v1" in out.stdout and "code/humaneval-v1" in out.stdout
        assert "…" not in out.stdout
        assert max(len(line) for line in lines) <= int(columns) or columns == "40"
    header = run("list", env={"COLUMNS": "80"}).stdout.splitlines()[2]
    assert "description" in [c.strip() for c in header.split("┃")[1:-1]]  # with the built-in ids, 80 columns keep it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--bogus"], "No such option: --bogus"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["info"], "Missing argument"),
        (["list", "--tag"], "requires an argument"),
    ],
)
def test_usage_errors_exit_2_with_clicks_message(args, message):
    out = run(*args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Error: " in out.stderr and message in out.stderr  # click's own wording
    assert "NoSuchOption" not in out.stderr and "Traceback" not in out.stderr


def _interrupt(args: list[str], ready) -> subprocess.CompletedProcess:
    """Start the CLI, wait until `ready(stdout_so_far)` is true, send SIGINT, and collect the result."""
    import signal
    import time

    # A job started in the background by a non-interactive shell (CI runners, nohup) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: give the child a terminal's default.
    proc = subprocess.Popen([sys.executable, "-m", "openenvs", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    deadline = time.monotonic() + 120
    while not ready(seen):
        assert proc.poll() is None and time.monotonic() < deadline, (seen, proc.stderr.read() if proc.stderr else "")
        if "assistant>" in ready.__doc__:
            seen += proc.stdout.read(1)
        else:
            time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, seen + out, err)


def test_ctrl_c_at_a_prompt_exits_130():
    def ready(seen):
        """assistant>"""
        return "assistant>" in seen

    out = _interrupt(["play", "math/arithmetic-v1"], ready)
    assert out.returncode == 130, out.stderr
    assert "Traceback" not in out.stderr and "interrupted" in out.stderr


def test_ctrl_c_in_a_running_command_exits_130(tmp_path):
    started = tmp_path / "started"
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "slow.py").write_text(
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(120)\n"
    )

    def ready(seen):
        """file"""
        return started.exists()

    out = _interrupt(["bench", "--dir", str(tmp_path / "benchmarks")], ready)
    assert out.returncode == 130, out.stderr
    assert "Traceback" not in out.stderr


def test_bench_runs_benchmarks_and_prints_their_ratio_lines(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "fast.py").write_text(
        "print('setting up the peer')\nprint('step: ours 1.0 us, peer 2.0 us, ratio ours/peer 0.50x (goal <= 1x)')\n"
    )
    (folder / "broken.py").write_text("import sys\nprint('ratio 2.00x')\nsys.exit('boom: the baseline is missing')\n")
    listed = run("bench", "--dir", str(folder), "--list")
    assert listed.returncode == 0 and listed.stdout.split() == ["broken", "fast"]
    out = run("bench", "--dir", str(folder), "fast")
    assert out.returncode == 0, out.stderr
    assert "ratio ours/peer 0.50x (goal <= 1x)" in out.stdout and "setting up the peer" not in out.stdout
    assert "setting up the peer" in run("bench", "--dir", str(folder), "fast", "--full").stdout
    failed = run("bench", "--dir", str(folder))
    assert failed.returncode == 1 and "boom: the baseline is missing" in failed.stderr
    assert "failed: broken" in failed.stderr and "0.50x" in failed.stdout  # the others still ran
    unknown = run("bench", "--dir", str(folder), "nope")
    assert unknown.returncode == 1 and "Available: broken, fast" in unknown.stderr


def test_bench_lists_the_repos_benchmarks():
    out = run("bench", "--list", cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0 and {"core", "sandbox", "tools"} <= set(out.stdout.split())


def test_every_command_module_exists_and_a_missing_one_is_an_error(monkeypatch, capsys):
    import importlib

    from openenvs.cli import _main

    for name in _main.COMMAND_MODULES:
        assert hasattr(importlib.import_module(name), "register"), name
    monkeypatch.setattr(_main, "COMMAND_MODULES", [*_main.COMMAND_MODULES, "openenvs.cli._no_such_module"])
    with pytest.raises(SystemExit) as exc:
        _main.main(["list", "--json"])
    assert exc.value.code == 1
    assert "openenvs.cli._no_such_module" in capsys.readouterr().err


def test_new_package_installs_in_a_fresh_venv_lists_checks_and_passes_its_tests(tmp_path):
    """`openenvs new NAME --package DIR`, then `pip install -e DIR` into a new venv: listed, checked, tested."""
    import venv

    pkg = tmp_path / "word-flip"
    out = run("new", "word_flip", "--namespace", "demo", "--license", "Apache-2.0", "--package", str(pkg))
    assert out.returncode == 0, out.stderr
    assert 'license = "Apache-2.0"' in (pkg / "pyproject.toml").read_text()
    assert '[project.entry-points."openenvs.environments"]' in (pkg / "pyproject.toml").read_text()
    # A fresh venv without pip (fast); openenvs and its dependencies come from this test's own sys.path,
    # the scaffolded package only from the editable install into the new venv.
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = str(fresh / "bin" / "python")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "COLUMNS": "200"}
    env.pop("OPENENVS_REGISTRY", None)
    before = subprocess.run([python, "-m", "openenvs", "list", "--json", "--namespace", "demo"], capture_output=True,
                            text=True, env=env, timeout=300)
    assert before.returncode == 0 and json.loads(before.stdout) == [], before.stderr  # not installed yet
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-e", str(pkg)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run([python, "-m", "openenvs", "list", "--namespace", "demo"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert listed.returncode == 0 and "demo/word-flip-v1" in listed.stdout, listed.stderr
    check = subprocess.run([python, "-m", "openenvs", "check", "demo/word-flip-v1"], capture_output=True, text=True,
                           env=env, timeout=300, cwd=tmp_path)
    assert check.returncode == 0 and "1/1 passed" in check.stdout, check.stdout + check.stderr
    tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], capture_output=True, text=True,
                           env=env, timeout=300, cwd=pkg)
    assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout[-2000:] + tests.stderr[-2000:]
    again = run("new", "word_flip", "--package", str(pkg))
    assert again.returncode == 1 and "not empty" in again.stderr
