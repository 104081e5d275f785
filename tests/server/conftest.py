from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import _testenvs  # noqa: E402

_testenvs.register()


class Server:
    """A real `openenvs serve` process on 127.0.0.1 (the test envs registered too)."""

    def __init__(self, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Server:
        environ = {**os.environ, **(self.env or {}), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"openenvs-test-server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_serve_main.py"), *self.args, "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=environ,
        )
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server on {self.port} did not start: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def health(self) -> dict:
        import httpx

        return httpx.get(self.url + "/health", timeout=5).json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="session")
def server():
    """One shared server: builtin single-turn, tool, multi-turn and code envs, plus the test envs."""
    srv = Server(
        18201,
        "math/arithmetic-v1",
        "tools/calculator-v1",
        "code/python-tests-retry-v1",
        "code/python-tests-v1",
        "test/echo-v1",
        "test/echo-long-v1",
        "--workers",
        "2",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server():
    """Start servers with custom flags; they are stopped after the test."""
    started: list[Server] = []

    def start(port: int, *args: str, **kw) -> Server:
        srv = Server(port, *args, **kw).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop(signal.SIGKILL)
