"""The Docker backend: one throw-away container per run, through the docker SDK.

Each container has no network, a read-only root file system, a tmpfs work dir, memory and
process limits, every capability dropped and ``no-new-privileges``. A small bootstrap script
inside the container reads the request from stdin, runs the code with a wall-clock limit and an
output cap, and prints a JSON report as its last line.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any

from .._errors import MissingDependency, SandboxError
from ._types import ExecRequest, ExecResult, Layer

__all__ = ["DEFAULT_IMAGE", "DockerBackend", "docker_status"]

logger = logging.getLogger(__name__)

DEFAULT_IMAGE = "python:3.11-slim"

_BOOTSTRAP = r"""
import json, os, subprocess, sys, threading, time
req = json.loads(sys.stdin.buffer.read())
os.chdir(os.environ.get("OPENENVS_WORKDIR", "/work"))
for name, data in req["files"].items():
    path = os.path.normpath(name)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode("latin-1"))
with open("main.py", "w") as f:
    f.write(req["code"])
cap = req["max_output_bytes"]
start = time.perf_counter()
p = subprocess.Popen([sys.executable, "-I", "main.py", *req["argv"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, start_new_session=True)
out = {"stdout": bytearray(), "stderr": bytearray(), "cut": False}
def pump(stream, key):
    while chunk := stream.read(65536):
        if len(out[key]) < cap:
            out[key] += chunk[: cap - len(out[key])]
        else:
            out["cut"] = True
            os.killpg(p.pid, 9)
threads = [threading.Thread(target=pump, args=(p.stdout, "stdout")), threading.Thread(target=pump, args=(p.stderr, "stderr"))]
for t in threads:
    t.start()
try:
    p.stdin.write(req["stdin"].encode())
    p.stdin.close()
except OSError:
    pass
timed_out = False
try:
    p.wait(req["timeout"])
except subprocess.TimeoutExpired:
    timed_out = True
try:
    os.killpg(p.pid, 9)
except OSError:
    pass
p.wait()
for t in threads:
    t.join(2)
files = {}
for name in req["return_files"]:
    try:
        with open(os.path.normpath(name), "rb") as f:
            files[name] = f.read(cap).decode("latin-1")
    except OSError:
        pass
print("\n" + json.dumps({"exit_code": p.returncode, "timed_out": timed_out, "duration_s": time.perf_counter() - start,
                         "signal": -p.returncode if p.returncode < 0 else None, "output_truncated": out["cut"],
                         "stdout": out["stdout"].decode("utf-8", "replace"), "stderr": out["stderr"].decode("utf-8", "replace"),
                         "files": files}))
"""


def _client() -> Any:
    try:
        import docker
    except ImportError:
        raise MissingDependency("docker", "docker", "the Docker sandbox backend") from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker.errors.DockerException and connection errors
        raise SandboxError(
            f"No Docker engine is reachable ({type(exc).__name__}: {exc}). Start Docker (or set DOCKER_HOST), "
            "or use the local backend: backend='local'."
        ) from None
    return client


def docker_status() -> tuple[bool, str]:
    """Whether the Docker backend can run here, and why not."""
    try:
        client = _client()
    except (MissingDependency, SandboxError) as exc:
        return False, str(exc)
    version = client.version().get("Version", "?")
    return True, f"Docker engine {version} reachable"


class DockerBackend:
    """Run each program in a fresh container (no network, read-only root, limits).

    Args:
        image: Image with a Python 3 interpreter at ``python``; pulled on first use if missing.
        cpus: CPU share of each container (1.0 = one core).
    """

    name = "docker"

    def __init__(self, *, image: str = DEFAULT_IMAGE, cpus: float = 1.0) -> None:
        """Connect to the engine; raise `SandboxError` naming the fix when there is none."""
        self.client = _client()
        self.image = image
        self.cpus = cpus
        try:
            self.client.images.get(image)
        except Exception:  # docker.errors.ImageNotFound
            logger.info("pulling sandbox image %s", image)
            try:
                self.client.images.pull(image)
            except Exception as exc:  # docker.errors.APIError, no network
                raise SandboxError(
                    f"Docker image {image!r} is not present and could not be pulled ({exc}). "
                    f"Pull it first (`docker pull {image}`) or pass image= to an image that has `python`."
                ) from None

    def layers(self) -> list[Layer]:
        """The container's protections (all on by construction)."""
        return [
            Layer("container", True, f"fresh container from {self.image} per run, removed afterwards"),
            Layer("network", True, "network disabled"),
            Layer("read_only_root", True, "read-only root file system; tmpfs work dir"),
            Layer("limits", True, "memory, swap, pids and CPU limits; all capabilities dropped; no-new-privileges"),
        ]

    def execute(self, request: ExecRequest) -> ExecResult:
        """Run one request in a new container; failures become failed results."""
        start = time.perf_counter()
        payload = json.dumps(request.to_wire()).encode()
        container = None
        try:
            container = self.client.containers.create(
                self.image,
                command=["python", "-I", "-c", _BOOTSTRAP],
                stdin_open=True,
                stdin_once=True,
                network_disabled=True,
                read_only=True,
                mem_limit=f"{request.memory_mb}m",
                memswap_limit=f"{request.memory_mb}m",
                pids_limit=request.max_processes,
                nano_cpus=int(self.cpus * 1e9),
                tmpfs={"/work": "size=256m,mode=1777", "/tmp": "size=64m,mode=1777"},
                working_dir="/work",
                user="65534:65534",
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                environment={"HOME": "/work", "PYTHONDONTWRITEBYTECODE": "1"},
            )
            sock = container.attach_socket(params={"stdin": 1, "stream": 1})
            container.start()
            raw = getattr(sock, "_sock", sock)
            raw.sendall(payload)
            try:
                raw.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            raw.close()
            try:
                container.wait(timeout=request.timeout + 30)
            except Exception:  # requests' ReadTimeout: the bootstrap itself hung
                container.kill()
                return ExecResult.failure("the container did not finish in time", backend=self.name, timed_out=True)
            logs = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        except Exception as exc:  # docker.errors.APIError and connection errors
            return ExecResult.failure(f"Docker error: {exc}", backend=self.name, duration_s=time.perf_counter() - start)
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        last = logs.strip().rsplit("\n", 1)[-1] if logs.strip() else ""
        try:
            report = json.loads(last)
        except json.JSONDecodeError:
            return ExecResult.failure(f"the container sent no report (output: {logs[-500:]!r})", backend=self.name)
        return ExecResult(
            stdout=report["stdout"],
            stderr=report["stderr"],
            exit_code=int(report["exit_code"]),
            timed_out=bool(report["timed_out"]),
            duration_s=float(report["duration_s"]),
            signal=report.get("signal"),
            output_truncated=bool(report.get("output_truncated")),
            backend=self.name,
            files={k: v.encode("latin-1") for k, v in report.get("files", {}).items()},
        )

    def close(self) -> None:
        """Close the connection to the engine."""
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass
