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

sys.modules["_json"] = None  # type: ignore[assignment]  # pure-Python json: one shared library fewer to fork

import ctypes  # noqa: E402
import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402 - already loaded by ctypes
import time  # noqa: E402
import traceback  # noqa: E402
from typing import Any  # noqa: E402

# Every shared library mapped here makes each fork slower, so this file avoids modules that load
# one (tempfile/hashlib, shutil, select, resource, math, base64): it uses os, ctypes and signal.

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 24, 22, 38
SECCOMP_MODE_FILTER = 2
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_CORE, RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_AS = 0, 1, 4, 6, 7, 9


class _Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]


def _setrlimit(which: int, value: int) -> None:
    _check(_libc.setrlimit(which, ctypes.byref(_Rlimit(value, value))), f"setrlimit({which})")


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


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


# -- layers set up once per worker -------------------------------------------------------------
class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Layers:
    """What this worker managed to set up; reported to the parent in the hello frame."""

    def __init__(self) -> None:
        self.status: dict[str, dict[str, Any]] = {}
        self.run_uid: int | None = None
        self.in_userns = False
        self.seccomp_filter: Any = None
        self.landlock_abi = 0
        self.read_paths: list[str] = []
        self.exec_paths: list[str] = []
        self.ruleset_fd = -1
        self.pid1 = False
        self.child_env: dict[str, str] = {}
        self.child_path: list[str] = []
        self.keep_alive: list[Any] = []

    def mark(self, name: str, active: bool, detail: str) -> None:
        self.status[name] = {"active": active, "detail": detail}


def _write_file(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def setup_namespaces(layers: Layers, skip: set[str]) -> None:
    """Enter user (if not root), network, IPC, UTS and mount namespaces."""
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0 and "user_namespace" not in skip:
        try:
            _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
            _write_file("/proc/self/setgroups", "deny")
            _write_file("/proc/self/uid_map", f"0 {uid} 1")
            _write_file("/proc/self/gid_map", f"0 {gid} 1")
            layers.in_userns = True
            layers.mark("user_namespace", True, f"new user namespace, root inside maps to uid {uid} outside")
        except OSError as exc:
            layers.mark("user_namespace", False, f"unavailable ({exc}); not root, so no other namespace works")
    elif uid != 0:
        layers.mark("user_namespace", False, "disabled by the caller")
    else:
        layers.mark("user_namespace", False, "not needed: running as root, code drops to an unprivileged uid")
    for flag, name, detail in (
        (CLONE_NEWNET, "network_namespace", "empty network namespace: no interfaces up, no route anywhere"),
        (CLONE_NEWIPC, "ipc_namespace", "private System V IPC and POSIX message queues"),
        (CLONE_NEWUTS, "uts_namespace", "private hostname"),
        (CLONE_NEWNS, "mount_namespace", "private mounts"),
    ):
        if name in skip:
            layers.mark(name, False, "disabled by the caller")
            continue
        try:
            _check(_libc.unshare(flag), name)
            layers.mark(name, True, detail)
        except OSError as exc:
            layers.mark(name, False, f"unavailable ({exc})")
    if not layers.status["mount_namespace"]["active"]:
        layers.mark("private_tmp", False, "needs the mount namespace; /tmp is shared with the host")
        layers.mark(
            "hidden_homes", False, "needs the mount namespace; home dirs stay visible (Landlock may still deny)"
        )
        return
    try:
        _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        done = []
        for target in ("/tmp", "/var/tmp", "/dev/shm"):
            if _cover_with_tmpfs(target, b"size=1g,mode=1777"):
                done.append(target)
        layers.mark("private_tmp", True, f"fresh tmpfs over {', '.join(done)}; vanishes with the worker")
    except OSError as exc:
        layers.mark("private_tmp", False, f"could not mount tmpfs ({exc})")
        return
    try:
        hidden = _hide_homes()
        layers.mark(
            "hidden_homes", True, f"empty tmpfs over {', '.join(hidden) or '(none present)'}, Python re-exposed"
        )
    except OSError as exc:
        layers.mark("hidden_homes", False, f"could not hide home dirs ({exc})")


def _python_dirs() -> list[str]:
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs = set(prefixes)
    for entry in sys.path:
        if entry and any(entry.startswith(p) for p in prefixes) and os.path.exists(entry):
            dirs.add(entry)
    resolved = {os.path.realpath(d) for d in dirs} | dirs
    return sorted(resolved)


def _cover_with_tmpfs(target: str, options: bytes) -> bool:
    """Mount an empty tmpfs over `target`, bind-mounting back (read-only) the Python dirs inside it.

    The Python dirs are opened before they are covered and re-attached through /proc/self/fd.
    Returns False (and mounts nothing) when `target` is missing, a symlink, or itself a Python dir.
    """
    if not os.path.isdir(target) or os.path.realpath(target) != target:
        return False
    inside = [d for d in _python_dirs() if d == target or d.startswith(target + "/")]
    if target in inside:
        return False
    inside = [d for d in inside if not any(d != o and d.startswith(o + "/") for o in inside)]
    fds = [(d, os.open(d, os.O_PATH | os.O_DIRECTORY)) for d in inside if os.path.isdir(d)]
    try:
        _check(_libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), f"tmpfs over {target}")
        for path, fd in fds:
            os.makedirs(path, mode=0o755, exist_ok=True)
            src = f"/proc/self/fd/{fd}".encode()
            _check(_libc.mount(src, path.encode(), None, MS_BIND | MS_REC, None), f"re-expose {path}")
            _libc.mount(None, path.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID, None)
    finally:
        for _, fd in fds:
            os.close(fd)
    return True


