"""The engine helper other tests and `openenvs doctor --build-image` use (real engine, real image)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from openenvs.sandbox import docker_engine

pytestmark = pytest.mark.docker


def test_engine_and_image_are_there_and_a_second_call_is_cheap(docker_image: str) -> None:
    assert docker_engine.engine_version()
    assert docker_engine.image_exists(docker_image)
    assert not docker_engine.image_exists("openenvs-no-such-image:0")
    start = time.monotonic()
    assert docker_engine.ensure_docker() == docker_image
    assert "already running" in docker_engine.start_engine()
    assert time.monotonic() - start < 5, "ensure_docker must not rebuild or restart what is there"


def test_default_image_is_the_recipe_build(docker_image: str) -> None:
    if docker_image != docker_engine.DEFAULT_IMAGE:
        pytest.skip(f"{docker_engine.IMAGE_ENV} points at another image")
    out = subprocess.run(
        ["docker", "image", "inspect", docker_image], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    config = json.loads(out)[0]["Config"]
    assert config["Labels"]["org.openenvs.recipe"] == docker_engine.IMAGE_RECIPE
    python = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", docker_image, "python3", "-c", "import json, sqlite3; print(1)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert python.stdout == "1\n", python.stderr


def test_the_command_line_says_what_it_did(docker_image: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openenvs.sandbox.docker_engine", "--image", docker_image],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Docker engine" in done.stdout and f"image {docker_image} present" in done.stdout


def test_mirror_comes_from_apt_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENENVS_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert docker_engine._debian_source()[0] == "http://mirror.example/debian"
    monkeypatch.delenv("OPENENVS_DEBIAN_MIRROR")
    mirror, suite = docker_engine._debian_source()
    assert mirror.startswith("http") and "security" not in mirror and suite.isalpha()
