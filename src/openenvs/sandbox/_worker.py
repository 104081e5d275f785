"""The warm sandbox worker: a fresh interpreter that forks one child per run.

This file runs as a script (``python -I _worker.py``), started by the local backend with a
scrubbed environment; it never imports openenvs and uses only the standard library (plus
`pyseccomp` when installed). Nothing here is forked from the trainer.

At start the worker enters new network, IPC, UTS and mount namespaces (and a user namespace
when not root), mounts private tmpfs over /tmp, /var/tmp and /dev/shm and over the home dirs
(re-exposing only the Python install), prepares a seccomp filter and a Landlock ruleset, and
becomes PID 1 of a new PID namespace. For each run it forks one *child*, which drops to an
unprivileged uid, sets rlimits, confines the file system with Landlock, loads the seccomp filter
and executes the code in-process (no interpreter start-up). When the child exits or is killed at
the deadline, the worker kills every process left in its PID namespace (double-forked ones
included) and deletes the run's directory before it replies.

Protocol: frames of a 4-byte big-endian length and a JSON body, on the fds that were the
worker's stdin (requests) and stdout (replies).
"""

from __future__ import annotations

import sys

if not __package__:  # run as the worker script: pure-Python json, one shared library fewer to fork
    sys.modules["_json"] = None  # type: ignore[assignment]

import ctypes  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

# Every shared library mapped here makes each fork slower, so this file avoids modules that load
# one (tempfile/hashlib, shutil, select, resource, math, base64): it uses os, ctypes and signal.

if __package__:  # imported as openenvs.sandbox._worker (tests, type checkers)
    from ._worker_layers import (  # noqa: E402
        KEEP_VISIBLE,
        PR_SET_NO_NEW_PRIVS,
        PR_SET_SECCOMP,
        RLIMIT_AS,
        RLIMIT_CORE,
        RLIMIT_CPU,
        RLIMIT_FSIZE,
        RLIMIT_NOFILE,
        RLIMIT_NPROC,
        SECCOMP_MODE_FILTER,
        SYS_LANDLOCK_RESTRICT_SELF,
        Layers,
        _check,
        _drop_caps,
        _libc,
        _setrlimit,
        adopt_bwrap_namespaces,
        build_landlock_ruleset,
        build_seccomp,
        cgroup_child_setup,
        cgroup_oom_kills,
        cgroup_remove,
        cgroup_set_limits,
        enter_pid_namespace,
        hide_paths,
        mount_run_tmpfs,
        setup_cgroups,
        setup_disk_quota,
        setup_landlock,
        setup_namespaces,
        setup_uid,
        unmount_run_tmpfs,
    )
else:  # run as a script by the local backend: the layers module sits next to this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _worker_layers import (  # type: ignore[no-redef]  # noqa: E402
        KEEP_VISIBLE,
        PR_SET_NO_NEW_PRIVS,
        PR_SET_SECCOMP,
        RLIMIT_AS,
        RLIMIT_CORE,
        RLIMIT_CPU,
        RLIMIT_FSIZE,
        RLIMIT_NOFILE,
        RLIMIT_NPROC,
        SECCOMP_MODE_FILTER,
        SYS_LANDLOCK_RESTRICT_SELF,
        Layers,
        _check,
        _drop_caps,
        _libc,
        _setrlimit,
        adopt_bwrap_namespaces,
        build_landlock_ruleset,
        build_seccomp,
        cgroup_child_setup,
        cgroup_oom_kills,
        cgroup_remove,
        cgroup_set_limits,
        enter_pid_namespace,
        hide_paths,
        mount_run_tmpfs,
        setup_cgroups,
        setup_disk_quota,
        setup_landlock,
        setup_namespaces,
        setup_uid,
        unmount_run_tmpfs,
    )

    del sys.path[0]


