r"""Start a Docker engine and build the sandbox's base image, without any image registry.

The Docker backend (and any test or tool that needs containers) calls two functions:

* `start_engine` makes sure a Docker engine answers: if none does and this process is root
  with ``dockerd`` installed, it starts ``dockerd --iptables=false --bridge=none`` in the
  background (its own session, log in ``/var/log/openenvs-dockerd.log``) and waits for the
  socket. The engine is left running for later callers.
* `build_image` makes the base image `DEFAULT_IMAGE` once: ``debootstrap --variant=minbase``
  of the host's Debian release with Python 3, then ``tar | docker import``. It needs root, the
  ``debootstrap`` package and the Debian mirror from apt's sources (``OPENENVS_DEBIAN_MIRROR``
  overrides it); about a minute.

`ensure_docker` does both. From a shell::

    python -m openenvs.sandbox.docker_engine            # start the engine, build the image if absent
    python -m openenvs.sandbox.docker_engine --rebuild  # build the image again
    openenvs doctor --build-image                       # the same, then the sandbox report

Both steps hold a file lock, so parallel test sessions start one engine and build one image.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from .._errors import SandboxError

__all__ = [
    "DEFAULT_IMAGE",
    "IMAGE_ENV",
    "IMAGE_RECIPE",
    "build_image",
    "engine_version",
    "ensure_docker",
    "image_exists",
    "sandbox_image",
    "start_engine",
]

logger = logging.getLogger(__name__)

IMAGE_RECIPE = "1"
"""Version of the base-image recipe below; bump it when the recipe changes (the tag changes with it)."""
DEFAULT_IMAGE = f"openenvs-sandbox:{IMAGE_RECIPE}"
"""The image the Docker backend uses unless told otherwise: Debian minbase with Python 3."""
IMAGE_ENV = "OPENENVS_SANDBOX_IMAGE"
"""Environment variable naming another image for the Docker backend (it must have ``python3``)."""

_PACKAGES = ("python3",)
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt", "var/lib/apt/lists")
_LOG = Path("/var/log/openenvs-dockerd.log")
_LOCK_DIR = Path(tempfile.gettempdir())


def sandbox_image() -> str:
    """The image the Docker backend uses: ``$OPENENVS_SANDBOX_IMAGE``, else `DEFAULT_IMAGE`."""
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


# -- talking to the engine (plain HTTP over its Unix socket; no SDK needed) ----------------------
def _socket_path() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host[len("unix://") :] if host.startswith("unix://") else None


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


def _get(path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    sock = _socket_path()
    if sock is None:
        raise SandboxError(
            f"DOCKER_HOST={os.environ.get('DOCKER_HOST')!r} is not a unix:// socket; openenvs' engine helper only "
            "starts and probes local engines. Unset DOCKER_HOST or start that engine yourself."
        )
    conn = _UnixHTTP(sock, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def engine_version() -> str | None:
    """The version of the Docker engine that answers on the socket, or None when none does."""
    try:
        status, body = _get("/version", timeout=3.0)
    except (OSError, http.client.HTTPException, SandboxError):
        return None
    if status != 200:
        return None
    return str(json.loads(body).get("Version", "?"))


def image_exists(name: str) -> bool:
    """Whether the engine has image `name` (False when no engine answers)."""
    try:
        status, _ = _get(f"/images/{urllib.parse.quote(name, safe='')}/json")
    except (OSError, http.client.HTTPException, SandboxError):
        return False
    return status == 200


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    path = _LOCK_DIR / f"openenvs-{name}.lock"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# -- the engine ------------------------------------------------------------------------------------
def start_engine(*, timeout: float = 60.0) -> str:
    """Make sure a Docker engine answers, starting ``dockerd`` in the background if needed.

    Returns:
        A one-line description: the engine version and whether this call started it.

    Raises:
        SandboxError: No engine answers and none can be started here (the message says why).
    """
    version = engine_version()
    if version:
        return f"Docker engine {version} (already running)"
    with _locked("dockerd"):
        version = engine_version()
        if version:
            return f"Docker engine {version} (started by another process)"
        dockerd = shutil.which("dockerd") or next(
            (p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd") if os.access(p, os.X_OK)), None
        )
        if dockerd is None:
            raise SandboxError(
                "No Docker engine answers and `dockerd` is not installed. Install it (scripts/setup.d/30-docker.sh, "
                "or `apt-get install docker.io`), or start Docker yourself."
            )
        if os.geteuid() != 0:
            raise SandboxError(
                "No Docker engine answers, and starting `dockerd` needs root. Start Docker as root "
                "(`sudo dockerd --iptables=false --bridge=none &` or your service manager), then retry."
            )
        if _socket_path() is None:
            raise SandboxError(
                "DOCKER_HOST points at a remote engine that does not answer; start it or unset DOCKER_HOST."
            )
        log = _LOG if os.access(_LOG.parent, os.W_OK) else Path(tempfile.gettempdir()) / _LOG.name
        cmd = [dockerd, "--iptables=false", "--bridge=none", "--log-level=warn"]
        logger.info("starting the Docker engine: %s (log: %s)", " ".join(cmd), log)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            version = engine_version()
            if version:
                return f"Docker engine {version} (started now, pid {proc.pid}, log {log})"
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        if proc.poll() is None:
            proc.kill()
        raise SandboxError(f"`dockerd` did not come up within {timeout:.0f} s (exit {proc.poll()}). Log {log}:\n{tail}")


# -- the base image --------------------------------------------------------------------------------
def _debian_source() -> tuple[str, str]:
    """(mirror URL, suite) for debootstrap: from OPENENVS_DEBIAN_MIRROR / apt's sources / os-release."""
    suite = "bookworm"
    try:
        found = re.search(r"^VERSION_CODENAME=(\w+)", Path("/etc/os-release").read_text(), re.M)
        if found and Path("/etc/debian_version").exists():
            suite = found.group(1)
    except OSError:
        pass
    mirror = os.environ.get("OPENENVS_DEBIAN_MIRROR")
    if mirror:
        return mirror, suite
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            texts.append(path.read_text())
    for text in texts:
        for url in re.findall(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            if "security" not in url and "debian" in url:
                return url.rstrip("/"), suite
    return "http://deb.debian.org/debian", suite


def build_image(name: str = DEFAULT_IMAGE, *, rebuild: bool = False) -> str:
    """Build the sandbox base image `name` (Debian minbase + Python 3) unless the engine has it.

    Needs a running engine (see `start_engine`), root, ``debootstrap`` and a reachable Debian
    mirror. Takes about a minute; parallel callers wait for one build.

    Returns:
        What happened, in one line.

    Raises:
        SandboxError: The image could not be built (the message says why and what to do).
    """
    if not rebuild and image_exists(name):
        return f"image {name} present"
    with _locked("sandbox-image"):
        if not rebuild and image_exists(name):
            return f"image {name} present (built by another process)"
        if engine_version() is None:
            raise SandboxError(
                "No Docker engine answers; start one first (openenvs.sandbox.docker_engine.start_engine)."
            )
        debootstrap = shutil.which("debootstrap") or (
            "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None
        )
        if debootstrap is None or os.geteuid() != 0:
            raise SandboxError(
                f"Building {name} needs root and `debootstrap` (scripts/setup.d/30-docker.sh installs it). "
                f"Or point {IMAGE_ENV} at any image with `python3`, e.g. `docker pull python:3.11-slim`."
            )
        docker = shutil.which("docker")
        if docker is None:
            raise SandboxError("The `docker` command-line client is missing; install docker.io (or docker-ce-cli).")
        mirror, suite = _debian_source()
        start = time.monotonic()
        root = Path(tempfile.mkdtemp(prefix="openenvs-rootfs-", dir="/var/tmp"))
        try:
            cmd = [debootstrap, "--variant=minbase", f"--include={','.join(_PACKAGES)}", suite, str(root), mirror]
            logger.info("building %s: %s", name, " ".join(cmd))
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise SandboxError(
                    f"debootstrap failed (exit {done.returncode}) for {suite} from {mirror}; set "
                    f"OPENENVS_DEBIAN_MIRROR to a reachable Debian mirror. Output:\n{(done.stdout + done.stderr)[-1500:]}"
                )
            for sub in _TRIM:
                shutil.rmtree(root / sub, ignore_errors=True)
            changes = [
                "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8",
                f"LABEL org.openenvs.recipe={IMAGE_RECIPE}",
                'CMD ["python3"]',
            ]
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            args = [docker, "import", *(x for c in changes for x in ("--change", c)), "-", name]
            imported = subprocess.run(args, stdin=tar.stdout, capture_output=True, text=True, timeout=600)
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
            if imported.returncode != 0 or tar.returncode != 0:
                raise SandboxError(f"`docker import` of {name} failed: {imported.stderr.strip()[-1000:]}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return f"image {name} built from Debian {suite} ({mirror}) in {time.monotonic() - start:.0f} s"


def ensure_docker(image: str | None = None) -> str:
    """Start the engine if needed and build the base image if it is absent; returns `image`.

    This is the one call a test session fixture needs (it is cheap when both are there).
    A custom image (``image=`` or ``$OPENENVS_SANDBOX_IMAGE``) is never built, only checked.
    """
    image = image or sandbox_image()
    logger.info("%s", start_engine())
    if image == DEFAULT_IMAGE:
        logger.info("%s", build_image(image))
    elif not image_exists(image):
        raise SandboxError(f"Docker image {image!r} is not present; build or pull it, or unset {IMAGE_ENV}.")
    return image


def main(argv: list[str] | None = None) -> int:
    """``python -m openenvs.sandbox.docker_engine [--rebuild] [--image NAME]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Start a Docker engine and build the openenvs sandbox image.")
    parser.add_argument("--image", default=None, help=f"image name (default: ${IMAGE_ENV} or {DEFAULT_IMAGE})")
    parser.add_argument("--rebuild", action="store_true", help="build the image again even if present")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(start_engine() + "\n")
        image = args.image or sandbox_image()
        sys.stdout.write(build_image(image, rebuild=args.rebuild) + "\n")
    except SandboxError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
