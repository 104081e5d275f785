"""Start `openenvs serve` under a given interpreter (a side venv's, or this one) on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest


@contextmanager
def serving(python: str, args: Sequence[str], *, env: dict, what: str, attempts: int = 600) -> Iterator[str]:
    """Run ``python -m openenvs serve ARGS --port P``; yield its URL once /envs answers; stop it after.

    `what` names the server in the failure message when it exits before answering; it gets
    `attempts` tries 0.1 s apart.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [python, "-m", "openenvs", "serve", *args, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(attempts):
            try:
                urllib.request.urlopen(url + "/envs", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"the {what} server exited: {proc.stderr.read()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
