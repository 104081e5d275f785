"""`openenvs build`: one plan rendered to a Dockerfile and an Apptainer definition; a built image serves a code env.

The Docker tests share one engine and the sandbox base image (``require("docker")``) and build one
image of ``code/stdio-v1`` per session from wheels made on the host. Apptainer is not installable
here: its definition is checked against the Dockerfile, not built.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import openenvs
from openenvs import EnvNotFound
from openenvs.server._build import (
    DOCKER_RUN_OPTIONS,
    TOKEN_PATH,
    Base,
    Copy,
    Run,
    Serve,
    SetEnv,
    User,
    image_extras,
    plan,
    render_apptainer,
    render_dockerfile,
    write_context,
)
from openenvs.testing import check_env

STDIO = "code/stdio-v1"
REPO = Path(__file__).resolve().parents[2]
BASE = Base("openenvs-sandbox:1", "bookworm", "http://deb.debian.org/debian", ("python3",))


# -- one source of truth (no Docker needed) --------------------------------------------------------


def dockerfile_steps(text: str) -> dict[str, list]:
    out: dict[str, list] = {"from": [], "copy": [], "run": [], "env": [], "user": [], "entrypoint": [], "cmd": []}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "ENV":
            out["env"] += [tuple(kv.split("=", 1)) for kv in shlex.split(rest)]
        elif word in ("ENTRYPOINT", "CMD"):
            out[word.lower()] = json.loads(rest)
        elif word == "COPY":
            out["copy"].append(tuple(rest.split()))
        elif word != "EXPOSE":
            out[word.lower()].append(rest)
    return out


def apptainer_steps(text: str) -> dict[str, list]:
    header = dict(re.findall(r"^(\w+): (.*)$", text, re.M))
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("%"):
            current = sections.setdefault(line, [])
        elif current is not None and line.startswith("    "):
            current.append(line[4:])
    run = [ln for ln in sections["%runscript"] if not ln.startswith("#")]
    defaults = re.fullmatch(r'if \[ "\$#" -eq 0 \]; then set -- (.*); fi', run[0]).group(1)
    exec_argv = shlex.split(run[1])
    assert exec_argv[0] == "exec" and exec_argv[-1] == "$@"
    return {
        "header": header,
        "copy": [tuple(ln.split()) for ln in sections["%files"]],
        "run": sections["%post"],
        "env": [tuple(shlex.split(ln.removeprefix("export "))[0].split("=", 1)) for ln in sections["%environment"]],
        "entrypoint": exec_argv[1:-1],
        "cmd": shlex.split(defaults),
    }


def test_dockerfile_and_apptainer_definition_render_the_same_steps():
    steps = plan([STDIO], base=BASE, port=18499, pip_wheel="pip-1-py3-none-any.whl")
    docker = dockerfile_steps(render_dockerfile(steps))
    apptainer = apptainer_steps(render_apptainer(steps))
    runs = [s.command for s in steps if isinstance(s, Run)]
    copies = [(s.src, s.dst) for s in steps if isinstance(s, Copy)]
    env = [kv for s in steps if isinstance(s, SetEnv) for kv in s.values]
    serve = next(s for s in steps if isinstance(s, Serve))
    assert docker["run"] == apptainer["run"] == runs and len(runs) == 2
    assert docker["copy"] == apptainer["copy"] == copies == [("wheels", "/opt/openenvs/wheels")]
    assert docker["env"] == apptainer["env"] == env
    assert docker["entrypoint"] == apptainer["entrypoint"] == list(serve.argv)
    assert docker["cmd"] == apptainer["cmd"] == list(serve.defaults)
    assert docker["from"] == [BASE.image] and docker["user"] == [str(next(s for s in steps if isinstance(s, User)).uid)]
    assert apptainer["header"] == {
        "Bootstrap": "debootstrap",
        "OSVersion": BASE.suite,
        "MirrorURL": BASE.mirror,
        "Include": " ".join(BASE.packages),
    }
    # what gets installed and served is in the steps, so in both files
    assert "'openenvs[code,server]'" in runs[0] and "--no-index" in runs[0]
    assert serve.argv[-2:] == ("serve", STDIO) and "--token-file" in serve.defaults and "18499" in serve.defaults
    # a step added to the plan shows up in both renderings
    more = [*steps[:3], Run("echo extra"), *steps[3:]]
    assert dockerfile_steps(render_dockerfile(more))["run"] == apptainer_steps(render_apptainer(more))["run"]


def test_image_extras_are_the_envs_own():
    assert image_extras([STDIO]) == ["code", "server"]  # sandboxed: the seccomp layer's package
    assert image_extras(["math/arithmetic-v1"]) == ["math", "server"]
    assert image_extras(["math/arithmetic-v1", "tools/calculator-v1"], ["ray"]) == ["math", "ray", "server", "tools"]
    with pytest.raises(EnvNotFound):
        image_extras(["code/stdoi-v1"])


def test_build_cli_writes_both_files(tmp_path, capsys):
    from openenvs.cli._main import main

    main(["build", STDIO, "-o", str(tmp_path), "--no-wheels", "--port", "18498"])
    out = capsys.readouterr().out
    dockerfile, definition = (tmp_path / "Dockerfile").read_text(), (tmp_path / "openenvs.def").read_text()
    assert dockerfile_steps(dockerfile)["run"] == apptainer_steps(definition)["run"]
    assert "18498" in dockerfile and "extras: code, server" in out and "--cap-add SYS_ADMIN" in out
    main(["build", STDIO, "-o", str(tmp_path / "d"), "--no-wheels", "--format", "docker"])
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["Dockerfile"]
    with pytest.raises(SystemExit):
        main(["build", STDIO, "-o", str(tmp_path), "--no-wheels", "--format", "podman"])
    assert "--format must be docker, apptainer or all" in capsys.readouterr().err


# -- a built image (real Docker engine) ------------------------------------------------------------


@pytest.fixture(scope="session")
def stdio_image(tmp_path_factory):
    """The image of ``openenvs build code/stdio-v1``, built once (reused while its inputs are unchanged)."""
    from _require import require

    require("docker")
    ctx = tmp_path_factory.mktemp("build-stdio")
    t0 = time.perf_counter()
    written = write_context([STDIO], ctx)
    wheels_s = time.perf_counter() - t0
    digest = hashlib.sha256(written["dockerfile"].read_bytes())
    for wheel in sorted(written["wheels"].iterdir()):
        digest.update(wheel.name.encode() + hashlib.sha256(wheel.read_bytes()).digest())
    tag = f"openenvs-test-stdio:{digest.hexdigest()[:12]}"
    t1 = time.perf_counter()
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        done = subprocess.run(["docker", "build", "-q", "-t", tag, str(ctx)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    print(f"wheels {wheels_s:.1f}s, docker build {time.perf_counter() - t1:.1f}s")  # shown with -s
    return tag


class Container:
    def __init__(self, image: str, *args: str, options: tuple[str, ...] = DOCKER_RUN_OPTIONS, volumes=()):
        cmd = ["docker", "run", "-d", "--network", "host", *options]
        for host, inside in volumes:
            cmd += ["-v", f"{host}:{inside}:ro"]
        done = subprocess.run([*cmd, image, *args], capture_output=True, text=True, check=True)
        self.id = done.stdout.strip()

    def logs(self) -> str:
        done = subprocess.run(["docker", "logs", self.id], capture_output=True, text=True)
        return done.stdout + done.stderr

    def wait_healthy(self, url: str, headers=None, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", headers=headers, timeout=2).status_code in (200, 401):
                    return
            except httpx.HTTPError:
                pass
            state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", self.id], capture_output=True)
            assert state.stdout.strip() == b"true", self.logs()
            time.sleep(0.3)
        raise AssertionError(f"no server at {url} after {timeout}s:\n{self.logs()}")

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.id], capture_output=True)


def play_stdio(env) -> None:
    """Oracle answers (from an in-process env) score 1 in the container's sandbox, a wrong one 0."""
    local = openenvs.make(STDIO)
    for seed in (0, 1):
        obs, _ = local.reset(seed=seed)
        remote_obs, _ = env.reset(seed=seed)
        assert remote_obs.messages == obs.messages
        result = env.step(local.oracle())
        assert result.reward == 1.0 and result.info["correct"] is True
    env.reset(seed=0)
    assert env.step("```python\nprint('wrong')\n```").reward == 0.0