# -- framing ---------------------------------------------------------------------------------
def read_frame(fd: int) -> Any:
    """Read one length-prefixed JSON frame; None at end of file."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    body = _read_exact(fd, int.from_bytes(head, "big"))
    return None if body is None else json.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, obj: Any) -> None:
    """Write one length-prefixed JSON frame."""
    body = json.dumps(obj).encode()
    data = len(body).to_bytes(4, "big") + body
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def child_main(
    layers: Layers, req: dict[str, Any], work: str, io_dir: str, pipes: tuple[int, int] | None = None
) -> None:
    """Become the sandboxed process and run the code; never returns.

    With `pipes` (a session), stdin and stdout are those pipe ends instead of files.
    """
    try:
        os.setsid()
        cgroup_child_setup(layers)  # while still privileged: the run's processes are the OOM victims
        if pipes is None:
            fd_in = os.open(os.path.join(io_dir, "stdin"), os.O_RDONLY)
            fd_out = os.open(os.path.join(io_dir, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        else:
            fd_in, fd_out = pipes
        fd_err = os.open(os.path.join(io_dir, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for src, dst in ((fd_in, 0), (fd_out, 1), (fd_err, 2)):
            os.dup2(src, dst)
        keep = layers.ruleset_fd
        if keep >= 0:
            os.closerange(3, keep)
            os.closerange(keep + 1, 65536)
        else:
            os.closerange(3, 65536)
        for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        timeout = float(req["timeout"])
        cpu = int(-(-timeout // 1)) + 1
        mem = int(req["memory_mb"]) * 1024 * 1024
        limits = [
            (RLIMIT_CPU, cpu),
            (RLIMIT_AS, mem),
            (RLIMIT_NPROC, int(req["max_processes"])),
            (RLIMIT_FSIZE, int(req["max_output_bytes"])),
            (RLIMIT_NOFILE, 256),
            (RLIMIT_CORE, 0),
        ]
        if layers.run_uid is not None:
            os.chdir(work)
            os.setgroups([])
            os.setresgid(layers.run_uid, layers.run_uid, layers.run_uid)
            os.setresuid(layers.run_uid, layers.run_uid, layers.run_uid)
        elif layers.in_userns:
            _drop_caps()
        for which, value in limits:
            _setrlimit(which, value)
        os.chdir(work)
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if keep >= 0:
            _check(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(keep), ctypes.c_uint32(0)), "landlock")
            os.close(keep)
        if layers.seccomp_filter is not None:
            _check(
                _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(layers.seccomp_filter), 0, 0), "seccomp"
            )
    except BaseException:  # noqa: BLE001 - set-up failed: report and never run the code unconfined
        os.write(2, ("openenvs sandbox set-up failed:\n" + traceback.format_exc()).encode())
        os._exit(125)
    os._exit(_exec_code(req, work))


_CHILD_PATH: list[str] = []
_PRECOMPILED: dict[str, Any] = {}
"""Session programs the parent marked as its own (``precompile``): compiled once, before forking."""


def prepare_child_interpreter() -> None:
    """Once per worker: the environment and import path every child starts from."""
    prefixes = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    _CHILD_PATH[:] = [p for p in sys.path if p and os.path.realpath(p).startswith(prefixes)]
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
    # One BLAS/OpenMP thread: threads count against the process limit and each reserves address space.
    os.environ.update(dict.fromkeys(["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"], "1"))


def _exec_code(req: dict[str, Any], work: str) -> int:
    import builtins
    import types

    os.environ["HOME"] = os.environ["TMPDIR"] = work
    sys.path[:] = [work, *_CHILD_PATH]
    sys.argv = ["main.py", *req.get("argv", [])]
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": os.path.join(work, "main.py")})
    sys.modules["__main__"] = main
    code = 0
    try:
        exec(_PRECOMPILED.get(req["code"]) or compile(req["code"], "main.py", "exec"), main.__dict__)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the program's own error, printed as Python would
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    return code & 0xFF


# -- per-run supervision ---------------------------------------------------------------------
def supervise(layers: Layers, req: dict[str, Any], work: str, io_dir: str) -> dict[str, Any]:
    """Fork the child, enforce the wall-clock limit, then kill whatever the run left behind."""
    cgroup_set_limits(layers, int(req["memory_mb"]) << 20, int(req["max_processes"]))
    oom_before = cgroup_oom_kills(layers)
    start = time.perf_counter()
    child = os.fork()
    if child == 0:
        child_main(layers, req, work, io_dir)
    timed_out = not _wait_exit(child, float(req["timeout"]))
    if timed_out:
        os.kill(child, signal.SIGKILL)
    _, status, usage = os.wait4(child, 0)
    duration = time.perf_counter() - start
    try:  # the child's own session/process group, in case no other layer reaches a leftover
        os.killpg(child, signal.SIGKILL)
    except OSError:
        pass
    _sweep(layers)
    oom_kills = cgroup_oom_kills(layers) - oom_before
    return {
        "oom_kills": oom_kills,
        "duration_s": duration,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "timed_out": timed_out,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "exit_code": os.waitstatus_to_exitcode(status),
    }


def _wait_exit(pid: int, timeout: float) -> bool:
    """True when `pid` exited within `timeout` seconds (it is left unreaped; SIGCHLD is blocked)."""
    deadline = time.monotonic() + timeout
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        signal.sigtimedwait([signal.SIGCHLD], left)


# -- sessions: one long-lived program talking to the parent over the session pipes ------------
_SESSION_FDS: list[int] = []
"""The worker's ends of its two session pipes (requests in, replies out), set up by the parent."""


