"""`openenvs build`: a Dockerfile and an Apptainer definition that serve registered envs, from one plan.

The plan is a list of build steps (`Base`, `Copy`, `Run`, `SetEnv`, `User`, `Serve`); both files
are rendered from it, so they install the same things the same way. Python packages go in as
wheels built on the host (``pip wheel`` of openenvs with the envs' extras, into ``DIR/wheels``),
so building needs no package index, and the base is the registry-free Debian image of
`openenvs.sandbox.docker_engine` (Apptainer bootstraps the same Debian with debootstrap).

The image's entry point checks, before serving an env that runs code (tag ``sandbox``), that the
code sandbox keeps every required protection inside the container, and refuses to start, naming
the container options to use, when it does not; see docs/containers.md.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._errors import ConfigError, OpenEnvsError

__all__ = [
    "APPTAINER_FILE",
    "DOCKERFILE",
    "DOCKER_RUN_OPTIONS",
    "Base",
    "Copy",
    "Run",
    "Serve",
    "SetEnv",
    "Step",
    "User",
    "build_image",
    "image_extras",
    "plan",
    "render_apptainer",
    "render_dockerfile",
    "write_context",
]

logger = logging.getLogger(__name__)

Format = Literal["docker", "apptainer", "all"]
DOCKERFILE = "Dockerfile"
APPTAINER_FILE = "openenvs.def"
PREFIX = "/opt/openenvs"
VENV = f"{PREFIX}/venv"
WHEELS = f"{PREFIX}/wheels"
UID = 10001
TOKEN_PATH = "/run/secrets/openenvs-token"
DEFAULT_PORT = 8000
DOCKER_RUN_OPTIONS = ("--cap-add", "SYS_ADMIN", "--security-opt", "no-new-privileges")
"""What `docker run` needs for a served code env to keep its sandbox's namespaces (docs/containers.md).

Docker's default seccomp profile allows ``unshare``/``clone`` of namespaces only to containers
holding CAP_SYS_ADMIN. The server runs as an unprivileged user, so the capability is never
effective for it (no-new-privileges keeps setuid binaries from regaining it): it only lets the
sandbox create its user, PID, network and mount namespaces."""


@dataclass(frozen=True)
class Base:
    """The base system: Debian `suite` with `packages` (Docker: the image built from it; Apptainer: debootstrap)."""

    image: str
    suite: str
    mirror: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Copy:
    """Copy `src` (relative to the build folder) to `dst` in the image."""

    src: str
    dst: str


@dataclass(frozen=True)
class Run:
    """Run a shell command while building."""

    command: str


@dataclass(frozen=True)
class SetEnv:
    """Environment variables of the running container."""

    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class User:
    """Run the entry point as this unprivileged uid (Apptainer always runs as the calling user)."""

    uid: int


@dataclass(frozen=True)
class Serve:
    """The entry point (fixed argv) and its default arguments (replaced by any given at run time)."""

    argv: tuple[str, ...]
    defaults: tuple[str, ...] = field(default_factory=tuple)
    port: int = DEFAULT_PORT


Step = Base | Copy | Run | SetEnv | User | Serve


def image_extras(env_ids: list[str], extra: list[str] | None = None) -> list[str]:
    """The openenvs extras an image of these envs needs: server, each env's extras, code for sandboxed envs."""
    from .._api import spec

    extras = {"server", *(extra or [])}
    for env_id in env_ids:
        s = spec(env_id)
        extras.update(s.extras)
        if "sandbox" in s.tags:
            extras.add("code")  # pyseccomp: the sandbox's seccomp layer
    return sorted(extras)


def _base() -> Base:
    from ..sandbox import docker_engine

    mirror, suite = docker_engine._debian_source()
    return Base(docker_engine.DEFAULT_IMAGE, suite, mirror, tuple(docker_engine._PACKAGES))


