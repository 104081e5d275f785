"""`Sandbox`, `run` and `capabilities`: the public face of the sandbox."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from .._errors import ConfigError, MissingDependency, SandboxError
from ._local import Launcher
from ._types import Backend, ExecRequest, ExecResult, Layer, Session

__all__ = ["BackendName", "Capabilities", "Sandbox", "capabilities", "default_sandbox", "run"]

logger = logging.getLogger(__name__)

BackendName = Literal["auto", "local", "docker"]
_BACKENDS = ("auto", "local", "docker")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"Sandbox `{name}` must be > 0, got {value!r}.")


def _normalize_files(files: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, data in (files or {}).items():
        norm = os.path.normpath(name)
        if not isinstance(name, str) or os.path.isabs(name) or norm.startswith("..") or norm in (".", ""):
            raise ConfigError(
                f"Sandbox file name {name!r} must be a relative path inside the work dir, e.g. 'data/input.txt'."
            )
        if isinstance(data, str):
            out[name] = data.encode()
        elif isinstance(data, bytes):
            out[name] = data
        else:
            raise ConfigError(f"Sandbox file {name!r} must be str or bytes, got {type(data).__name__}.")
    return out


class Sandbox:
    r"""A reusable pool for running untrusted Python code, many times and fast.

    Use it as a context manager (or call `close`) so its worker processes end::

        with Sandbox() as sb:
            result = sb.run("print(input()[::-1])", stdin="abc")
            assert result.stdout == "cba\n"

    Args:
        backend: ``"local"`` (warm isolated workers, the default choice of ``"auto"``),
            ``"docker"`` (a container per run), or ``"auto"`` (local when it can isolate code
            here, else Docker; never silently unisolated).
        workers: Parallel runs for the local backend; default: the CPU count.
        timeout: Default wall-clock limit per run, in seconds.
        memory_mb: Default memory limit per run, in MiB: for all its processes together where
            cgroups (local, v1) or the container (docker) allow, and per process always.
        max_processes: Process/thread limit per run (all its processes together).
        disk_mb: Default cap on what a run writes to its work dir, all files together, in MiB.
        max_output_bytes: Cap on stdout and on stderr (each); a run that exceeds it is killed.
        allow_unisolated: Let the local backend run even when a required protection
            (network, file system, process containment) is missing. Off by default.
        image: Docker image for the docker backend.
        disable: Local layers to turn off on purpose (benchmarks, tests).
        read_paths: Extra host paths the code may read (local backend).
        hide_paths: Host paths the code must not read even where their dir is readable, e.g. a
            dataset inside site-packages (local backend: covered with an empty mount).
        launcher: How local workers get their namespaces: ``"direct"`` (the worker makes them),
            ``"bwrap"`` (bubblewrap makes them; for unprivileged users on hosts where only bwrap
            may), or ``"auto"`` (direct, then bwrap if that isolates more).
    """

    def __init__(
        self,
        *,
        backend: BackendName = "auto",
        workers: int | None = None,
        timeout: float = 5.0,
        memory_mb: int = 512,
        max_processes: int = 64,
        max_output_bytes: int = 1 << 20,
        disk_mb: int = 128,
        allow_unisolated: bool = False,
        image: str | None = None,
        disable: Iterable[str] = (),
        read_paths: Iterable[str] = (),
        launcher: Launcher = "auto",
        hide_paths: Iterable[str] = (),
    ) -> None:
        """Validate the options; the backend starts on first use."""
        if backend not in _BACKENDS:
            raise ConfigError(f"Unknown sandbox backend {backend!r}; choose one of {', '.join(_BACKENDS)}.")
        for name, value in (
            ("timeout", timeout),
            ("memory_mb", memory_mb),
            ("max_processes", max_processes),
            ("disk_mb", disk_mb),
        ):
            _check_positive(name, value)
        _check_positive("max_output_bytes", max_output_bytes)
        if workers is not None:
            _check_positive("workers", workers)
        self.requested = backend
        self.workers = workers
        self.timeout = float(timeout)
        self.memory_mb = int(memory_mb)
        self.max_processes = int(max_processes)
        self.max_output_bytes = int(max_output_bytes)
        self.disk_mb = int(disk_mb)
        self.allow_unisolated = allow_unisolated
        self.image = image
        self.disable = tuple(disable)
        self.read_paths = tuple(read_paths)
        self.hide_paths = tuple(os.path.realpath(p) for p in hide_paths)
        self.launcher = launcher
        self._backend: Backend | None = None
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # -- backend -------------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        """The started backend (starting it now if needed)."""
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = self._start()
        return self._backend

    def _start(self) -> Backend:
        from ._local import LocalBackend

        if self.requested == "docker":
            return self._docker()
        if self.requested == "local":
            return LocalBackend(
                workers=self.workers,
                allow_unisolated=self.allow_unisolated,
                disable=self.disable,
                read_paths=self.read_paths,
                launcher=self.launcher,
                hide_paths=self.hide_paths,
            )
        try:  # auto: local when it isolates, else docker, else a clear error
            backend: Backend = LocalBackend(
                workers=self.workers,
                disable=self.disable,
                read_paths=self.read_paths,
                launcher=self.launcher,
                hide_paths=self.hide_paths,
            )
            logger.info("sandbox backend=auto chose local (layers: %s)", _on(backend.layers()))
            return backend
        except SandboxError as local_error:
            try:
                backend = self._docker()
            except (SandboxError, MissingDependency) as docker_error:
                if self.allow_unisolated:
                    logger.warning("sandbox: %s; running with partial isolation (allow_unisolated=True)", local_error)
                    return LocalBackend(
                        workers=self.workers,
                        allow_unisolated=True,
                        disable=self.disable,
                        read_paths=self.read_paths,
                        launcher=self.launcher,
                        hide_paths=self.hide_paths,
                    )
                raise SandboxError(
                    f"No isolated sandbox is available. Local: {local_error} Docker: {docker_error}"
                ) from None
            logger.info("sandbox backend=auto chose docker (local: %s)", local_error)
            return backend

    def _docker(self) -> Backend:
        from ._docker import DockerBackend

        return DockerBackend(image=self.image)

    def layers(self) -> list[Layer]:
        """The protection layers of the running backend."""
        return self.backend.layers()

    # -- running -------------------------------------------------------------------------------
    def request(
        self,
        code: str,
        *,
        stdin: str = "",
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        memory_mb: int | None = None,
        argv: Iterable[str] = (),
        return_files: Iterable[str] = (),
        disk_mb: int | None = None,
    ) -> ExecRequest:
        """Validate one run's inputs into an `ExecRequest` (defaults from this sandbox)."""
        if not isinstance(code, str):
            raise ConfigError(f"Sandbox code must be a str of Python source, got {type(code).__name__}.")
        if not isinstance(stdin, str):
            raise ConfigError(f"Sandbox stdin must be a str, got {type(stdin).__name__}.")
        timeout = self.timeout if timeout is None else float(timeout)
        memory_mb = self.memory_mb if memory_mb is None else int(memory_mb)
        disk_mb = self.disk_mb if disk_mb is None else int(disk_mb)
        _check_positive("timeout", timeout)
        _check_positive("memory_mb", memory_mb)
        _check_positive("disk_mb", disk_mb)
        wanted = tuple(return_files)
        _normalize_files(dict.fromkeys(wanted, b""))
        return ExecRequest(
            code=code,
            stdin=stdin,
            files=_normalize_files(files),
            timeout=timeout,
            memory_mb=memory_mb,
            max_processes=self.max_processes,
            max_output_bytes=self.max_output_bytes,
            disk_mb=disk_mb,
            argv=tuple(str(a) for a in argv),
            return_files=wanted,
        )

    def run(
        self,
        code: str,
        *,
        stdin: str = "",
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        memory_mb: int | None = None,
        argv: Iterable[str] = (),
        return_files: Iterable[str] = (),
        disk_mb: int | None = None,
    ) -> ExecResult:
        """Run Python `code` in the sandbox and return what happened.

        Args:
            code: Python source, run as ``__main__`` in a fresh work dir.
            stdin: Text fed to the program's standard input.
            files: Files to create in the work dir first (relative path -> content).
            timeout: Wall-clock limit in seconds (default: the sandbox's).
            memory_mb: Memory limit in MiB (default: the sandbox's).
            argv: Extra ``sys.argv`` entries.
            return_files: Work-dir files to read back into ``result.files``.
            disk_mb: Cap on what the run writes to its work dir, in MiB (default: the sandbox's).

        Returns:
            The `ExecResult`; a crash, timeout or kill is a result with ``ok == False``.
        """
        req = self.request(
            code,
            stdin=stdin,
            files=files,
            timeout=timeout,
            memory_mb=memory_mb,
            argv=argv,
            return_files=return_files,
            disk_mb=disk_mb,
        )
        try:
            backend = self.backend
        except (SandboxError, MissingDependency):
            raise
        return backend.execute(req)

    def session(
        self,
        code: str,
        *,
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        memory_mb: int | None = None,
        max_line_bytes: int | None = None,
        precompile: bool = False,
    ) -> Session:
        r"""Start `code` as a long-lived program that answers one stdout line per stdin line.

        Each `Session.call` sends a line and waits (at most its own timeout) for the reply line;
        a program that crashes, hangs or sends too much ends the session, and the call returns
        None. The local backend keeps one sandboxed process up for the whole session (on a
        worker it holds until the session ends), the docker backend one container; a backend
        without ``open_session`` reruns the program per call with the earlier lines replayed.
        Close the session (or let it end) to free the worker.

        Args:
            code: Python source of the program (run as ``__main__``).
            files: Files to create in its work dir first.
            timeout: Wall-clock limit of the whole session (default: the sandbox's).
            memory_mb: Address-space limit in MiB (default: the sandbox's).
            max_line_bytes: Longest reply line accepted (default: the output cap).
            precompile: Let the backend compile `code` once and reuse it across sessions. Only
                for your own fixed program, never model output: it is compiled outside the
                sandbox's limits.

        Example:
            >>> with Sandbox() as sb:  # doctest: +SKIP
            ...     s = sb.session("import sys
        for line in sys.stdin:
        print(line.upper(), end='', flush=True)")
            ...     s.call("abc", timeout=1.0)
            'ABC'
        """
        req = self.request(code, files=files, timeout=timeout, memory_mb=memory_mb)
        if max_line_bytes is not None:
            req = ExecRequest(**{**req.__dict__, "max_output_bytes": int(max_line_bytes)})
        backend = self.backend
        opener = getattr(backend, "open_session", None)
        if opener is not None:
            session: Session = opener(req, precompile=precompile)
            return session
        from ._session import ReplaySession

        return ReplaySession(backend, req)

    def run_many(self, requests: Iterable[ExecRequest]) -> list[ExecResult]:
        """Run many requests in parallel over the pool, results in input order."""
        reqs = list(requests)
        backend = self.backend
        if len(reqs) <= 1:
            return [backend.execute(r) for r in reqs]
        return list(self._pool().map(backend.execute, reqs))

    async def arun(self, code: str, **kwargs: object) -> ExecResult:
        """Async twin of `run` (runs in a thread, so many can be awaited at once)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), lambda: self.run(code, **kwargs))  # type: ignore[arg-type]

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                size = self.workers or os.cpu_count() or 1
                self._executor = ThreadPoolExecutor(max_workers=max(2, size * 2), thread_name_prefix="openenvs-sandbox")
            return self._executor

    def close(self) -> None:
        """Stop the backend's processes; safe to call twice."""
        with self._lock:
            backend, self._backend = self._backend, None
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        if backend is not None:
            backend.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        started = self._backend.name if self._backend is not None else "not started"
        return f"<Sandbox backend={self.requested} ({started})>"