def supervise_session(
    layers: Layers, req: dict[str, Any], work: str, io_dir: str, channel: tuple[int, int]
) -> dict[str, Any]:
    """Run the code as a session: its stdin and stdout are the parent's session pipes.

    The parent talks to the program directly (no relay here) and enforces each call's time
    limit. This process watches: it ends the session when the parent sends ``{"end": why}``,
    when the program exits, or at the request's wall-clock limit; then it kills whatever the
    program left, empties the request pipe, and replies with the report (``session_end`` = why).
    """
    rfd, _ = channel
    if len(_SESSION_FDS) != 2:
        raise RuntimeError("this worker was started without session pipes")
    req_r, reply_w = _SESSION_FDS
    if req["session"].get("precompile") and req["code"] not in _PRECOMPILED:
        if len(_PRECOMPILED) >= 4:
            _PRECOMPILED.clear()
        _PRECOMPILED[req["code"]] = compile(req["code"], "main.py", "exec")
    cgroup_set_limits(layers, int(req["memory_mb"]) << 20, int(req["max_processes"]))
    oom_before = cgroup_oom_kills(layers)
    start = time.perf_counter()
    deadline = time.monotonic() + float(req["timeout"])
    child = os.fork()
    if child == 0:
        child_main(layers, req, work, io_dir, (req_r, reply_w))
    try:
        pidfd = os.pidfd_open(child)
    except (AttributeError, OSError):
        pidfd = -1
    ended = ""
    try:
        while not ended:
            left = deadline - time.monotonic()
            if left <= 0:
                ended = "timeout"
                break
            watch = [rfd] if pidfd < 0 else [rfd, pidfd]
            ready = select.select(watch, [], [], left if pidfd >= 0 else min(left, 0.02))[0]
            if rfd in ready:
                frame = read_frame(rfd)
                ended = "closed" if frame is None else str(frame.get("end") or "closed")
            elif pidfd in ready or (pidfd < 0 and _wait_exit(child, 0.0)):
                ended = "exited"
    finally:
        if not _wait_exit(child, 0.0):
            os.kill(child, signal.SIGKILL)
        _, status, usage = os.wait4(child, 0)
        if pidfd >= 0:
            os.close(pidfd)
        try:
            os.killpg(child, signal.SIGKILL)
        except OSError:
            pass
        _sweep(layers)
        _drain(req_r)
    oom_kills = cgroup_oom_kills(layers) - oom_before
    return {
        "oom_kills": oom_kills,
        "duration_s": time.perf_counter() - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "timed_out": ended == "timeout",
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "exit_code": os.waitstatus_to_exitcode(status),
        "session_end": ended,
    }


