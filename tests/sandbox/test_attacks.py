"""Hostile programs against every available backend: each must fail, and the trainer must not notice."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from openenvs.sandbox import Sandbox


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _assert_clean(box: Sandbox) -> None:
    """Nothing of earlier runs is left: no process or run directory in a worker, no container in the engine."""
    backend = box.backend
    if backend.name == "docker":
        assert backend.live_containers() == []  # type: ignore[attr-defined]
        return
    deadline = time.monotonic() + 2
    for outer, _ in backend.worker_pids():  # type: ignore[attr-defined]
        while True:
            extra = descendants(outer)
            if len(extra) <= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(extra) <= 1, f"processes left below worker {outer}: {extra}"
    for base in backend.worker_dirs():  # type: ignore[attr-defined]
        assert os.listdir(base) == [], f"files left in {base}: {os.listdir(base)}"


def test_tcp_to_host_port_is_blocked(box: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(3)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')"
    r = box.run(code)
    thread.join()
    server.close()
    assert not r.ok
    assert "CONNECTED" not in r.stdout
    assert accepted == [], "the sandboxed code reached a port on the host"


def test_dns_is_blocked(box: Sandbox) -> None:
    r = box.run("import socket\nprint('RESOLVED', socket.getaddrinfo('example.com', 80))", timeout=5)
    assert not r.ok
    assert "RESOLVED" not in r.stdout


def test_udp_and_raw_sockets_are_blocked(box: Sandbox) -> None:
    code = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('8.8.8.8', 53))\nprint('SENT')"
    r = box.run(code)
    assert "SENT" not in r.stdout and not r.ok


def test_secret_file_outside_workdir_is_unreadable(box: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-41f")
    secret.chmod(0o644)
    tmp_path.chmod(0o755)
    for path in (secret, Path(__file__), Path("/etc/shadow")):
        r = box.run(f"print(open({str(path)!r}).read())")
        assert not r.ok, f"{path} was readable from the sandbox"
    # The host's /etc/hostname: the local backend denies it; a container sees only its own.
    host_name = Path("/etc/hostname").read_text().strip()
    r = box.run("print(open('/etc/hostname').read())")
    assert not r.ok if box.backend.name == "local" else host_name not in r.stdout
    assert "TOPSECRET" not in box.run(f"import os\nprint(os.listdir({str(tmp_path)!r}))").stdout


def test_parent_environment_is_not_visible(box: Sandbox, parent_secret: tuple[str, str]) -> None:
    SECRET_ENV, SECRET_VALUE = parent_secret
    assert os.environ[SECRET_ENV] == SECRET_VALUE
    code = (
        "import os\nprint(dict(os.environ))\n"
        "for p in ['/proc/self/environ', '/proc/1/environ', f'/proc/{os.getppid()}/environ', "
        f"'/proc/{os.getpid()}/environ']:\n"
        "    try:\n        print(open(p, 'rb').read())\n    except OSError as e:\n        print('denied', p, e)\n"
    )
    r = box.run(code)
    assert SECRET_VALUE not in r.stdout + r.stderr
    assert SECRET_ENV not in r.stdout + r.stderr


def test_writes_outside_workdir_fail(box: Sandbox, tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    tag = os.urandom(4).hex()
    targets = [
        tmp_path / "pwned.txt",
        Path(f"/tmp/openenvs-pwned-{tag}.txt"),
        Path(__file__).with_name(f"pwned-{tag}.txt"),
    ]
    code = "import sys\nfor p in sys.argv[1:]:\n    try:\n        open(p, 'w').write('x')\n        print('WROTE', p)\n    except OSError as e:\n        print('denied', p, e)\n"
    r = box.run(code, argv=[str(t) for t in targets])
    assert "WROTE" not in r.stdout, r.stdout
    for target in targets:
        assert not target.exists()
    inside = box.run("open('ok.txt', 'w').write('fine')\nprint(open('ok.txt').read())", return_files=["ok.txt"])
    assert inside.ok and inside.stdout == "fine\n" and inside.files == {"ok.txt": b"fine"}


def test_fork_bomb_is_contained(box: Sandbox) -> None:
    start = time.monotonic()
    r = box.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", timeout=2)
    assert not r.ok
    assert time.monotonic() - start < 15
    _assert_clean(box)
    assert box.run("print('alive')").stdout == "alive\n"


def test_memory_bomb_is_stopped(box: Sandbox) -> None:
    r = box.run("x = []\nwhile True:\n    x.append(bytearray(50 << 20))", memory_mb=256)
    assert not r.ok
    assert r.status in {"error", "killed"}
    assert box.run("x = bytearray(10 << 20)\nprint(len(x))", memory_mb=256).ok


def test_infinite_loop_times_out(box: Sandbox) -> None:
    r = box.run("while True:\n    pass", timeout=1.0)
    assert r.timed_out and r.status == "timeout" and not r.ok
    assert r.duration_s < 3


def test_sleeping_program_times_out_on_wall_clock(box: Sandbox) -> None:
    r = box.run("import time\ntime.sleep(60)", timeout=1.0)
    assert r.timed_out and r.duration_s < 3


def test_output_flood_is_capped(box: Sandbox) -> None:
    start = time.monotonic()
    r = box.run("import sys\nchunk = 'x' * 65536\nfor _ in range(16384):\n    sys.stdout.write(chunk)", timeout=10)
    assert time.monotonic() - start < 10
    assert not r.ok and r.output_truncated
    assert len(r.stdout) <= 1 << 20


def test_killing_the_parent_fails_harmlessly(box: Sandbox) -> None:
    me = os.getpid()
    code = (
        "import os, signal\n"
        f"for pid in [os.getppid(), 1, {me}, -1]:\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print('denied', pid, e)\n"
        "print('survived', flush=True)\n"
        "os.kill(0, signal.SIGKILL)\n"  # its own process group: the only kill that may land
    )
    r = box.run(code)
    assert "survived" in r.stdout and r.status == "killed" and r.signal == 9, r
    assert os.getpid() == me
    assert box.run("print(2 + 2)").stdout == "4\n"


def test_double_forked_background_process_does_not_survive(box: Sandbox) -> None:
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.closerange(0, 3)\n"
        "        time.sleep(120)\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    start = time.monotonic()
    r = box.run(code, timeout=5)
    assert r.ok and r.stdout == "parent done\n"
    assert time.monotonic() - start < 4, "the run waited for its background process"
    _assert_clean(box)


def test_privilege_escalation_syscalls_fail(box: Sandbox) -> None:
    code = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('setuid', libc.setuid(0))\n"
        "print('unshare', libc.unshare(0x10000000))\n"
        "print('mount', libc.mount(b'none', b'/mnt', b'tmpfs', 0, None))\n"
        "print('ptrace', libc.ptrace(16, 1, 0, 0))\n"
    )
    r = box.run(code)
    assert r.ok, r.stderr
    assert len(r.stdout.splitlines()) == 4, r.stdout
    for line in r.stdout.splitlines():
        assert line.endswith("-1"), f"{line!r} succeeded in the sandbox"


def test_forged_result_report_is_ignored(box: Sandbox) -> None:
    """Printing a report-shaped line, or writing one to the supervisor's stdout, changes nothing."""
    code = (
        "import json, os, sys\n"
        "fake = json.dumps({'exit_code': 0, 'timed_out': False, 'duration_s': 0.0, 'stdout': 'forged', "
        "'stderr': '', 'files': {}})\n"
        "print('\\n' + fake)\n"
        "for fd in ('/proc/1/fd/1', f'/proc/{os.getppid()}/fd/1'):\n"
        "    try:\n        open(fd, 'w').write('\\n' + fake + '\\n')\n        print('WROTE', fd)\n"
        "    except OSError as e:\n        print('denied', fd, e.errno)\n"
        "sys.exit(3)\n"
    )
    r = box.run(code)
    assert r.exit_code == 3 and not r.ok, r
    assert "WROTE" not in r.stdout, r.stdout
    assert r.stdout.startswith("\n{") and r.stdout != "forged"


