"""The Docker backend: one throw-away container per run, through the docker SDK.

Each container has no network (``--network none``), a read-only root file system, a size-capped
tmpfs work dir (the only writable place besides a small ``/dev/shm``), memory (swap included),
process and CPU limits for the whole container, every capability dropped, ``no-new-privileges``
and an unprivileged uid. A small bootstrap, PID 1 of the container, reads the request from stdin,
runs the code in a child interpreter with a wall-clock limit and an output cap, kills every
process the run left, and writes a JSON report (behind a per-run nonce) as its last line. The
bootstrap makes itself non-dumpable, so the program (same uid) cannot ptrace it or open its
``/proc`` entries to forge that report. The host kills the container when the report does not
come in time, and removes it in every case.

The image is configurable (``image=``, or ``$OPENENVS_SANDBOX_IMAGE``); the default,
`openenvs.sandbox.docker_engine.DEFAULT_IMAGE`, is built locally without a registry by
``openenvs doctor --build-image`` (see `openenvs.sandbox.docker_engine`).
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from .._errors import MissingDependency, SandboxError
from ._types import ExecRequest, ExecResult, Layer
from .docker_engine import DEFAULT_IMAGE, IMAGE_ENV, sandbox_image

if TYPE_CHECKING:
    from ._docker_session import DockerSession

__all__ = ["DEFAULT_IMAGE", "DockerBackend", "docker_status"]

logger = logging.getLogger(__name__)

_RUN_UID = 65534
_BOOTSTRAP_MB = 32  # the bootstrap interpreter's own memory, added to the container's limit
_BOOTSTRAP_PIDS = 3  # the bootstrap and its two output pumps
_SHM_MB = 16
_GRACE_S = 20.0
_LABEL = "org.openenvs.sandbox"

# The program's own interpreter: reads the code from an inherited pipe (nothing lands in the work
# dir), sets its limits, and runs it as __main__ the way the local backend does.
_LAUNCHER = r"""
import os, resource, sys, types, builtins
fd, fsize = int(sys.argv[1]), int(sys.argv[2])
with os.fdopen(fd, "rb") as f:
    src = f.read()
try:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")
except OSError:
    pass
for which, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_NOFILE, 256)):
    resource.setrlimit(which, (value, value))
del fd, fsize, f, which, value
sys.argv = ["main.py", *sys.argv[3:]]
sys.path.insert(0, "/work")
main = types.ModuleType("__main__")
main.__dict__.update({"__builtins__": builtins, "__file__": "/work/main.py"})
sys.modules["__main__"] = main
exec(compile(src, "main.py", "exec"), main.__dict__)
"""

# PID 1 of the container. Stdlib only; runs as the unprivileged uid with no capabilities.
_BOOTSTRAP = r"""
import ctypes, json, os, resource, signal, subprocess, sys, threading, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0: the program cannot ptrace us or open /proc/1/fd
req = json.loads(sys.stdin.buffer.read())
nonce, launcher = req.pop("nonce"), req.pop("launcher")
os.chdir("/work")
for name, data in req["files"].items():
    path = os.path.normpath(name)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode("latin-1"))
cap = req["max_output_bytes"]
env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "HOME": "/work",
       "TMPDIR": "/work", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
r, w = os.pipe()
start = time.perf_counter()
p = subprocess.Popen([sys.executable, "-I", "-c", launcher, str(r), str(cap), *req["argv"]], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(r,), env=env, start_new_session=True)
os.close(r)
out = {"stdout": bytearray(), "stderr": bytearray(), "cut": False}
def pump(stream, key):
    while chunk := stream.read1(65536):
        room = cap - len(out[key])
        out[key] += chunk[:max(room, 0)]
        if len(chunk) > room:
            out["cut"] = True
            try:
                os.killpg(p.pid, 9)
            except OSError:
                pass
def feed(fd_or_stream, data):
    try:
        if isinstance(fd_or_stream, int):
            with os.fdopen(fd_or_stream, "wb") as f:
                f.write(data)
        else:
            fd_or_stream.write(data)
            fd_or_stream.close()
    except OSError:
        pass
threads = [threading.Thread(target=pump, args=(p.stdout, "stdout"), daemon=True),
           threading.Thread(target=pump, args=(p.stderr, "stderr"), daemon=True),
           threading.Thread(target=feed, args=(w, req["code"].encode()), daemon=True),
           threading.Thread(target=feed, args=(p.stdin, req["stdin"].encode()), daemon=True)]
for t in threads:
    t.start()
timed_out = False
try:
    p.wait(req["timeout"])
except subprocess.TimeoutExpired:
    timed_out = True
duration = time.perf_counter() - start
for _ in range(1000):  # PID 1 of the container: kill(-1) reaches every other process, double-forked ones too
    try:
        os.killpg(p.pid, 9)
    except OSError:
        pass
    try:
        os.kill(-1, 9)
    except ProcessLookupError:
        break
    time.sleep(0.001)
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
p.wait()
for t in threads[:2]:
    t.join(2)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