def _drain(fd: int) -> None:
    """Read and drop whatever is left in a pipe (no program holds it now, so nothing blocks on it)."""
    os.set_blocking(fd, False)  # a flag of the shared open file: only while no child has it
    try:
        while os.read(fd, 1 << 16):
            pass
    except BlockingIOError:
        pass
    finally:
        os.set_blocking(fd, True)


def _sweep(layers: Layers) -> None:
    """Kill every process the run started, double-forked ones included, and reap them."""
    if layers.pid1:
        # PID 1 of our own PID namespace: kill(-1) reaches every other process in it.
        for _ in range(10000):
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                break
            _reap(block=True)
        _reap(block=False)
        return
    if layers.run_uid is None:
        return
    pid = os.fork()
    if pid == 0:  # as the run uid, kill(-1) reaches exactly that uid's processes
        try:
            os.setresuid(layers.run_uid, layers.run_uid, layers.run_uid)
            for _ in range(100):
                os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _reap(*, block: bool) -> None:
    flags = 0 if block else os.WNOHANG
    while True:
        try:
            pid, _ = os.waitpid(-1, flags)
        except ChildProcessError:
            return
        if pid == 0:
            return
        flags = os.WNOHANG


# -- one run -----------------------------------------------------------------------------------
def _safe_relpath(name: str) -> str:
    norm = os.path.normpath(name)
    if os.path.isabs(name) or norm.startswith("..") or norm in (".", ""):
        raise ValueError(f"file name {name!r} must be a relative path inside the work dir")
    return norm


def _read_capped(path: str, cap: int) -> tuple[bytes, bool]:
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except FileNotFoundError:
        return b"", False
    return data[:cap], len(data) >= cap