def _on(layers: list[Layer]) -> str:
    return ", ".join(layer.name for layer in layers if layer.active) or "none"


_DEFAULTS: dict[tuple[str, bool, tuple[str, ...]], Sandbox] = {}
_DEFAULTS_LOCK = threading.Lock()


ALLOW_UNISOLATED_ENV = "OPENENVS_ALLOW_UNISOLATED"
"""Set to 1 to let the shared sandboxes (`run`, `default_sandbox`, the code envs) run unisolated code."""


def _default_sandbox(backend: BackendName, allow_unisolated: bool, hide_paths: Iterable[str] = ()) -> Sandbox:
    allow_unisolated = allow_unisolated or os.environ.get(ALLOW_UNISOLATED_ENV) == "1"
    hidden = tuple(sorted({os.path.realpath(p) for p in hide_paths}))
    key = (backend, allow_unisolated, hidden)
    with _DEFAULTS_LOCK:
        if key not in _DEFAULTS:
            if not _DEFAULTS:
                atexit.register(_close_defaults)
            _DEFAULTS[key] = Sandbox(backend=backend, allow_unisolated=allow_unisolated, hide_paths=hidden)
        return _DEFAULTS[key]


def default_sandbox(backend: BackendName = "auto", *, hide_paths: Iterable[str] = ()) -> Sandbox:
    """The process-wide shared `Sandbox` for `backend` (what `run` and the code envs use).

    It starts on first use and stops at interpreter exit; do not close it yourself. It refuses
    to run unisolated code unless the environment variable ``OPENENVS_ALLOW_UNISOLATED=1`` is set.
    `hide_paths` (e.g. the code envs' datasets) gives a shared sandbox of its own whose code cannot
    read those paths.
    """
    return _default_sandbox(backend, False, hide_paths)


