"""Sessions: one env instance each, placed on a worker, closed on every way out.

A session ends when its client closes it or disconnects, when it stays idle past the idle
timeout (the reaper), when one of its calls runs past the per-call time limit, when its worker
dies, or at shutdown; each way calls the env's ``close()`` in its worker (a hung env's worker is
killed instead). At `max_sessions` a new session is refused with `ServerBusy`, never queued.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._api import registry
from .._errors import EnvNotFound, RegistryError
from .._spec import EnvSpec
from ._errors import CallTimeout, ServerBusy, SessionClosed, WorkerLost
from ._metrics import Metrics
from ._pool import Worker, WorkerPool

__all__ = ["Session", "SessionManager"]

logger = logging.getLogger(__name__)

Notify = Callable[[int, str], Awaitable[None]]


class Session:
    """One client's env instance on one worker."""

    __slots__ = ("busy", "close_reason", "closed", "env_id", "id", "kind", "last", "notify", "spec", "worker")

    def __init__(self, sid: str, spec: EnvSpec, worker: Worker, kind: str) -> None:
        self.id = sid
        self.spec = spec
        self.env_id = spec.id
        self.worker = worker
        self.kind = kind
        self.last = time.monotonic()
        self.busy = False
        self.closed = False
        self.close_reason = ""
        self.notify: Notify | None = None


class SessionManager:
    """All open sessions of a server, the worker pool and the idle reaper."""

    def __init__(
        self,
        env_ids: list[str],
        *,
        workers: int = 2,
        max_sessions: int = 1024,
        idle_timeout: float = 300.0,
        call_timeout: float = 120.0,
        drain_s: float = 60.0,
    ) -> None:
        self.specs: dict[str, EnvSpec] = {}
        for env_id in env_ids:
            spec = registry.spec(env_id)
            self.specs[spec.id] = spec
        self.default_env = next(iter(self.specs))
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.call_timeout = call_timeout
        self.metrics = Metrics()
        self.sessions: dict[str, Session] = {}
        self._opening = 0
        self.pool = WorkerPool(workers, drain_s=drain_s, on_lost=self._on_worker_lost)
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the workers and the idle reaper."""
        await self.pool.start()
        self._reaper = asyncio.ensure_future(self._reap_loop())

    def resolve(self, env_id: str) -> EnvSpec:
        """The spec of a served id (unversioned ids resolve to the latest version), or `EnvNotFound`."""
        spec = self.specs.get(env_id)
        if spec is not None:
            return spec
        try:
            resolved = registry.resolve(env_id)
        except RegistryError:
            resolved = env_id
        spec = self.specs.get(resolved)
        if spec is None:
            served = ", ".join(f"`{i}`" for i in self.specs)
            raise EnvNotFound(
                f"This server does not serve `{env_id}`; it serves {served}. "
                f"Connect to one of those, or start a server for it: openenvs serve {env_id}"
            )
        return spec

    def open_count(self) -> int:
        """Sessions open or being opened."""
        return len(self.sessions) + self._opening

    async def open(self, env_id: str, kwargs: dict[str, Any], kind: str) -> tuple[Session, dict[str, Any]]:
        """Make the env of a new session; returns the session and ``{"spec", "fingerprint"}``."""
        if self.open_count() >= self.max_sessions:
            self.metrics.refused_total += 1
            raise ServerBusy(
                f"the server holds its maximum of {self.max_sessions} sessions (--max-sessions); retry later"
            )
        spec = self.resolve(env_id)
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ValueError("`kwargs` must be a JSON object of keyword arguments for the env")
        self._opening += 1
        try:
            worker = self.pool.place()
            sid = secrets.token_hex(12)
            worker.sessions.add(sid)
            session = Session(sid, spec, worker, kind)
            try:
                result = await self._call(session, "open", (spec.model_dump(mode="json"), kwargs))
            except BaseException:
                self.pool.forget(worker, sid)
                raise
        finally:
            self._opening -= 1
        self.sessions[sid] = session
        self.metrics.sessions_total += 1
        return session, result

    def get(self, sid: str) -> Session:
        """An open session by id, or `SessionClosed`."""
        session = self.sessions.get(sid)
        if session is None:
            raise SessionClosed(f"session {sid} is not open on this server (closed, reaped or never opened)")
        return session

    async def _call(self, session: Session, op: str, arg: Any) -> Any:
        worker = session.worker
        session.busy = True
        start = time.perf_counter()
        try:
            return await self.pool.call(worker, op, session.id, arg, self.call_timeout)
        except CallTimeout:
            self.pool.mark_hung(worker, session.id)
            self._drop(session, f"its {op} ran past the {self.call_timeout:g} s time limit")
            raise
        except WorkerLost:
            self._drop(session, "its worker process died")
            raise
        finally:
            session.busy = False
            session.last = time.monotonic()
            self.metrics.observe(op, session.env_id, time.perf_counter() - start)

    async def call(self, session: Session, op: str, arg: Any) -> Any:
        """Run `op` (reset, step, tools, call_tool, state) on the session's env."""
        if session.closed:
            raise SessionClosed(f"session {session.id} was closed: {session.close_reason}")
        return await self._call(session, op, arg)

    def _drop(self, session: Session, reason: str) -> None:
        session.closed = True
        session.close_reason = reason
        self.sessions.pop(session.id, None)

    async def close(self, session: Session, reason: str = "closed by the client") -> None:
        """Close a session and its env (idempotent)."""
        if session.closed:
            return
        self._drop(session, reason)
        worker = session.worker
        if not worker.dead:
            try:
                await self.pool.call(worker, "close", session.id, None, self.call_timeout)
            except CallTimeout:
                self.pool.mark_hung(worker, session.id)
                return
            except Exception as exc:  # the env's close() raised: log, the session is gone anyway
                logger.warning("closing session %s of %s: %s", session.id, session.env_id, exc)
        self.pool.forget(worker, session.id)

    def _on_worker_lost(self, sid: str) -> None:
        session = self.sessions.get(sid)
        if session is None:
            return
        self._drop(session, "its worker process died")
        if session.notify is not None:
            asyncio.ensure_future(session.notify(1011, "the worker process holding this session died; reconnect"))

    async def _reap_loop(self) -> None:
        period = max(0.05, min(1.0, self.idle_timeout / 4))
        while True:
            await asyncio.sleep(period)
            deadline = time.monotonic() - self.idle_timeout
            for session in [s for s in self.sessions.values() if not s.busy and s.last < deadline]:
                self.metrics.reaped_total += 1
                if session.notify is not None:
                    await session.notify(4000, f"idle for more than {self.idle_timeout:g} s (--idle-timeout)")
                await self.close(session, f"idle for more than {self.idle_timeout:g} s")

    async def shutdown(self) -> None:
        """Close every session (their clients hear 1001 'server shutting down'), then stop the workers."""
        if self._reaper is not None:
            self._reaper.cancel()
        sessions = list(self.sessions.values())
        for session in sessions:
            if session.notify is not None:
                try:
                    await session.notify(1001, "the server is shutting down")
                except Exception:  # the client is already gone
                    pass
        await asyncio.gather(*(self.close(s, "the server shut down") for s in sessions), return_exceptions=True)
        await self.pool.stop()
