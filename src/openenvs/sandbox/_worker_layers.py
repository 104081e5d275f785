"""Protection layers of the sandbox worker, set up once per worker (see `_worker.py`).

Namespaces (or adopting bubblewrap's), private tmpfs mounts, the unprivileged uid, the Landlock
ruleset and the seccomp program. Like `_worker.py`, this module uses only os, ctypes and signal,
so forking the worker stays cheap; pyseccomp is imported only in a throwaway child.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct
import sys
import time
from typing import Any

__all__ = [
    "KEEP_VISIBLE",
    "adopt_bwrap_namespaces",
    "build_landlock_ruleset",
    "build_seccomp",
    "cgroup_child_setup",
    "cgroup_oom_kills",
    "cgroup_remove",
    "cgroup_set_limits",
    "mount_run_tmpfs",
    "setup_cgroups",
    "setup_disk_quota",
    "unmount_run_tmpfs",
    "_check",
    "_drop_caps",
    "enter_pid_namespace",
    "Layers",
    "_libc",
    "PR_SET_NO_NEW_PRIVS",
    "PR_SET_SECCOMP",
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "SECCOMP_MODE_FILTER",
    "_setrlimit",
    "setup_landlock",
    "setup_namespaces",
    "setup_uid",
    "SYS_LANDLOCK_RESTRICT_SELF",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
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
        self.cgroups: dict[str, str] = {}
        self.cgroup_set: dict[str, int] = {}
        self.disk_quota = False
        self.oom_protected = False

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


KEEP_VISIBLE: list[str] = []
"""Dirs the caller granted (``read_paths``): re-exposed read-only when a private tmpfs covers them."""


def _cover_with_tmpfs(target: str, options: bytes) -> bool:
    """Mount an empty tmpfs over `target`, bind-mounting back (read-only) the Python dirs inside it.

    The Python dirs are opened before they are covered and re-attached through /proc/self/fd.
    Returns False (and mounts nothing) when `target` is missing, a symlink, or itself a Python dir.
    """
    if not os.path.isdir(target) or os.path.realpath(target) != target:
        return False
    keep = [*_python_dirs(), *(os.path.realpath(p) for p in KEEP_VISIBLE if os.path.isdir(p))]
    inside = [d for d in keep if d == target or d.startswith(target + "/")]
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
        # One uid per worker (not from the pid: inside its PID namespace every worker is pid 1), so
        # RLIMIT_NPROC counts this worker's runs only, and one worker's run cannot signal another's.
        layers.run_uid = 1_000_000 + int.from_bytes(os.urandom(3), "big")
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
    if layers.status.get("private_tmp", {}).get("active") and os.path.isdir("/dev/shm"):
        rules.append(("/dev/shm", fs_all))  # private per worker, emptied after each run (multiprocessing needs it)
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


# -- whole-run limits: cgroup v1 memory and pids controllers, a tmpfs work dir per run -------------
def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of `controller` (None: no such hierarchy)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, names, path = line.rstrip("\n").split(":", 2)
                if controller in names.split(","):
                    return path or "/"
    except OSError:
        pass
    return None


def setup_cgroups(layers: Layers, skip: set[str]) -> None:
    """Create this worker's cgroups (v1 memory and pids) and move the worker into them.

    Every process a run starts is forked from the worker, so it is born in them (moving each run's
    child instead costs milliseconds per run on a busy machine). The worker's own memory was
    charged before it moved, so a run's budget loses only what the worker allocates later (little);
    the worker opts out of the OOM killer and each run's child opts back in, so the limit kills
    the run's processes, never the worker. The cgroups sit below the worker's own (a limit on the
    trainer still holds). Without cgroup v1, or without the right to create cgroups (a user
    namespace), the layers are off and only the per-process rlimits hold.
    """
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    for controller, name in (("memory", "cgroup_memory"), ("pids", "cgroup_pids")):
        what = "memory (swap included)" if controller == "memory" else "process/thread count"
        if name in skip:
            layers.mark(name, False, "disabled by the caller; per-process rlimits only")
            continue
        mount = f"/sys/fs/cgroup/{controller}"
        own = _own_cgroup(controller)
        if v2 or own is None or not os.path.exists(os.path.join(mount, "cgroup.procs")):
            why = "cgroup v2 hierarchy (only v1 is supported)" if v2 else f"no cgroup v1 {controller} controller"
            layers.mark(name, False, f"{why}; the {what} limit holds per process only (rlimits)")
            continue
        parent = os.path.join(mount, own.lstrip("/"))
        if not os.path.isdir(parent):
            parent = mount
        _remove_stale_cgroups(parent)
        path = os.path.join(parent, "openenvs-sandbox-" + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o755)
        except OSError as exc:
            layers.mark(name, False, f"cannot create a cgroup ({exc.strerror}; needs root); per-process rlimits only")
            continue
        try:
            _write(os.path.join(path, "cgroup.procs"), "0")
        except OSError as exc:
            os.rmdir(path)
            layers.mark(name, False, f"cannot join a cgroup ({exc.strerror}); per-process rlimits only")
            continue
        layers.cgroups[controller] = path
        detail = f"cgroup v1 {path}: the {what} limit holds for all processes of a run together"
        if controller == "memory":
            try:  # needs CAP_SYS_RESOURCE; without it the run's processes raise their own score instead
                _write("/proc/self/oom_score_adj", "-1000")
                layers.oom_protected = True
            except OSError:
                detail += " (the worker itself is the OOM killer's last choice, not exempt: no CAP_SYS_RESOURCE)"
        layers.mark(name, True, detail)


def _remove_stale_cgroups(parent: str) -> None:
    """Remove the empty cgroups of dead workers (killed with their parent, nobody left to remove them).

    A live worker sits in its cgroups, so the kernel refuses to remove those (EBUSY); the age
    check spares one that is just being created.
    """
    try:
        names = [n for n in os.listdir(parent) if n.startswith("openenvs-sandbox-")]
    except OSError:
        return
    now = time.time()
    for name in names:
        path = os.path.join(parent, name)
        try:
            if now - os.stat(path).st_mtime > 60:
                os.rmdir(path)
        except OSError:
            pass


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_int(path: str, key: str | None = None) -> int:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return 0
    if key is None:
        return int(text.strip() or 0)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def cgroup_set_limits(layers: Layers, memory_bytes: int, processes: int) -> None:
    """Set this run's limits on the worker's cgroups (written only when they change).

    The pids limit counts the worker itself, so it is one above the run's.
    """
    mem = layers.cgroups.get("memory")
    if mem and layers.cgroup_set.get("memory") != memory_bytes:
        memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
        files = [os.path.join(mem, "memory.limit_in_bytes")] + ([memsw] if os.path.exists(memsw) else [])
        try:  # memory <= memory+swap must hold at every step: lowering goes memory first, raising swap first
            for path in files:
                _write(path, str(memory_bytes))
        except OSError:
            for path in reversed(files):
                _write(path, str(memory_bytes))
        layers.cgroup_set["memory"] = memory_bytes
    pids = layers.cgroups.get("pids")
    if pids and layers.cgroup_set.get("pids") != processes:
        _write(os.path.join(pids, "pids.max"), str(processes + 1))
        layers.cgroup_set["pids"] = processes


def cgroup_child_setup(layers: Layers) -> None:
    """In the run's child, while still privileged: make the run's processes the OOM killer's victims.

    When the worker is exempt (-1000), the child writes 0 with CAP_SYS_RESOURCE, which is also the
    floor the code cannot go below. Otherwise it raises its score to the maximum (1000).
    """
    if "memory" in layers.cgroups:
        _write("/proc/self/oom_score_adj", "0" if layers.oom_protected else "1000")


def cgroup_oom_kills(layers: Layers) -> int:
    """How many processes the memory cgroup's limit has killed so far."""
    mem = layers.cgroups.get("memory")
    return _read_int(os.path.join(mem, "memory.oom_control"), "oom_kill") if mem else 0


