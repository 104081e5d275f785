"""The sandbox API: results, limits, inputs, the isolation gate, capabilities and `openenvs doctor`."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from _require import require, require_module
from openenvs import ConfigError, SandboxError
from openenvs.sandbox import ExecResult, Sandbox, capabilities, default_sandbox, run

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the local sandbox needs Linux")


@pytest.fixture(scope="module")
def sb() -> Sandbox:
    box = Sandbox(backend="local", workers=2, timeout=5)
    yield box
    box.close()


def test_run_returns_output_exit_code_and_timing() -> None:
    r = run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert (r.stdout, r.stderr, r.exit_code, r.timed_out) == ("out\n", "err\n", 3, False)
    assert r.status == "error" and not r.ok and r.backend == "local" and r.duration_s > 0


def test_stdin_files_argv_and_return_files(sb: Sandbox) -> None:
    code = (
        "import sys, json\nname = input()\ndata = open('data/in.txt').read()\n"
        "open('out.json', 'w').write(json.dumps([name, data, sys.argv[1:]]))\nprint('done')"
    )
    r = sb.run(
        code,
        stdin="ada\n",
        files={"data/in.txt": "payload", "blob.bin": b"\x00\x01"},
        argv=["-x", "1"],
        return_files=["out.json", "blob.bin"],
    )
    assert r.ok, r.stderr
    assert json.loads(r.files["out.json"]) == ["ada", "payload", ["-x", "1"]]
    assert r.files["blob.bin"] == b"\x00\x01"


def test_each_run_starts_clean(sb: Sandbox) -> None:
    sb.run("open('left.txt', 'w').write('x')\nimport builtins\nbuiltins.LEAK = 1")
    r = sb.run("import os, builtins\nprint(os.listdir('.'), hasattr(builtins, 'LEAK'))")
    assert r.stdout == "[] False\n"


def test_exceptions_and_syntax_errors_are_failed_results(sb: Sandbox) -> None:
    r = sb.run("raise ValueError('boom')")
    assert r.exit_code == 1 and "ValueError: boom" in r.stderr
    r = sb.run("def f(:\n  pass")
    assert r.exit_code == 1 and "SyntaxError" in r.stderr
    r = sb.run("import os\nos.abort()")
    assert r.status == "killed" and r.signal == 6


def test_unicode_and_binary_output(sb: Sandbox) -> None:
    r = sb.run("import sys\nprint('héllo ✓')\nsys.stdout.flush()\nsys.stdout.buffer.write(b'\\xff\\n')")
    assert r.stdout.startswith("héllo ✓\n") and "\ufffd" in r.stdout


def test_third_party_packages_import(sb: Sandbox) -> None:
    r = sb.run("import numpy\nprint(int(numpy.arange(5).sum()))", memory_mb=1024)
    assert r.ok and r.stdout == "10\n", r.stderr


def test_parallel_runs_and_async(sb: Sandbox) -> None:
    results = sb.run_many([sb.request(f"print({i} * {i})") for i in range(20)])
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(20)]

    async def many() -> list[ExecResult]:
        return await asyncio.gather(*(sb.arun(f"print({i})") for i in range(6)))

    assert [r.stdout for r in asyncio.run(many())] == [f"{i}\n" for i in range(6)]


def test_bad_input_names_the_fix(sb: Sandbox) -> None:
    with pytest.raises(ConfigError, match="relative path"):
        sb.run("pass", files={"../escape.txt": "x"})
    with pytest.raises(ConfigError, match="relative path"):
        sb.run("pass", files={"/etc/passwd": "x"})
    with pytest.raises(ConfigError, match="timeout"):
        sb.run("pass", timeout=0)
    with pytest.raises(ConfigError, match="str of Python source"):
        sb.run(b"print(1)")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Unknown sandbox backend"):
        Sandbox(backend="chroot")  # type: ignore[arg-type]


def test_auto_never_runs_unisolated_without_opt_in() -> None:
    weak = ("network_namespace", "seccomp")
    with pytest.raises(SandboxError, match="allow_unisolated"):
        Sandbox(backend="local", disable=weak).run("print(1)")
    with Sandbox(backend="local", disable=weak, allow_unisolated=True, workers=1) as box:
        r = box.run("print(1)")
        assert r.ok
        off = {layer.name for layer in box.layers() if not layer.active}
        assert set(weak) <= off


def test_docker_backend_fails_clearly_without_engine(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    require_module("docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SandboxError, match="No Docker engine is reachable.*backend='local'"):
        Sandbox(backend="docker").run("print(1)")


@pytest.mark.docker
def test_docker_backend_names_the_fix_for_a_missing_image(docker_image: str) -> None:
    with pytest.raises(SandboxError, match="openenvs-no-such-image:0.*docker pull"):
        Sandbox(backend="docker", image="openenvs-no-such-image:0").run("print(1)")


@pytest.mark.docker
def test_docker_image_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, docker_image: str) -> None:
    from openenvs.sandbox.docker_engine import IMAGE_ENV

    image = docker_image
    monkeypatch.setenv(IMAGE_ENV, "openenvs-no-such-image:1")
    with pytest.raises(SandboxError, match="openenvs-no-such-image:1"):
        Sandbox(backend="docker").run("print(1)")
    monkeypatch.setenv(IMAGE_ENV, image)
    with Sandbox(backend="docker") as box:
        r = box.run("import sys\nprint(sys.version_info[0], input())", stdin="hi")
        assert r.ok and r.stdout == "3 hi\n" and r.backend == "docker", r
        assert box.backend.image == image  # type: ignore[attr-defined]


def test_capabilities_report_layers() -> None:
    caps = capabilities()
    names = {layer.name for layer in caps.local}
    assert {"network_namespace", "pid_namespace", "landlock", "seccomp", "rlimits"} <= names
    assert caps.auto_backend in {"local", "docker", None}
    if caps.auto_backend == "local":
        assert caps.missing == []


def test_default_sandbox_is_shared() -> None:
    assert default_sandbox() is default_sandbox()


def test_doctor_cli_json() -> None:
    from typer.testing import CliRunner

    from openenvs.cli._main import _load_commands, app

    _load_commands()
    result = CliRunner().invoke(app, ["doctor", "--json"])
    report = json.loads(result.stdout)
    assert {layer["name"] for layer in report["sandbox"]["layers"]} >= {"seccomp", "landlock"}
    assert result.exit_code == (0 if report["sandbox"]["auto_backend"] else 1)
    assert any(c["check"] == "bubblewrap" for c in report["checks"])


def test_worker_started_from_a_finished_thread_keeps_serving() -> None:
    import threading
    import time

    box = Sandbox(backend="local", workers=1)
    thread = threading.Thread(target=lambda: box.run("pass"))
    thread.start()
    thread.join()
    try:
        before = box.backend.worker_pids()  # type: ignore[attr-defined]
        time.sleep(0.3)
        assert box.run("print('still here')").stdout == "still here\n"
        assert box.backend.worker_pids() == before, "the worker died with the thread that started it"
    finally:
        box.close()


def test_closing_the_sandbox_ends_its_workers() -> None:
    import os
    import time

    box = Sandbox(backend="local", workers=2)
    box.run_many([box.request("pass") for _ in range(4)])
    pids = [outer for outer, _ in box.backend.worker_pids()]  # type: ignore[attr-defined]
    assert len(pids) == 2
    box.close()
    time.sleep(0.2)
    assert not any(
        os.path.exists(f"/proc/{pid}/stat") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2] for pid in pids
    )


def test_bwrap_launcher() -> None:
    """Bubblewrap makes the namespaces for unprivileged users; as root it is refused (direct is stronger)."""
    import os

    require("bwrap")
    if os.geteuid() == 0:
        with pytest.raises(SandboxError, match="launcher='direct'"):
            Sandbox(backend="local", launcher="bwrap").run("pass")
        return
    with Sandbox(backend="local", launcher="bwrap", workers=1) as box:
        assert box.backend.launcher == "bwrap"  # type: ignore[attr-defined]
        assert not box.run("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)").ok
        r = box.run("import os, time\nif os.fork() == 0:\n    time.sleep(30)\nprint('parent')")
        assert r.ok and r.duration_s < 5


def test_env_var_opts_the_shared_sandbox_into_unisolated(monkeypatch: pytest.MonkeyPatch) -> None:
    from openenvs.sandbox import _api

    monkeypatch.setenv("OPENENVS_ALLOW_UNISOLATED", "1")
    box = _api._default_sandbox("local", False)
    assert box.allow_unisolated is True
    monkeypatch.delenv("OPENENVS_ALLOW_UNISOLATED")
    assert _api._default_sandbox("local", False).allow_unisolated is False


def test_multiprocessing_works_and_shared_memory_is_emptied(sb: Sandbox) -> None:
    code = "import multiprocessing as mp\nwith mp.Pool(2) as pool:\n    print(pool.map(abs, [-1, -2, 3]))"
    assert sb.run(code, timeout=10).stdout == "[1, 2, 3]\n"
    box = Sandbox(backend="local", workers=1)
    try:
        assert box.run("open('/dev/shm/note', 'w').write('x')\nprint('ok')").stdout == "ok\n"
        assert box.run("import os\nprint(os.listdir('/dev/shm'))").stdout == "[]\n"
    finally:
        box.close()
