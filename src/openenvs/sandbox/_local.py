"""The local backend: a pool of warm, isolated worker processes (see `_worker.py`).

Each worker is started with `subprocess` (fork + exec of a fresh interpreter, never a fork of
the caller) with a scrubbed environment, so nothing of the trainer's memory or environment
reaches the code. Workers are replaced when they die or stop answering.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import queue
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

from .._errors import SandboxError
from .._proc import reap
from ._types import ExecRequest, ExecResult, Layer

__all__ = ["REQUIRED_PROTECTIONS", "Launcher", "LocalBackend", "LocalSession", "bwrap_command", "missing_protections"]

logger = logging.getLogger(__name__)

_WORKER_SCRIPT = str(Path(__file__).with_name("_worker.py"))
Launcher = Literal["auto", "direct", "bwrap"]
"""How workers get their namespaces: made by the worker itself (direct), by bubblewrap, or auto."""
_START_TIMEOUT_S = 30.0
_F_SETPIPE_SZ = 1031
_REPLY_GRACE_S = 10.0

REQUIRED_PROTECTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "network": (("network_namespace", "seccomp"), "no network namespace and no seccomp socket filter"),
    "filesystem": (
        ("landlock", "unprivileged_uid+private_tmp"),
        "no Landlock and no unprivileged uid with private /tmp",
    ),
    "processes": (("pid_namespace", "unprivileged_uid+root"), "no PID namespace and no unprivileged uid to sweep"),
}
"""Protection -> (layers that each provide it, what is wrong when none does)."""


def missing_protections(layers: dict[str, Layer], *, dropped_uid: bool) -> list[str]:
    """Names and reasons of the required protections that no active layer provides."""

    def on(name: str) -> bool:
        if name == "unprivileged_uid+private_tmp":
            return dropped_uid and on("private_tmp")
        if name == "unprivileged_uid+root":
            return dropped_uid
        layer = layers.get(name)
        return bool(layer and layer.active)

    return [f"{what} ({why})" for what, (options, why) in REQUIRED_PROTECTIONS.items() if not any(map(on, options))]


class _WorkerDied(Exception):
    pass


def _python_dirs() -> list[str]:
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs = set(prefixes) | {p for p in sys.path if p and any(p.startswith(x) for x in prefixes) and os.path.isdir(p)}
    dirs |= {os.path.realpath(d) for d in dirs}
    return sorted(d for d in dirs if os.path.isdir(d))


def bwrap_command(hide_paths: tuple[str, ...] = ()) -> list[str]:
    """The bubblewrap prefix that gives a worker its namespaces when it cannot make them itself."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxError("bubblewrap (`bwrap`) is not installed; install it (apt-get install bubblewrap).")
    cmd = [bwrap, "--unshare-user", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-pid", "--as-pid-1"]
    cmd += ["--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    tops: tuple[str, ...] = ("/tmp", "/var/tmp", "/root", "/home")
    covered = [top for top in tops if os.path.isdir(top) and os.path.realpath(top) == top]
    for top in covered:
        cmd += ["--tmpfs", top]
    for path in _python_dirs():
        if any(path == top or path.startswith(top + "/") for top in covered):
            cmd += ["--ro-bind", path, path]
    for path in hide_paths:  # last, so they also cover what was bound back above
        if os.path.isdir(path):
            cmd += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            cmd += ["--ro-bind", "/dev/null", path]
    return [*cmd, "--chdir", "/", "--"]


class _Worker:
    """One warm worker process and its pipes."""

    def __init__(self, options: dict[str, Any]) -> None:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        self.cgroups: list[str] = []
        self.errlog = tempfile.TemporaryFile()
        bwrap = options.get("launcher") == "bwrap"
        prefix = bwrap_command(tuple(options.get("hide_paths", ()))) if bwrap else []
        # Session pipes: a session's program reads requests from the first and writes replies to
        # the second, talking to this process directly (see `LocalSession`).
        req_r, self.session_w = os.pipe()
        self.session_r, reply_w = os.pipe()
        for fd in (self.session_w, self.session_r):
            os.set_blocking(fd, False)
            try:  # bigger pipes: fewer wake-ups for large arguments and results
                fcntl.fcntl(fd, _F_SETPIPE_SZ, 1 << 20)
            except OSError:
                pass
        worker_options = {**options, "session_fds": [req_r, reply_w]}
        try:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-I", _WORKER_SCRIPT, "0" if bwrap else str(os.getpid())]
                + [json.dumps(worker_options)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errlog,
                env=env,
                cwd="/",
                start_new_session=True,
                close_fds=True,
                pass_fds=(req_r, reply_w),
            )
        finally:
            os.close(req_r)
            os.close(reply_w)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        try:
            self.hello = self._read(time.monotonic() + _START_TIMEOUT_S)
        except _WorkerDied as exc:
            self.kill()
            raise SandboxError(f"The sandbox worker failed to start: {exc}. {self.stderr_tail()}") from None
        self.pid = int(self.hello["pid"])
        self.outer_pid = self.proc.pid
        self.base = str(self.hello["base"])
        self.cgroups = [str(p) for p in (self.hello.get("cgroups") or {}).values()]
        self.runs = 0

    def stderr_tail(self) -> str:
        """The end of the worker's own stderr (for error messages)."""
        try:
            self.errlog.seek(0)
            text = self.errlog.read()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f"Worker stderr: {text}" if text else ""

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(request)
        return self._read(time.monotonic() + timeout)

    def send(self, request: dict[str, Any]) -> None:
        body = json.dumps(request).encode()
        try:
            data = struct.pack(">I", len(body)) + body
            view = memoryview(data)
            while view:
                view = view[os.write(self.wfd, view) :]
        except OSError as exc:
            raise _WorkerDied(f"could not send the request ({exc})") from None
        self.runs += 1

    def _read(self, deadline: float) -> dict[str, Any]:
        head = self._read_exact(4, deadline)
        body = self._read_exact(struct.unpack(">I", head)[0], deadline)
        reply: dict[str, Any] = json.loads(body)
        return reply

    def _read_exact(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise _WorkerDied("no reply before the deadline")
            chunk = os.read(self.rfd, min(n - got, 1 << 20))
            if not chunk:
                code = self.proc.poll()
                raise _WorkerDied(f"the worker exited (status {code})")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close_session_pipes(self) -> None:
        for fd in (self.session_w, self.session_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def kill(self) -> None:
        """Kill the worker's whole process group (its PID namespace dies with it)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        reap(self.proc, "sandbox worker")
        self.errlog.close()
        _remove_cgroups(self.cgroups)
        self.close_session_pipes()

    def close(self) -> None:
        """Ask the worker to exit (EOF on its pipe), then make sure it did."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


def _remove_cgroups(paths: list[str]) -> None:
    """Remove a dead worker's cgroups (their last processes may take a moment to exit)."""
    deadline = time.monotonic() + 2.0
    for path in paths:
        while os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                if time.monotonic() > deadline:
                    logger.warning("could not remove sandbox cgroup %s (processes still in it?)", path)
                    break
                time.sleep(0.02)


def _whole_run_limits(layers: dict[str, Layer], request: ExecRequest, unique_uid: bool) -> dict[str, str]:
    """How this run's memory, process and disk limits are enforced here, in words."""

    def on(name: str) -> bool:
        layer = layers.get(name)
        return bool(layer and layer.active)

    mb, n = request.memory_mb, request.max_processes
    memory = f"{mb} MiB address space per process (RLIMIT_AS)"
    memory = (
        f"cgroup v1: {mb} MiB for all processes of the run together; and {memory}"
        if on("cgroup_memory")
        else f"per process only: {memory}; no whole-run cap ({layers['cgroup_memory'].detail})"
        if "cgroup_memory" in layers
        else f"per process only: {memory}"
    )
    if on("cgroup_pids"):
        procs = f"cgroup v1 pids: {n} processes/threads in total"
    elif unique_uid:
        procs = f"RLIMIT_NPROC {n} on the run's own uid: {n} processes/threads in total"
    else:
        procs = f"RLIMIT_NPROC {n}, counted over every process of the uid the code runs as (no cgroup)"
    disk = (
        f"tmpfs work dir of {request.disk_mb} MiB for all files together"
        if on("disk_quota")
        else f"per file only: {request.max_output_bytes} bytes each (RLIMIT_FSIZE); the work dir shares the "
        "worker's tmpfs (bounded by the memory limit when the cgroup is on)"
    )
    return {"memory": memory, "processes": procs, "disk": disk}


class LocalBackend:
    """A pool of warm worker processes, each running one program at a time.

    Args:
        workers: Number of worker processes (runs in parallel); default: the CPU count.
        allow_unisolated: Run even when a required protection is missing (not recommended).
        disable: Layer names to turn off on purpose (for benchmarks and tests).
        read_paths: Extra paths the code may read (added to the Landlock allow list).
        hide_paths: Paths the code must not read even under a readable dir (e.g. a dataset in
            site-packages): covered with an empty mount in the workers' mount namespace.
        launcher: ``"direct"``: the worker makes its own namespaces (root, or unprivileged user
            namespaces); ``"bwrap"``: bubblewrap makes them (for hosts where only bwrap may, e.g.
            setuid bwrap or an AppArmor rule for it); ``"auto"``: direct, then bwrap if that
            isolates more.
    """

    name = "local"

    def __init__(
        self,
        *,
        workers: int | None = None,
        allow_unisolated: bool = False,
        disable: tuple[str, ...] = (),
        read_paths: tuple[str, ...] = (),
        launcher: Launcher = "auto",
        hide_paths: tuple[str, ...] = (),
    ) -> None:
        """Start one worker now (to learn the layers); the others start on demand."""
        if sys.platform != "linux":
            raise SandboxError(
                f"The local sandbox is built on Linux namespaces, Landlock and seccomp and does not run on "
                f"{sys.platform}. Use backend='docker' (Docker Desktop) instead."
            )
        if launcher not in ("auto", "direct", "bwrap"):
            raise SandboxError(f"Unknown launcher {launcher!r}; choose 'auto', 'direct' or 'bwrap'.")
        if launcher == "bwrap" and os.geteuid() == 0:
            raise SandboxError(
                "launcher='bwrap' is for unprivileged users (bubblewrap would keep root's uid); as root the "
                "worker makes its namespaces itself and drops to an unprivileged uid: use launcher='direct'."
            )
        self.size = max(1, workers or os.cpu_count() or 1)
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        first, self.options, self._layers, self.missing = self._first_worker(
            {"disable": list(disable), "read_paths": list(read_paths), "hide_paths": list(hide_paths)}, launcher
        )
        self.launcher = str(self.options["launcher"])
        uid_layer = self._layers.get("unprivileged_uid")
        self._unique_uid = bool(uid_layer and uid_layer.active and os.geteuid() == 0 and self.launcher == "direct")
        self._all.append(first)
        self._idle.put(first)
        if self.missing and not allow_unisolated:
            self.close()
            raise SandboxError(
                "The local sandbox cannot isolate code here: missing "
                + "; ".join(self.missing)
                + ". Run `openenvs doctor` for details, install bubblewrap/enable user namespaces, use "
                "backend='docker', or pass allow_unisolated=True (or set OPENENVS_ALLOW_UNISOLATED=1 for the shared "
                "sandbox the code envs use) to run anyway."
            )
        off = [layer.name for layer in self._layers.values() if not layer.active]
        logger.info(
            "local sandbox: %d worker(s); layers on: %s; off: %s",
            self.size,
            ", ".join(n for n, layer in self._layers.items() if layer.active),
            ", ".join(off) or "none",
        )
        if self.missing:
            logger.warning("local sandbox runs code WITHOUT: %s (allow_unisolated=True)", "; ".join(self.missing))

    @staticmethod
    def _first_worker(
        base: dict[str, Any], launcher: Launcher
    ) -> tuple[_Worker, dict[str, Any], dict[str, Layer], list[str]]:
        """Start the first worker: directly, or through bubblewrap when that isolates more."""
        order = ["direct", "bwrap"] if launcher == "auto" else [launcher]
        if launcher == "auto" and (os.geteuid() == 0 or shutil.which("bwrap") is None):
            order = ["direct"]
        best: tuple[_Worker, dict[str, Any], dict[str, Layer], list[str]] | None = None
        error: SandboxError | None = None
        for name in order:
            options = {**base, "launcher": name}
            try:
                worker = _Worker(options)
            except SandboxError as exc:
                error = exc
                continue
            layers = {k: Layer(k, bool(v["active"]), str(v["detail"])) for k, v in worker.hello["layers"].items()}
            dropped_uid = layers.get("unprivileged_uid", Layer("", False, "")).active and os.geteuid() == 0
            missing = missing_protections(layers, dropped_uid=dropped_uid)
            if best is None or len(missing) < len(best[3]):
                if best is not None:
                    best[0].close()
                best = (worker, options, layers, missing)
            else:
                worker.close()
            if not missing:
                break
        if best is None:
            assert error is not None
            raise error
        return best

    def layers(self) -> list[Layer]:
        """The protection layers the workers set up."""
        return list(self._layers.values())

    def worker_pids(self) -> list[tuple[int, int]]:
        """``(outer pid, worker pid inside its namespace)`` of the live workers (for leak checks)."""
        return [(w.outer_pid, w.pid) for w in self._all if w.alive()]

    def worker_dirs(self) -> list[str]:
        """Each live worker's run directory, as seen from this process (via /proc/PID/root)."""
        dirs = []
        for w in self._all:
            if w.alive():
                try:
                    kids = Path(f"/proc/{w.outer_pid}/task/{w.outer_pid}/children").read_text().split()
                except OSError:
                    kids = []
                dirs.append(f"/proc/{kids[0] if kids else w.outer_pid}/root{w.base}")
        return dirs

    def _acquire(self) -> _Worker:
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                with self._lock:
                    if self._closed:
                        raise SandboxError("This sandbox is closed; create a new Sandbox.") from None
                    if len(self._all) < self.size:
                        worker = _Worker(self.options)
                        self._all.append(worker)
                        return worker
                worker = self._idle.get()
            if worker.alive():
                return worker
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def execute(self, request: ExecRequest) -> ExecResult:
        """Run one request on an idle worker; a dead or stuck worker becomes a failed result."""
        start = time.perf_counter()
        try:
            worker = self._acquire()
        except SandboxError as exc:
            return ExecResult.failure(str(exc), backend=self.name)
        try:
            reply = worker.call(request.to_wire(), request.timeout + _REPLY_GRACE_S)
        except _WorkerDied as exc:
            tail = worker.stderr_tail()
            self._discard(worker)
            return ExecResult.failure(
                f"sandbox worker died or hung ({exc}); it was replaced. {tail}".strip(),
                backend=self.name,
                duration_s=time.perf_counter() - start,
            )
        except BaseException:
            self._discard(worker)
            raise
        self._idle.put(worker)
        result = _result(reply, self.name)
        if result.error is not None:
            return result
        exceeded = int(reply.get("oom_kills") or 0) > 0
        limits = _whole_run_limits(self._layers, request, self._unique_uid)
        if exceeded:
            note = f"\n[openenvs sandbox] killed: the run's processes together used more than {request.memory_mb} MiB\n"
            return dataclasses.replace(result, stderr=result.stderr + note, memory_exceeded=True, limits=limits)
        return dataclasses.replace(result, limits=limits)

    def open_session(self, request: ExecRequest, *, precompile: bool = False) -> LocalSession:
        """Start `request` as a long-lived program on a worker, held until the session ends.

        `precompile`: the worker compiles the code once and reuses it for later sessions (for
        the caller's own fixed program only: it is compiled outside the sandbox's limits).
        """
        worker = self._acquire()
        session = LocalSession(self, worker, request)
        options = {"max_line_bytes": request.max_output_bytes, "precompile": precompile}
        try:
            worker.send({**request.to_wire(), "session": options})
        except _WorkerDied as exc:
            session._lost(exc)
        return session

    def close(self) -> None:
        """Stop every worker; their namespaces, tmpfs and processes go with them."""
        with self._lock:
            self._closed = True
            workers, self._all = list(self._all), []
        for worker in workers:
            worker.close()


class LocalSession:
    """A program running on one worker, answering one line per `call` (see `Sandbox.session`).

    Calls go straight to the program over the worker's session pipes; the worker only watches
    (program exit, the session's wall-clock limit) and cleans up when the session ends.
    """

    def __init__(self, backend: LocalBackend, worker: _Worker, request: ExecRequest) -> None:
        self._backend: LocalBackend | None = backend
        self._worker = worker
        self._cap = request.max_output_bytes
        self._buf = bytearray()
        self.result: ExecResult | None = None
        self.ended: str | None = None
        """Why the program stopped answering (timeout, exited, reply_too_large, closed), once it has."""

    def call(self, line: str, timeout: float) -> str | None:
        """Send one line, return the program's reply line, or None once the program has ended."""
        if self.result is not None:
            return None
        w = self._worker
        out = memoryview((line.rstrip("\n") + "\n").encode("utf-8"))
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            newline = self._buf.find(b"\n")
            if newline >= 0 and not out:
                reply = bytes(self._buf[:newline])
                del self._buf[: newline + 1]
                return reply.decode("utf-8", "replace")
            if len(self._buf) > self._cap:
                self._end("reply_too_large")
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self._end("timeout")
                return None
            try:
                readable, writable, _ = select.select([w.session_r, w.rfd], [w.session_w] if out else [], [], left)
            except (OSError, ValueError) as exc:
                self._lost(exc)
                return None
            if writable:
                try:
                    out = out[os.write(w.session_w, out) :]
                except BlockingIOError:
                    pass
                except OSError as exc:
                    self._lost(exc)
                    return None
            if w.session_r in readable:
                try:
                    chunk = os.read(w.session_r, 1 << 16)
                except BlockingIOError:
                    chunk = b""
                self._buf += chunk
            elif w.rfd in readable:  # the worker's report: the program ended by itself
                self._report(None)
                return None

    def close(self) -> ExecResult:
        """End the program (if still running) and return how its run went."""
        if self.result is None:
            self._end("closed")
        assert self.result is not None
        return self.result

    def _end(self, why: str) -> None:
        try:
            self._worker.send({"end": why})
        except _WorkerDied as exc:
            self._lost(exc)
            return None
        self._report(why)
        return None

    def _report(self, why: str | None) -> None:
        try:
            frame = self._worker._read(time.monotonic() + _REPLY_GRACE_S)
        except _WorkerDied as exc:
            self._lost(exc)
            return None
        self._finish(_result(frame, "local"), why or str(frame.get("session_end") or "exited"))
        return None

    def _lost(self, exc: Exception) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            backend._discard(self._worker)
        self._finish(ExecResult.failure(f"sandbox worker died or hung ({exc}); it was replaced.", backend="local"))
        return None

    def _finish(self, result: ExecResult, why: str = "sandbox_error") -> None:
        self.result, self.ended = result, self.ended or why
        backend, self._backend = self._backend, None
        if backend is not None:
            _drain(self._worker.session_r)  # every writer is gone: the worker killed them first
            backend._idle.put(self._worker)

    def __del__(self) -> None:
        if self.result is None and self._backend is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - best effort at garbage collection
                pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 1 << 16):
            pass
    except (BlockingIOError, OSError):
        pass


def _result(reply: dict[str, Any], backend: str) -> ExecResult:
    if "exit_code" not in reply:
        return ExecResult.failure(str(reply.get("error", "the worker sent no result")), backend=backend)
    if reply["exit_code"] == 125 and reply["stderr"].startswith("openenvs sandbox set-up failed"):
        return ExecResult.failure(reply["stderr"][-2000:], backend=backend)
    return ExecResult(
        stdout=reply["stdout"],
        stderr=reply["stderr"],
        exit_code=int(reply["exit_code"]),
        timed_out=bool(reply["timed_out"]),
        duration_s=float(reply["duration_s"]),
        signal=reply.get("signal"),
        output_truncated=bool(reply.get("output_truncated")),
        cpu_s=reply.get("cpu_s"),
        max_rss_kb=reply.get("max_rss_kb"),
        backend=backend,
        error=None,
        files={k: v.encode("latin-1") for k, v in (reply.get("files") or {}).items()},
    )