@pytest.mark.docker
def test_built_image_serves_a_code_env_that_connect_plays(stdio_image):
    box = Container(stdio_image, "--host", "127.0.0.1", "--port", "18410")
    try:
        box.wait_healthy("http://127.0.0.1:18410")
        env = openenvs.connect("http://127.0.0.1:18410", STDIO)
        play_stdio(env)
        check_env(env)
        env.close()
        logs = box.logs()
        for layer in ("user_namespace", "pid_namespace", "network_namespace", "landlock", "seccomp"):
            assert layer in logs.split("layers active in this container:")[1].splitlines()[0], logs
    finally:
        box.stop()


def host_address() -> str:
    """This machine's address on its default route (not loopback), or 127.0.0.1 when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@pytest.mark.docker
def test_all_interfaces_need_the_token(stdio_image, tmp_path):
    import httpx

    token = secrets.token_urlsafe(24)
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o644)  # the server runs as uid 10001 in the container
    # no token: refused before anything starts
    refused = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", *DOCKER_RUN_OPTIONS, stdio_image, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "--token-file" in refused.stderr, refused.stderr
    box = Container(
        stdio_image,
        "--host",
        "0.0.0.0",
        "--port",
        "18411",
        "--token-file",
        TOKEN_PATH,
        volumes=[(token_file, TOKEN_PATH)],
    )
    try:
        url = f"http://{host_address()}:18411"
        box.wait_healthy(url)
        assert httpx.get(url + "/envs", timeout=5).status_code == 401
        assert (
            httpx.get(url + "/envs", headers={"Authorization": "Bearer wrong-token-123456"}, timeout=5).status_code
            == 401
        )
        with pytest.raises(openenvs.OpenEnvsError):
            openenvs.connect(url, STDIO, token="wrong-token-123456")
        env = openenvs.connect(url, STDIO, token=token)
        play_stdio(env)
        env.close()
    finally:
        box.stop()


@pytest.mark.docker
def test_without_the_options_the_server_refuses_to_start(stdio_image):
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", stdio_image, "--host", "127.0.0.1", "--port", "18412"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "refusing to serve code/stdio-v1" in done.stderr and " ".join(DOCKER_RUN_OPTIONS) in done.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_attack_suite_is_blocked_inside_the_container(stdio_image, tmp_path):
    """tests/sandbox/test_attacks.py (local backend) run inside the container, with the options we document."""
    wheels = tmp_path / "pytest-wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "pytest", "pip"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pip = next(wheels.glob("pip-*.whl")).name
    # Inside a user namespace the code is root of that namespace with no capability, so setuid(0) "succeeds"
    # as a no-op; the suite's check of that syscall is replaced by the no-privilege checks below.
    script = (
        f"python /w/{pip}/pip install -q --no-index --find-links /w --target /tmp/pt pytest && cd /src && "
        "PYTHONPATH=/tmp/pt python -m pytest -p no:cacheprovider -q -rfEs -k local tests/sandbox/test_attacks.py "
        "--deselect 'tests/sandbox/test_attacks.py::test_privilege_escalation_syscalls_fail[local]'"
    )
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *DOCKER_RUN_OPTIONS, "-e", "PYTHONDONTWRITEBYTECODE=1"]
        + ["-v", f"{REPO / 'tests'}:/src/tests:ro", "-v", f"{wheels}:/w:ro", "--entrypoint", "sh", stdio_image]
        + ["-c", script],
        capture_output=True,
        text=True,
        timeout=400,
    )
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    summary = re.search(r"(\d+) passed", tail)
    assert summary and int(summary.group(1)) >= 15 and "skipped" not in tail and "failed" not in tail, tail
    escalation = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('setuid', libc.setuid(0), 'uid', os.getuid())\n"
        "print('unshare', libc.unshare(0x10000000), 'mount', libc.mount(b'none', b'/mnt', b'tmpfs', 0, None))\n"
        "print('ptrace', libc.ptrace(16, 1, 0, 0), 'chown', libc.chown(b'/opt/openenvs/venv/bin/python', 0, 0))\n"
        "print('write', os.access('/opt/openenvs/venv/bin', os.W_OK), os.access('/etc/passwd', os.W_OK))\n"
    )
    check = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *DOCKER_RUN_OPTIONS, "--entrypoint", "python", stdio_image]
        + ["-c", f"from openenvs.sandbox import run; r = run({escalation!r}); print(r.stdout, r.stderr)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = check.stdout.splitlines()
    assert lines[0] == "setuid 0 uid 0", check.stdout + check.stderr  # already (namespace) root: a no-op
    assert lines[1] == "unshare -1 mount -1" and lines[2] == "ptrace -1 chown -1", check.stdout
    assert lines[3] == "write False False", check.stdout
