"""Sessions on backends that can only run a program to completion: replay every call.

`Sandbox.session` uses a backend's own ``open_session`` when it has one (the local backend keeps
one process up for the whole session, the docker backend one container). For any other backend, `ReplaySession` reruns the program
for each call with all the calls so far on its stdin and returns its last reply line: slower
(one run per call) but the same answers for a program that replies to each line in turn, depends
only on its inputs, and exits at the end of its input.
"""

from __future__ import annotations

from dataclasses import replace

from ._types import Backend, ExecRequest, ExecResult

__all__ = ["ReplaySession"]


class ReplaySession:
    """A `Session` over `Backend.execute`: one run per call, replaying the earlier calls."""

    def __init__(self, backend: Backend, request: ExecRequest) -> None:
        """Nothing runs until the first call."""
        self._backend = backend
        self._request = request
        self._lines: list[str] = []
        self._budget = 0.0
        self._last: ExecResult | None = None
        self.ended: str | None = None

    def call(self, line: str, timeout: float) -> str | None:
        """Rerun the program with every line so far; its reply to `line` is its last output line."""
        if self.ended is not None:
            return None
        self._lines.append(line.rstrip("\n"))
        self._budget = min(self._budget + max(timeout, 0.001), self._request.timeout)
        request = replace(self._request, stdin="\n".join(self._lines) + "\n", timeout=self._budget)
        result = self._backend.execute(request)
        self._last = result
        replies = result.stdout.split("\n")
        if len(replies) > len(self._lines) and not result.timed_out and result.error is None:
            return replies[len(self._lines) - 1]
        self.ended = "timeout" if result.timed_out else "sandbox_error" if result.error else "exited"
        return None

    def close(self) -> ExecResult:
        """How the last run went (an empty successful result when nothing ran)."""
        self.ended = self.ended or "closed"
        if self._last is None:
            return ExecResult("", "", 0, False, 0.0, backend=self._backend.name)
        return self._last