def _close_defaults() -> None:
    with _DEFAULTS_LOCK:
        boxes = list(_DEFAULTS.values())
        _DEFAULTS.clear()
    for box in boxes:
        box.close()


def run(
    code: str,
    *,
    stdin: str = "",
    files: Mapping[str, str | bytes] | None = None,
    timeout: float = 5.0,
    memory_mb: int = 512,
    backend: BackendName = "auto",
    allow_unisolated: bool = False,
    argv: Iterable[str] = (),
    return_files: Iterable[str] = (),
) -> ExecResult:
    r"""Run Python `code` once in a sandbox; see `Sandbox.run` for the arguments.

    Uses a shared pool per backend, started on first call and stopped at exit, so repeated
    calls do not pay start-up.

    Example:
        >>> from openenvs.sandbox import run
        >>> run("print(6 * 7)").stdout  # doctest: +SKIP
        '42\n'
    """
    box = _default_sandbox(backend, allow_unisolated)
    return box.run(
        code, stdin=stdin, files=files, timeout=timeout, memory_mb=memory_mb, argv=argv, return_files=return_files
    )


@dataclass(frozen=True)
class Capabilities:
    """Which sandbox protections work on this machine."""

    local: list[Layer] = field(default_factory=list)
    """The local backend's layers, on or off with the reason."""
    local_error: str | None = None
    """Why the local backend cannot isolate code here, when it cannot."""
    missing: list[str] = field(default_factory=list)
    """Required protections the local backend lacks."""
    docker: bool = False
    """Whether a Docker engine is reachable."""
    docker_detail: str = ""
    """Engine version, or why Docker is unavailable."""
    launcher: str | None = None
    """How the local workers got their namespaces: "direct" or "bwrap" (None: local unavailable)."""

    @property
    def auto_backend(self) -> str | None:
        """What ``backend="auto"`` picks: "local", "docker" or None (nothing isolates)."""
        if not self.missing and self.local_error is None:
            return "local"
        return "docker" if self.docker else None


def capabilities() -> Capabilities:
    """Probe the sandbox layers available here (starts and stops one worker).

    Example:
        >>> caps = capabilities()  # doctest: +SKIP
        >>> [layer.name for layer in caps.local if not layer.active]  # doctest: +SKIP
        ['user_namespace']
    """
    from ._docker import docker_status
    from ._local import LocalBackend

    layers: list[Layer] = []
    missing: list[str] = []
    error = None
    launcher = None
    try:
        probe = LocalBackend(workers=1, allow_unisolated=True)
    except SandboxError as exc:
        error = str(exc)
    else:
        layers, missing, launcher = probe.layers(), list(probe.missing), probe.launcher
        probe.close()
    ok, detail = docker_status()
    return Capabilities(
        local=layers, local_error=error, missing=missing, docker=ok, docker_detail=detail, launcher=launcher
    )