def _hide_homes() -> list[str]:
    """Mount empty tmpfs over /root and /home, bind-mounting back only the Python install inside them."""
    return [home for home in ("/root", "/home") if _cover_with_tmpfs(home, b"mode=755,size=1m")]


def enter_pid_namespace(layers: Layers) -> None:
    """Become PID 1 of a new PID namespace: this process forks the worker and waits for it.

    Returns in the worker (the child); the outer process only relays the worker's exit status.
    """
    try:
        _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    except OSError as exc:
        layers.mark("pid_namespace", False, f"unavailable ({exc}); leftovers are killed by a uid sweep instead")
        return
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        os._exit(max(os.waitstatus_to_exitcode(status), 0))
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    layers.pid1 = os.getpid() == 1
    layers.mark(
        "pid_namespace",
        layers.pid1,
        "worker is PID 1 of its own PID namespace: after each run every process left is killed",
    )


def adopt_bwrap_namespaces(layers: Layers) -> None:
    """Launched by bubblewrap: it already made the namespaces and mounts; record them."""
    for name, detail in (
        ("user_namespace", "bubblewrap's user namespace (no capabilities)"),
        ("network_namespace", "bubblewrap's empty network namespace"),
        ("ipc_namespace", "bubblewrap's IPC namespace"),
        ("uts_namespace", "bubblewrap's UTS namespace"),
        ("mount_namespace", "bubblewrap's mount namespace: read-only view of /, fresh /dev and /proc"),
        ("private_tmp", "bubblewrap tmpfs over /tmp, /var/tmp and /dev/shm"),
        ("hidden_homes", "bubblewrap tmpfs over /root and /home, Python re-exposed read-only"),
    ):
        layers.mark(name, True, detail)
    layers.pid1 = os.getpid() == 1
    layers.mark(
        "pid_namespace",
        layers.pid1,
        "worker is PID 1 of bubblewrap's PID namespace: after each run every process left is killed"
        if layers.pid1
        else "bubblewrap did not make the worker PID 1",
    )


def setup_uid(layers: Layers, skip: set[str]) -> None:
    """Pick the unprivileged uid the code runs as (root only)."""
    if "unprivileged_uid" in skip:
        layers.mark("unprivileged_uid", False, f"disabled by the caller; code runs as uid {os.geteuid()}")
    elif os.geteuid() == 0 and not layers.in_userns:
        layers.run_uid = 60000 + os.getpid() % 5000
        layers.mark("unprivileged_uid", True, f"code runs as uid/gid {layers.run_uid} with no groups")
    elif layers.in_userns:
        layers.mark("unprivileged_uid", True, "code runs as namespace root with every capability dropped")
    else:
        layers.mark("unprivileged_uid", True, f"code runs as the caller's uid {os.geteuid()} (not root)")


def setup_landlock(layers: Layers, extra_read: list[str]) -> None:
    """Detect Landlock and decide which paths the code may read and execute."""
    abi = _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        layers.mark("landlock", False, f"unavailable in this kernel ({os.strerror(ctypes.get_errno())})")
        return
    layers.landlock_abi = int(abi)
    prefixes = set(_python_dirs())
    system = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]
    etc = ["/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/alternatives"]
    sysfs = ["/sys/devices/system/cpu", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"]
    paths = [p for p in [*sorted(prefixes), *system, *etc, *sysfs, *extra_read] if os.path.exists(p)]
    layers.read_paths = paths
    layers.exec_paths = [p for p in [*sorted(prefixes), *system] if os.path.exists(p)]
    layers.mark("landlock", True, f"ABI {abi}: code may read only Python and system dirs, write only its work dir")


_SECCOMP_DENY = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "syslog",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    "quotactl",
    "mknod",
    "mknodat",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "vhangup",
)


