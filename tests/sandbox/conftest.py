from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from openenvs.sandbox import Sandbox

SECRET_ENV = "OPENENVS_TEST_PARENT_SECRET"
SECRET_VALUE = "parent-secret-6f1c2"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, reason: str, setup_step: str) -> None:
    """Skip with `reason`, or fail under CI, where the repo's setup must have provided `what`."""
    if IN_CI:
        pytest.fail(f"{what} is unavailable under CI, but {setup_step} should provide it: {reason}")
    pytest.skip(f"{what} unavailable here: {reason}")


_DOCKER: dict[str, str | None] = {}


def docker_ready() -> str:
    """Start the Docker engine and build the sandbox image once per session; skip (fail in CI) if impossible.

    Returns the image name. Other test folders can use the same call:
    ``openenvs.sandbox.docker_engine.ensure_docker()``.
    """
    if "image" not in _DOCKER:
        from openenvs._errors import SandboxError
        from openenvs.sandbox._docker import docker_status
        from openenvs.sandbox.docker_engine import ensure_docker

        try:
            _DOCKER["image"], _DOCKER["error"] = ensure_docker(), None
            ok, detail = docker_status(_DOCKER["image"])
            if not ok:
                _DOCKER["error"] = detail
        except SandboxError as exc:
            _DOCKER["image"], _DOCKER["error"] = None, str(exc)
    if _DOCKER["error"]:
        unavailable(
            "The Docker backend", str(_DOCKER["error"]), "scripts/setup.d/30-docker.sh (docker.io, debootstrap)"
        )
    assert _DOCKER["image"] is not None
    return _DOCKER["image"]


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The Docker engine is up and the sandbox image built (once per session); the image name."""
    return docker_ready()


def _local_skip_reason() -> str | None:
    from openenvs.sandbox import capabilities

    caps = capabilities()
    if caps.local_error or caps.missing:
        return f"local sandbox cannot isolate code on this machine: {caps.local_error or '; '.join(caps.missing)}"
    return None


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
        docker_ready()
    os.environ[SECRET_ENV] = SECRET_VALUE
    if request.param == "local":
        reason = _local_skip_reason()
        if reason:
            pytest.skip(reason)
    sb = Sandbox(backend=request.param, workers=2, timeout=5.0, memory_mb=256, max_output_bytes=1 << 20)
    sb.run("pass")
    yield sb
    sb.close()


@pytest.fixture(scope="session")
def parent_secret() -> tuple[str, str]:
    """The (name, value) of the secret put in this process's environment before the sandbox starts."""
    return SECRET_ENV, SECRET_VALUE