def _rmtree(path: str) -> None:
    """Delete a directory tree (the worker is root in its namespace, so permissions do not stop it)."""
    try:
        for root, dirs, files in os.walk(path, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                full = os.path.join(root, name)
                os.unlink(full) if os.path.islink(full) else os.rmdir(full)
        os.rmdir(path)
    except OSError:
        pass


def _empty_dir(path: str) -> None:
    """Delete everything inside `path` (the worker's private /dev/shm) but keep `path`."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            _rmtree(full)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def _mkdtemp(parent: str, prefix: str, mode: int = 0o700) -> str:
    while True:
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, mode)
            return path
        except FileExistsError:
            continue


def handle(
    layers: Layers, base: str, req: dict[str, Any], counter: int, channel: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Run one request and return the reply frame (file contents travel as latin-1 text).

    `channel` (the worker's request and reply fds) is needed for a session request.
    """
    run_dir = _mkdtemp(base, f"run{counter}-")
    work, io_dir = os.path.join(run_dir, "work"), os.path.join(run_dir, "io")
    mounted = False
    try:
        os.mkdir(work, 0o700)
        if layers.disk_quota:
            mount_run_tmpfs(work, int(req.get("disk_mb", 128)))
            mounted = True
        os.mkdir(io_dir, 0o700)
        with open(os.path.join(io_dir, "stdin"), "wb") as f:
            f.write(req.get("stdin", "").encode())
        for name, text in (req.get("files") or {}).items():
            path = os.path.join(work, _safe_relpath(name))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(text.encode("latin-1"))
        if layers.run_uid is not None:
            for root, dirs, files in os.walk(work):
                for n in [*dirs, *files]:
                    os.chown(os.path.join(root, n), layers.run_uid, layers.run_uid)
            os.chown(work, layers.run_uid, layers.run_uid)
            os.chmod(run_dir, 0o711)
        if req.get("session") and channel is not None:
            report = supervise_session(layers, req, work, io_dir, channel)
        else:
            report = supervise(layers, req, work, io_dir)
        cap = int(req["max_output_bytes"])
        out, out_cut = _read_capped(os.path.join(io_dir, "stdout"), cap)
        err, err_cut = _read_capped(os.path.join(io_dir, "stderr"), cap)
        report.update(
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            output_truncated=out_cut or err_cut,
        )
        want = req.get("return_files") or []
        if want:
            got = {}
            for name in want:
                data, _ = _read_capped(os.path.join(work, _safe_relpath(name)), cap)
                got[name] = data.decode("latin-1")
            report["files"] = got
        return report
    finally:
        if mounted:
            unmount_run_tmpfs(work)
        _rmtree(run_dir)
        if layers.status.get("private_tmp", {}).get("active"):
            _empty_dir("/dev/shm")


def main() -> None:
    """Set up the layers, say hello, then serve runs until the parent closes the pipe.

    The worker exits when its request pipe reaches end of file, i.e. when the trainer closes it
    or dies. (No parent-death signal here: it would fire when the *thread* that started the
    worker ends, not the trainer process.)
    """
    parent = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if parent and os.getppid() != parent:
        os._exit(0)
    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    _SESSION_FDS[:] = [int(fd) for fd in options.get("session_fds", [])]
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    layers = Layers()
    skip = set(options.get("disable", []))
    hidden = [str(p) for p in options.get("hide_paths", [])]
    KEEP_VISIBLE[:] = [str(p) for p in options.get("read_paths", [])]  # granted paths survive the private /tmp
    if options.get("launcher") == "bwrap":
        adopt_bwrap_namespaces(layers)
        if hidden:
            layers.mark("hidden_paths", True, f"bubblewrap covered with empty mounts: {', '.join(hidden)}")
    else:
        setup_namespaces(layers, skip)
        try:
            hide_paths(layers, hidden)
        except OSError as exc:
            layers.mark("hidden_paths", False, f"could not cover the paths ({exc}); they stay readable")
        if "pid_namespace" in skip:
            layers.mark("pid_namespace", False, "disabled by the caller")
        else:
            enter_pid_namespace(layers)
    setup_uid(layers, skip)
    setup_cgroups(layers, skip)
    if "landlock" in skip:
        layers.mark("landlock", False, "disabled by the caller")
    else:
        setup_landlock(layers, list(options.get("read_paths", [])))
    if "seccomp" in skip:
        layers.mark("seccomp", False, "disabled by the caller")
    else:
        build_seccomp(layers)
    layers.mark("rlimits", True, "CPU time, address space, processes, file size, open files, no core dumps")
    base = _mkdtemp("/tmp" if os.path.isdir("/tmp") else "/var/tmp", "openenvs-sandbox-", 0o711)
    os.chmod(base, 0o711)
    setup_disk_quota(layers, base, skip)
    if layers.landlock_abi:
        try:
            build_landlock_ruleset(layers, base)
        except OSError as exc:
            layers.mark("landlock", False, f"could not build the ruleset ({exc})")
    prepare_child_interpreter()
    import builtins  # noqa: F401 - imported before forking so children share it
    import gc
    import types  # noqa: F401

    gc.collect()
    gc.freeze()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])  # runs are awaited with sigtimedwait
    hello = {"hello": True, "pid": os.getpid(), "base": base, "layers": layers.status, "cgroups": layers.cgroups}
    write_frame(wfd, hello)
    counter = 0
    try:
        while True:
            req = read_frame(rfd)
            if req is None:
                break
            counter += 1
            try:
                reply = handle(layers, base, req, counter, (rfd, wfd))
            except Exception as exc:  # noqa: BLE001 - a bad request must not kill the worker
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            write_frame(wfd, reply)
    finally:
        _rmtree(base)
        cgroup_remove(layers)


if __name__ == "__main__":
    main()