def _compile_seccomp(out_fd: int) -> None:
    """In a throwaway child: build the filter with pyseccomp and write its BPF program to `out_fd`."""
    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in _SECCOMP_DENY:
        try:
            f.add_rule(deny, name)
        except Exception:  # noqa: BLE001 - syscall absent on this architecture
            pass
    f.add_rule(sc.ERRNO(errno.EACCES), "socket", sc.Arg(0, sc.NE, 1))  # only AF_UNIX sockets
    for bit in (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET):
        f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, bit, bit))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags live in memory; libc falls back to clone
    with os.fdopen(out_fd, "wb") as out:
        f.export_bpf(out)


def build_seccomp(layers: Layers) -> None:
    """Get the seccomp BPF program (loaded in each child before the code runs).

    libseccomp is loaded only in a throwaway child, so the worker's own forks stay cheap.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _compile_seccomp(w)
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001
            os.write(2, f"{type(exc).__name__}: {exc}".encode())
            os._exit(1)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    program = b"".join(chunks)
    if os.waitstatus_to_exitcode(status) != 0 or not program or len(program) % 8:
        layers.mark(
            "seccomp", False, "pyseccomp/libseccomp not available; pip install 'openenvs[code]' (and libseccomp2)"
        )
        return
    buf = ctypes.create_string_buffer(program, len(program))
    layers.keep_alive.append(buf)
    layers.seccomp_filter = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    layers.mark("seccomp", True, "denies ptrace, mount, namespaces, bpf, keyrings, io_uring, non-Unix sockets and more")


# -- per-run child ---------------------------------------------------------------------------
def build_landlock_ruleset(layers: Layers, base: str) -> None:
    """Create the Landlock ruleset once: read (and exec) Python and system dirs, full access to `base`."""
    abi = layers.landlock_abi
    fs_all = (1 << 13) - 1
    if abi >= 2:
        fs_all |= 1 << 13
    if abi >= 3:
        fs_all |= 1 << 14
    if abi >= 5:
        fs_all |= 1 << 15
    net = 3 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, with no rule allowing any port
    scoped = 3 if abi >= 6 else 0  # no abstract Unix sockets or signals outside the sandbox
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    attr = ctypes.create_string_buffer(struct.pack("<QQQ", fs_all, net, scoped)[:size], size)
    ruleset = _check(
        _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, attr, ctypes.c_size_t(size), ctypes.c_uint32(0)), "landlock ruleset"
    )
    read, execute, write = (1 << 2) | (1 << 3), 1 << 0, 1 << 1
    file_only = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)
    rules = [(p, read | (execute if p in layers.exec_paths else 0)) for p in layers.read_paths]
    rules += [(p, read | write | ((1 << 14) if abi >= 3 else 0)) for p in ("/dev/null", "/dev/zero")]
    rules.append((base, fs_all))
    for path, access in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        if not os.path.isdir(path):
            access &= file_only
        rule = ctypes.create_string_buffer(struct.pack("<Qi", access & fs_all, fd), 12)
        _libc.syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), rule, ctypes.c_uint32(0))
        os.close(fd)
    layers.ruleset_fd = ruleset


def _drop_caps() -> None:
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _libc.capset(header, data)


def child_main(layers: Layers, req: dict[str, Any], work: str, io_dir: str) -> None:
    """Become the sandboxed process and run the code; never returns."""
    try:
        os.setsid()
        fd_in = os.open(os.path.join(io_dir, "stdin"), os.O_RDONLY)
        fd_out = os.open(os.path.join(io_dir, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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
        exec(compile(req["code"], "main.py", "exec"), main.__dict__)
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
    return {
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


def _mkdtemp(parent: str, prefix: str, mode: int = 0o700) -> str:
    while True:
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, mode)
            return path
        except FileExistsError:
            continue


def handle(layers: Layers, base: str, req: dict[str, Any], counter: int) -> dict[str, Any]:
    """Run one request and return the reply frame (file contents travel as latin-1 text)."""
    run_dir = _mkdtemp(base, f"run{counter}-")
    try:
        work, io_dir = os.path.join(run_dir, "work"), os.path.join(run_dir, "io")
        os.mkdir(work, 0o700)
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
        _rmtree(run_dir)


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
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    layers = Layers()
    skip = set(options.get("disable", []))
    if options.get("launcher") == "bwrap":
        adopt_bwrap_namespaces(layers)
    else:
        setup_namespaces(layers, skip)
        if "pid_namespace" in skip:
            layers.mark("pid_namespace", False, "disabled by the caller")
        else:
            enter_pid_namespace(layers)
    setup_uid(layers, skip)
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
    write_frame(wfd, {"hello": True, "pid": os.getpid(), "base": base, "layers": layers.status})
    counter = 0
    try:
        while True:
            req = read_frame(rfd)
            if req is None:
                break
            counter += 1
            try:
                reply = handle(layers, base, req, counter)
            except Exception as exc:  # noqa: BLE001 - a bad request must not kill the worker
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            write_frame(wfd, reply)
    finally:
        _rmtree(base)


if __name__ == "__main__":
    main()