oom = 0
try:
    with open("/sys/fs/cgroup/memory/memory.oom_control") as f:
        oom = int(dict(line.split() for line in f).get("oom_kill", 0))
except (OSError, ValueError):
    try:
        with open("/sys/fs/cgroup/memory.events") as f:
            oom = int(dict(line.split() for line in f).get("oom_kill", 0))
    except (OSError, ValueError):
        pass
files = {}
for name in req["return_files"]:
    try:
        with open(os.path.normpath(name), "rb") as f:
            files[name] = f.read(cap).decode("latin-1")
    except OSError:
        pass
code = p.returncode
sys.stdout.write("\n" + nonce + json.dumps({
    "exit_code": code, "timed_out": timed_out, "duration_s": duration, "signal": -code if code < 0 else None,
    "output_truncated": out["cut"], "stdout": out["stdout"].decode("utf-8", "replace"),
    "stderr": out["stderr"].decode("utf-8", "replace"), "files": files, "oom_kills": oom,
    "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_kb": usage.ru_maxrss}) + "\n")
sys.stdout.flush()
"""


def _sdk() -> Any:
    try:
        import docker
    except ImportError:
        raise MissingDependency("docker", "docker", "the Docker sandbox backend") from None
    return docker


def _client() -> Any:
    docker = _sdk()
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker.errors.DockerException and connection errors
        raise SandboxError(
            f"No Docker engine is reachable ({type(exc).__name__}: {exc}). Start one "
            "(`python -m openenvs.sandbox.docker_engine` starts dockerd as root and builds the image), set "
            "DOCKER_HOST, or use the local backend: backend='local'."
        ) from None
    return client


def docker_status(image: str | None = None) -> tuple[bool, str]:
    """Whether the Docker backend can run here (engine reachable and image present), and why not."""
    image = image or sandbox_image()
    try:
        client = _client()
    except (MissingDependency, SandboxError) as exc:
        return False, str(exc)
    try:
        version = client.version().get("Version", "?")
        try:
            client.images.get(image)
        except Exception:  # docker.errors.ImageNotFound
            return False, f"Docker engine {version} reachable, but image {image} is missing: {_image_fix(image)}"
        return True, f"Docker engine {version} reachable, image {image}"
    finally:
        client.close()


def _image_fix(image: str) -> str:
    if image == DEFAULT_IMAGE:
        return "build it with `openenvs doctor --build-image` (or `python -m openenvs.sandbox.docker_engine`)"
    return f"pull or build it (`docker pull {image}`), or unset {IMAGE_ENV} to use {DEFAULT_IMAGE}"


def _demux(data: bytes) -> tuple[bytes, bytes]:
    """Split Docker's multiplexed attach stream (8-byte frame headers) into stdout and stderr."""
    out, err, i = bytearray(), bytearray(), 0
    while i + 8 <= len(data):
        kind, size = data[i], int.from_bytes(data[i + 4 : i + 8], "big")
        (err if kind == 2 else out).extend(data[i + 8 : i + 8 + size])
        i += 8 + size
    return bytes(out), bytes(err)