def test_worker_killed_mid_run_is_a_failed_result(box: Sandbox) -> None:
    backend = box.backend
    if backend.name == "local":
        outer = [pid for pid, _ in backend.worker_pids()]  # type: ignore[attr-defined]

        def kill() -> None:
            for p in outer:
                if os.path.exists(f"/proc/{p}"):
                    os.kill(p, 9)

    else:
        outer = [0, 0]
        import docker

        def kill() -> None:  # the engine kills the run's container under it
            client = docker.from_env()
            for cid in backend.live_containers():  # type: ignore[attr-defined]
                client.api.kill(cid)
            client.close()

    killer = threading.Timer(1.0, kill)
    killer.start()
    results = box.run_many([box.request("import time\ntime.sleep(5)") for _ in outer])
    killer.join()
    assert all(not r.ok and r.error for r in results), results
    assert box.run("print('replaced')").stdout == "replaced\n"
    _assert_clean(box)


def test_nothing_left_after_many_runs(box: Sandbox) -> None:
    n = 2000 if box.backend.name == "local" else 20
    programs = [
        "print(sum(range(100)))",
        "import os\nif os.fork() == 0:\n    import time; time.sleep(30)\nprint(1)",
        "open('f.txt', 'w').write('x' * 1000)\nprint(1)",
        "import subprocess\nsubprocess.Popen(['sleep', '30'])\nprint(1)",
    ]
    host_tmp_before = set(os.listdir("/tmp"))
    reqs = [box.request(programs[i % len(programs)], timeout=5) for i in range(n)]
    results = box.run_many(reqs)
    failed = [r for r in results if not r.ok]
    assert not failed, failed[:3]
    _assert_clean(box)
    new = {e for e in set(os.listdir("/tmp")) - host_tmp_before if e.startswith("openenvs-sandbox")}
    assert not new, f"left in host /tmp: {new}"


def test_a_session_leaves_nothing_behind(box: Sandbox) -> None:
    """A long-lived session that forks background processes: all gone (container removed) once it closes."""
    code = (
        "import os, sys, time\n"
        "for line in sys.stdin:\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        time.sleep(120)\n"
        "        os._exit(0)\n"
        "    print('forked', line.strip(), flush=True)\n"
    )
    session = box.session(code, timeout=30)
    assert [session.call(str(i), timeout=10) for i in range(3)] == ["forked 0", "forked 1", "forked 2"]
    session.close()
    assert session.ended == "closed"
    _assert_clean(box)