def plan(
    env_ids: list[str],
    *,
    extras: list[str] | None = None,
    base: Base | None = None,
    port: int = DEFAULT_PORT,
    pip_wheel: str = "pip.whl",
) -> list[Step]:
    """The build steps of an image serving `env_ids` (ids are checked against the registry).

    Args:
        env_ids: Registered ids to serve (the first is what a bare OpenEnv client gets).
        extras: The openenvs extras to install; default `image_extras(env_ids)`.
        base: The base system; default the sandbox base image's recipe.
        port: The port the server listens on by default.
        pip_wheel: File name of the pip wheel in ``wheels/`` (pip runs from it; the base has no pip).
    """
    if not env_ids:
        raise ConfigError("openenvs build needs at least one env id, e.g. `openenvs build code/stdio-v1`.")
    extras = extras if extras is not None else image_extras(env_ids)
    requirement = f"openenvs[{','.join(extras)}]" if extras else "openenvs"
    install = (
        f"python3 -m venv --without-pip {VENV} && "
        f"{VENV}/bin/python {WHEELS}/{pip_wheel}/pip install --no-index --no-cache-dir --no-compile "
        f"--find-links {WHEELS} {shlex.quote(requirement)} && rm -rf {WHEELS}"
    )
    return [
        base or _base(),
        Copy("wheels", WHEELS),
        Run(install),
        Run(
            f"echo 'openenvs:x:{UID}:{UID}::/home/openenvs:/usr/sbin/nologin' >> /etc/passwd && "
            f"echo 'openenvs:x:{UID}:' >> /etc/group && mkdir -p /home/openenvs && chown {UID}:{UID} /home/openenvs"
        ),
        SetEnv((("PATH", f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin"), ("LANG", "C.UTF-8"), ("PYTHONUNBUFFERED", "1"))),
        User(UID),
        Serve(
            argv=(f"{VENV}/bin/python", "-m", "openenvs.server._build", "serve", *env_ids),
            defaults=("--host", "0.0.0.0", "--port", str(port), "--token-file", TOKEN_PATH),
            port=port,
        ),
    ]


def render_dockerfile(steps: list[Step]) -> str:
    """The Dockerfile of a plan."""
    lines = ["# Generated by `openenvs build` from the same steps as openenvs.def; edit the plan, not this file."]
    for step in steps:
        if isinstance(step, Base):
            lines.append(f"# base: Debian {step.suite} minbase + {' '.join(step.packages)}, built by")
            lines.append("#   python -m openenvs.sandbox.docker_engine   (debootstrap + docker import, no registry)")
            lines.append(f"FROM {step.image}")
        elif isinstance(step, Copy):
            lines.append(f"COPY {step.src} {step.dst}")
        elif isinstance(step, Run):
            lines.append(f"RUN {step.command}")
        elif isinstance(step, SetEnv):
            lines.append("ENV " + " ".join(f"{k}={shlex.quote(v)}" for k, v in step.values))
        elif isinstance(step, User):
            lines.append(f"USER {step.uid}")
        elif isinstance(step, Serve):
            lines.append(f"EXPOSE {step.port}")
            lines.append(f"ENTRYPOINT {json.dumps(list(step.argv))}")
            lines.append(f"CMD {json.dumps(list(step.defaults))}")
    return "\n".join(lines) + "\n"


def render_apptainer(steps: list[Step]) -> str:
    """The Apptainer (Singularity) definition of a plan; build it with ``apptainer build env.sif openenvs.def``."""
    header: list[str] = []
    files: list[str] = []
    post: list[str] = []
    environment: list[str] = []
    runscript: list[str] = []
    for step in steps:
        if isinstance(step, Base):
            header += [
                "Bootstrap: debootstrap",
                f"OSVersion: {step.suite}",
                f"MirrorURL: {step.mirror}",
                f"Include: {' '.join(step.packages)}",
            ]
        elif isinstance(step, Copy):
            files.append(f"    {step.src} {step.dst}")
        elif isinstance(step, Run):
            post.append(f"    {step.command}")
        elif isinstance(step, SetEnv):
            environment += [f"    export {k}={shlex.quote(v)}" for k, v in step.values]
        elif isinstance(step, User):
            runscript.append(f"    # Docker runs this as uid {step.uid}; Apptainer runs it as the calling user.")
        elif isinstance(step, Serve):
            runscript.append(f"    # Listens on port {step.port} unless told otherwise.")
            defaults = " ".join(shlex.quote(a) for a in step.defaults)
            runscript.append(f'    if [ "$#" -eq 0 ]; then set -- {defaults}; fi')
            runscript.append("    exec " + " ".join(shlex.quote(a) for a in step.argv) + ' "$@"')
    out = [
        "# Generated by `openenvs build` from the same steps as the Dockerfile; run `apptainer build`",
        "# from this folder (the %files paths are relative to it).",
        *header,
        "",
    ]
    for name, body in (("%files", files), ("%post", post), ("%environment", environment), ("%runscript", runscript)):
        if body:
            out += [name, *body, ""]
    return "\n".join(out)


def _pip_wheel_name(wheels: Path) -> str:
    found = sorted(wheels.glob("pip-*.whl"))
    if not found:
        raise OpenEnvsError(f"no pip wheel in {wheels}; `pip download --no-deps -d {wheels} pip` puts one there.")
    return found[-1].name


def _source_root() -> Path | None:
    """The source checkout openenvs runs from (to build its wheel), or None for an installed copy."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "openenvs").is_dir() else None


def download_wheels(extras: list[str], wheels: Path) -> list[str]:
    """Build/download wheels of openenvs with `extras` and every dependency, plus pip, into `wheels`."""
    wheels.mkdir(parents=True, exist_ok=True)
    root = _source_root()
    source = str(root) if root is not None else f"openenvs=={_version()}"
    target = f"{source}[{','.join(extras)}]" if extras else source
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    for cmd in (pip + ["wheel", "-w", str(wheels), target], pip + ["download", "--no-deps", "-d", str(wheels), "pip"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise OpenEnvsError(
                f"`{' '.join(cmd)}` failed (exit {done.returncode}); the host needs a package index (or pip's cache) "
                f"for the wheels. Output:\n{(done.stdout + done.stderr)[-1500:]}"
            )
    return sorted(p.name for p in wheels.glob("*.whl"))


def _version() -> str:
    from .. import __version__

    return __version__


def write_context(
    env_ids: list[str],
    out_dir: str | Path,
    *,
    formats: Format = "all",
    extras: list[str] | None = None,
    port: int = DEFAULT_PORT,
    wheels: bool = True,
) -> dict[str, Path]:
    """Write the build folder: Dockerfile and/or openenvs.def, and ``wheels/`` (unless `wheels` is False).

    Returns:
        The paths written, by kind (``dockerfile``, ``apptainer``, ``wheels``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = extras if extras is not None else image_extras(env_ids)
    written: dict[str, Path] = {}
    wheel_dir = out / "wheels"
    if wheels:
        download_wheels(chosen, wheel_dir)
        written["wheels"] = wheel_dir
    pip_wheel = _pip_wheel_name(wheel_dir) if wheel_dir.is_dir() else "pip.whl"
    steps = plan(env_ids, extras=chosen, port=port, pip_wheel=pip_wheel)
    if formats in ("docker", "all"):
        written["dockerfile"] = out / DOCKERFILE
        written["dockerfile"].write_text(render_dockerfile(steps))
    if formats in ("apptainer", "all"):
        written["apptainer"] = out / APPTAINER_FILE
        written["apptainer"].write_text(render_apptainer(steps))
    return written


def build_image(context: str | Path, tag: str, *, timeout: float = 900) -> str:
    """``docker build -t tag context`` on the local engine (started, and the base image built, if needed)."""
    from ..sandbox import docker_engine

    docker_engine.ensure_docker()
    done = subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(context)], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise OpenEnvsError(f"`docker build -t {tag} {context}` failed: {(done.stdout + done.stderr)[-2000:]}")
    return tag


# -- the container's entry point ------------------------------------------------------------------


def _preflight(env_ids: list[str]) -> tuple[str | None, list[str]]:
    """(why the envs must not be served here, or None; the sandbox layers active) for sandboxed envs."""
    from .._api import spec

    if not any("sandbox" in spec(e).tags for e in env_ids):
        return None, []
    from ..sandbox import capabilities

    caps = capabilities()
    active = [layer.name for layer in caps.local if layer.active]
    fix = f"Run the container with `docker run {' '.join(DOCKER_RUN_OPTIONS)} ...` (see docs/containers.md)"
    if caps.local_error or caps.missing:
        why = caps.local_error or "; ".join(caps.missing)
        return (
            f"refusing to serve {', '.join(env_ids)}: the code sandbox cannot isolate code in this container "
            f"({why}). {fix}, or run it under Apptainer with user namespaces enabled.",
            active,
        )
    if not {"user_namespace", "pid_namespace", "network_namespace"} & set(active):
        return (
            f"refusing to serve {', '.join(env_ids)}: the code sandbox would run without any namespace "
            f"(active: {', '.join(active)}). {fix}.",
            active,
        )
    return None, active


def main(argv: list[str] | None = None) -> int:
    """``python -m openenvs.server._build serve ENV_ID... [serve options]``: check the sandbox, then serve."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "serve":
        sys.stderr.write("usage: python -m openenvs.server._build serve ENV_ID... [openenvs serve options]\n")
        return 2
    env_ids = []
    for arg in args[1:]:  # the ids come first (fixed in the image's ENTRYPOINT), then serve's options
        if arg.startswith("-"):
            break
        env_ids.append(arg)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    reason, active = _preflight(env_ids)
    if reason is not None:
        sys.stderr.write(f"error: {reason}\n")
        return 3
    if active:
        sys.stderr.write(f"openenvs: code sandbox layers active in this container: {', '.join(active)}\n")
    exe = str(Path(sys.executable).with_name("openenvs"))
    os.execv(exe, [exe, *args])
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    raise SystemExit(main())