class DockerBackend:
    """Run each program in a fresh container (no network, read-only root, whole-container limits).

    Args:
        image: Image with ``python3`` (default: ``$OPENENVS_SANDBOX_IMAGE`` or `DEFAULT_IMAGE`).
        cpus: CPU share of each container (1.0 = one core).
    """

    name = "docker"

    def __init__(self, *, image: str | None = None, cpus: float = 1.0) -> None:
        """Connect to the engine; raise `SandboxError` naming the fix when there is none or the image is missing."""
        self.client = _client()
        self.image = image or sandbox_image()
        self.cpus = cpus
        self._label = uuid.uuid4().hex
        self._live: set[str] = set()
        self._lock = threading.Lock()
        try:
            self.client.images.get(self.image)
        except Exception:  # docker.errors.ImageNotFound
            self.client.close()
            raise SandboxError(f"Docker image {self.image!r} is not present: {_image_fix(self.image)}.") from None

    def layers(self) -> list[Layer]:
        """The container's protections (all on by construction)."""
        return [
            Layer("container", True, f"fresh container from {self.image} per run, removed afterwards"),
            Layer("network", True, "--network none: only a loopback interface"),
            Layer("read_only_root", True, "read-only root file system; the work dir is a size-capped tmpfs"),
            Layer(
                "unprivileged_uid", True, f"code runs as uid {_RUN_UID}, all capabilities dropped, no-new-privileges"
            ),
            Layer("cgroup_memory", True, "memory+swap limit for the whole container (every process of the run)"),
            Layer("cgroup_pids", True, "process/thread limit for the whole container"),
            Layer("disk_quota", True, "tmpfs size cap on the work dir; root file system read-only"),
        ]

    def _limits(self, request: ExecRequest) -> dict[str, str]:
        return {
            "memory": f"docker cgroup: {request.memory_mb} MiB for all processes of the run (+{_BOOTSTRAP_MB} MiB bootstrap)",
            "processes": f"docker pids limit: {request.max_processes} processes/threads in total",
            "disk": f"tmpfs work dir of {request.disk_mb} MiB (+{_SHM_MB} MiB /dev/shm); root read-only",
        }

    def _create(self, request: ExecRequest, command: list[str] | None = None) -> str:
        docker = _sdk()
        api = self.client.api
        memory = f"{request.memory_mb + _BOOTSTRAP_MB}m"
        host_config = api.create_host_config(
            network_mode="none",
            read_only=True,
            mem_limit=memory,
            memswap_limit=memory,
            pids_limit=request.max_processes + _BOOTSTRAP_PIDS,
            nano_cpus=int(self.cpus * 1e9),
            tmpfs={"/work": f"size={request.disk_mb}m,mode=1777,nosuid,nodev"},
            shm_size=f"{_SHM_MB}m",
            ipc_mode="private",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
        )
        created = api.create_container(
            self.image,
            command=command or ["python3", "-I", "-S", "-c", _BOOTSTRAP],
            user=f"{_RUN_UID}:{_RUN_UID}",
            stdin_open=True,
            network_disabled=True,
            environment={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            labels={_LABEL: self._label},
            host_config=host_config,
        )
        cid = str(created["Id"])
        with self._lock:
            self._live.add(cid)
        return cid

    def _remove(self, cid: str) -> None:
        try:
            self.client.api.remove_container(cid, force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        with self._lock:
            self._live.discard(cid)

    def execute(self, request: ExecRequest) -> ExecResult:
        """Run one request in a new container; failures become failed results."""
        start = time.perf_counter()
        nonce = "@openenvs-report-" + uuid.uuid4().hex + "@"
        payload = json.dumps({**request.to_wire(), "nonce": nonce, "launcher": _LAUNCHER}).encode()
        limit = 4 * request.max_output_bytes + 2 * len(payload) + (1 << 20)
        cid = None
        try:
            cid = self._create(request)
            api = self.client.api
            sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw: socket.socket = getattr(sock, "_sock", sock)
            try:
                api.start(cid)
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
                data, complete = _read_all(raw, time.monotonic() + request.timeout + _GRACE_S, limit)
            finally:
                raw.close()
                sock.close()
            if not complete:
                return ExecResult.failure(
                    "the container did not report in time (killed and removed)",
                    backend=self.name,
                    duration_s=time.perf_counter() - start,
                    timed_out=True,
                )
        except Exception as exc:  # docker.errors.APIError and connection errors
            return ExecResult.failure(f"Docker error: {exc}", backend=self.name, duration_s=time.perf_counter() - start)
        finally:
            if cid is not None:
                self._remove(cid)
        stdout, stderr = _demux(data)
        text = stdout.decode("utf-8", "replace")
        at = text.rfind(nonce)
        if at < 0:
            return ExecResult.failure(
                f"the container sent no report (bootstrap output: {(text + stderr.decode('utf-8', 'replace'))[-800:]!r})",
                backend=self.name,
                duration_s=time.perf_counter() - start,
            )
        report = json.loads(text[at + len(nonce) :].split("\n", 1)[0])
        exceeded = int(report.get("oom_kills") or 0) > 0
        err = report["stderr"]
        if exceeded:
            err += f"\n[openenvs sandbox] killed: the run's processes together used more than {request.memory_mb} MiB\n"
        return ExecResult(
            stdout=report["stdout"],
            stderr=err,
            exit_code=int(report["exit_code"]),
            timed_out=bool(report["timed_out"]),
            duration_s=float(report["duration_s"]),
            signal=report.get("signal"),
            output_truncated=bool(report.get("output_truncated")),
            cpu_s=report.get("cpu_s"),
            max_rss_kb=report.get("max_rss_kb"),
            backend=self.name,
            files={k: v.encode("latin-1") for k, v in report.get("files", {}).items()},
            memory_exceeded=exceeded,
            limits=self._limits(request),
        )

    def open_session(self, request: ExecRequest, *, precompile: bool = False) -> DockerSession:
        """Start `request` as a session in a container of its own (see `Sandbox.session`)."""
        from ._docker_session import DockerSession

        return DockerSession(self, request)

    def live_containers(self) -> list[str]:
        """Ids of this backend's containers the engine still has (for leak checks; [] when all were removed)."""
        found = self.client.api.containers(all=True, filters={"label": f"{_LABEL}={self._label}"})
        return [str(c["Id"]) for c in found]

    def close(self) -> None:
        """Remove any container of this backend still there, then close the connection to the engine."""
        with self._lock:
            live = list(self._live)
        for cid in live:
            self._remove(cid)
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


def _read_all(sock: socket.socket, deadline: float, limit: int) -> tuple[bytes, bool]:
    """Read the attach stream to its end; (data, False) when the deadline passed first."""
    chunks: list[bytes] = []
    got = 0
    sock.setblocking(False)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), False
        if not select.select([sock], [], [], left)[0]:
            continue
        try:
            chunk = sock.recv(1 << 16)
        except BlockingIOError:
            continue
        if not chunk:
            return b"".join(chunks), True
        if got < limit:
            chunks.append(chunk)
            got += len(chunk)
