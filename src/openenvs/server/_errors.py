"""Errors of the server and of remote envs; all are `OpenEnvsError` subclasses.

- `ServerError`: a served call failed; the message names the server and the fix.
- `ConnectionLost` (a `ServerError`): the connection to the server dropped; the episode is lost.
- `SessionClosed`: the server closed the session (idle timeout, time limit, worker lost, shutdown).
- `ServerBusy`: the server is at ``--max-sessions``; retry later.
- `CallTimeout`: a make/reset/step ran past the server's per-call time limit.
- `WorkerLost`: the worker process holding the session died.
"""

from __future__ import annotations

from .._errors import OpenEnvsError

__all__ = ["CallTimeout", "ConnectionLost", "ServerBusy", "ServerError", "SessionClosed", "WorkerLost"]


class ServerError(OpenEnvsError):
    """A call to an openenvs (or OpenEnv) server failed."""


class ConnectionLost(ServerError):
    """The connection to the server dropped mid-session."""


class SessionClosed(ServerError):
    """The server closed this session (idle timeout, per-call time limit, worker lost or shutdown)."""


class ServerBusy(ServerError):
    """The server holds `--max-sessions` sessions; retry after a while."""


class CallTimeout(ServerError):
    """A reset or step ran past the server's per-call time limit."""


class WorkerLost(ServerError):
    """The worker process holding a session died or was stopped."""
