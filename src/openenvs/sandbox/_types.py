"""Results, requests and the backend protocol shared by every sandbox backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Backend", "ExecRequest", "ExecResult", "Layer", "Session"]


@dataclass(frozen=True)
class Layer:
    """One protection layer of a backend and whether it is on."""

    name: str
    """Short name, e.g. ``network_namespace`` or ``seccomp``."""
    active: bool
    """True when the layer protects the runs of this backend."""
    detail: str
    """What it does, or why it is off and how to turn it on."""


@dataclass(frozen=True)
class ExecRequest:
    """One program to run: the code, its inputs and its limits."""

    code: str
    stdin: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    timeout: float = 5.0
    memory_mb: int = 512
    max_processes: int = 64
    max_output_bytes: int = 1 << 20
    disk_mb: int = 128
    """Cap on everything the run writes to its work dir, all files and processes together, in MiB."""
    argv: tuple[str, ...] = ()
    return_files: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The JSON-able form sent to a worker (file bytes as latin-1 text, which round-trips exactly)."""
        return {
            "code": self.code,
            "stdin": self.stdin,
            "files": {name: data.decode("latin-1") for name, data in self.files.items()},
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
            "max_processes": self.max_processes,
            "max_output_bytes": self.max_output_bytes,
            "disk_mb": self.disk_mb,
            "argv": list(self.argv),
            "return_files": list(self.return_files),
        }


Status = Literal["ok", "error", "timeout", "killed", "output_limit", "sandbox_error"]


@dataclass(frozen=True)
class ExecResult:
    r"""What happened to one sandboxed run.

    A run that crashed, timed out or was killed is a result with ``ok == False``, never an
    exception; `error` is set only when the sandbox itself failed (the code may not have run).

    Example:
        >>> r = ExecResult(stdout="2\n", stderr="", exit_code=0, timed_out=False, duration_s=0.004)
        >>> r.ok, r.status
        (True, 'ok')
    """

    stdout: str
    """Standard output, decoded as UTF-8 (invalid bytes replaced), cut at the output cap."""
    stderr: str
    """Standard error, decoded and capped like `stdout`."""
    exit_code: int | None
    """Exit status; negative for a signal (``-9``: killed); None if the code never ran."""
    timed_out: bool
    """True when the wall-clock limit was reached and the run was killed."""
    duration_s: float
    """Wall-clock seconds the program ran."""
    signal: int | None = None
    """Signal that ended the program, if any (9: killed, 24: CPU limit, 25: output/file-size cap)."""
    output_truncated: bool = False
    """True when stdout or stderr reached the output cap."""
    cpu_s: float | None = None
    """CPU seconds used by the program and the children it waited for."""
    max_rss_kb: int | None = None
    """Peak resident memory in KiB."""
    backend: str = "local"
    """Which backend ran it."""
    error: str | None = None
    """Set when the sandbox failed (not the code): what went wrong."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Files asked for with ``return_files``, read back from the work dir after the run."""
    memory_exceeded: bool = False
    """True when the whole-run memory limit (all processes together) killed a process of the run."""
    limits: dict[str, str] = field(default_factory=dict)
    """How each whole-run limit (``memory``, ``processes``, ``disk``) was enforced for this run, or why only per process."""

    @property
    def ok(self) -> bool:
        """True when the program exited 0 within its limits."""
        return self.exit_code == 0 and not self.timed_out and self.error is None and not self.output_truncated

    @property
    def status(self) -> Status:
        """One word for the outcome: ok, error, timeout, killed, output_limit or sandbox_error."""
        if self.error is not None:
            return "sandbox_error"
        if self.timed_out:
            return "timeout"
        if self.output_truncated:
            return "output_limit"
        if self.signal is not None or (self.exit_code is not None and self.exit_code < 0):
            return "killed"
        return "ok" if self.exit_code == 0 else "error"

    @classmethod
    def failure(cls, error: str, *, backend: str, duration_s: float = 0.0, timed_out: bool = False) -> ExecResult:
        """A result for a run the sandbox could not complete."""
        return cls("", "", None, timed_out, duration_s, backend=backend, error=error)


class Backend(Protocol):
    """What a sandbox backend provides (local worker pool, Docker, or your own)."""

    name: str

    def execute(self, request: ExecRequest) -> ExecResult:
        """Run one request; never raise for a failure of the code itself."""
        ...

    def layers(self) -> list[Layer]:
        """The protection layers of this backend and whether each is on."""
        ...

    def close(self) -> None:
        """Stop every process and release every resource."""
        ...


class Session(Protocol):
    """A sandboxed program that stays up and answers one line per call (see `Sandbox.session`).

    The program reads request lines on stdin and writes one reply line per request on stdout.
    """

    ended: str | None
    """Why the program stopped answering (``timeout``, ``exited``, ``reply_too_large``,
    ``closed``, ``sandbox_error``), or None while it runs."""

    def call(self, line: str, timeout: float) -> str | None:
        """Send `line`; return the reply line, or None when the program ended instead (see `ended`)."""
        ...

    def close(self) -> ExecResult:
        """Stop the program (if it still runs) and return how its run went; safe to call twice."""
        ...