def cgroup_remove(layers: Layers) -> None:
    """At worker exit: move back to the parent cgroups and remove this worker's."""
    for path in layers.cgroups.values():
        try:
            _write(os.path.join(os.path.dirname(path), "cgroup.procs"), "0")
            os.rmdir(path)
        except OSError:
            pass  # the parent removes them once the worker is gone


def setup_disk_quota(layers: Layers, base: str, skip: set[str]) -> None:
    """Check once that a size-capped tmpfs can be mounted per run as its work dir."""
    if "disk_quota" in skip:
        layers.mark("disk_quota", False, "disabled by the caller; only each file is capped (RLIMIT_FSIZE)")
        return
    probe = os.path.join(base, "probe")
    os.mkdir(probe)
    try:
        mount_run_tmpfs(probe, 1)
        unmount_run_tmpfs(probe)
    except OSError as exc:
        layers.mark(
            "disk_quota", False, f"cannot mount a tmpfs per run ({exc}); only each file is capped (RLIMIT_FSIZE)"
        )
        return
    finally:
        os.rmdir(probe)
    layers.disk_quota = True
    layers.mark(
        "disk_quota", True, "each run's work dir is a fresh tmpfs capped at the run's disk_mb, all files together"
    )


def mount_run_tmpfs(path: str, size_mb: int) -> None:
    """Mount an empty tmpfs of `size_mb` MiB over `path`."""
    opts = f"size={int(size_mb)}m,mode=0700".encode()
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts), f"tmpfs over {path}")


def unmount_run_tmpfs(path: str) -> None:
    """Detach the run's tmpfs (its files go with it)."""
    _check(_libc.umount2(path.encode(), MNT_DETACH), f"umount {path}")


def hide_paths(layers: Layers, paths: list[str]) -> None:
    """Cover each path with something empty: a read-only tmpfs over a dir, /dev/null over a file.

    For data the code must not read although it sits under a readable dir (a dataset inside
    site-packages, say). Needs the mount namespace; with bubblewrap the launcher does it.
    """
    if not paths:
        return
    if not layers.status.get("mount_namespace", {}).get("active"):
        layers.mark("hidden_paths", False, "needs the mount namespace; the paths stay readable")
        return
    done = []
    for path in paths:
        if os.path.islink(path) or not os.path.exists(path):
            continue
        if os.path.isdir(path):
            _check(
                _libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, b"size=4k,mode=555"),
                f"tmpfs over {path}",
            )
        else:
            _check(_libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None), f"/dev/null over {path}")
        done.append(path)
    layers.mark("hidden_paths", True, f"covered with empty mounts: {', '.join(done) or '(none present)'}")
