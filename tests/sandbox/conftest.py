from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from _require import require
from openenvs.sandbox import Sandbox

SECRET_ENV = "OPENENVS_TEST_PARENT_SECRET"
SECRET_VALUE = "parent-secret-6f1c2"


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The Docker engine is up and the sandbox image built (once per session); the image name.

    Other test folders get the same with ``require("docker")`` from ``tests/_require.py``, or
    ``openenvs.sandbox.docker_engine.ensure_docker()``.
    """
    from openenvs.sandbox.docker_engine import sandbox_image

    require("docker")
    return sandbox_image()


BACKENDS = [
    pytest.param(
        "local", id="local", marks=pytest.mark.skipif(sys.platform != "linux", reason="local isolation needs Linux")
    ),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


@pytest.fixture(scope="session", params=BACKENDS)
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """One sandbox per backend, started after a secret is put in this process's environment."""
    if request.param == "docker":
        require("docker")
    os.environ[SECRET_ENV] = SECRET_VALUE
    if request.param == "local":
        require("local-sandbox")
    sb = Sandbox(backend=request.param, workers=2, timeout=5.0, memory_mb=256, max_output_bytes=1 << 20)
    sb.run("pass")
    yield sb
    sb.close()


@pytest.fixture(scope="session")
def parent_secret() -> tuple[str, str]:
    """The (name, value) of the secret put in this process's environment before the sandbox starts."""
    return SECRET_ENV, SECRET_VALUE
