"""The server's worker processes: where env instances live, so a hung call can be killed.

Each session is placed on the least loaded healthy worker. A call that runs past its time limit
fails with `CallTimeout`; its worker is then *tainted*: it takes no new sessions, a replacement is
started, and once no healthy session is left on it (or after `drain_s`) the whole process group is
killed, which stops the hung call and anything it started. A worker that dies fails its sessions
with `WorkerLost` (reported through `on_lost`) and is replaced.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from ._errors import CallTimeout, WorkerLost

__all__ = ["RemoteFailure", "Worker", "WorkerPool"]

logger = logging.getLogger(__name__)
_HEADER = struct.Struct("!I")


class RemoteFailure(Exception):
    """An exception raised inside the worker, carried back as (type name, message)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Worker:
    """One worker process and the calls in flight on it."""

    def __init__(self, index: int, proc: subprocess.Popen[bytes]) -> None:
        self.index = index
        self.proc = proc
        self.writer: _Channel | None = None
        self.pending: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        self.deadlines: dict[int, tuple[float, str, float]] = {}  # call id -> (deadline, op, limit)
        self.outbox: list[bytes] = []
        self.sessions: set[str] = set()
        self.hung: set[str] = set()
        self.tainted_at: float | None = None
        self.dead = False

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.proc.pid

    def kill(self) -> None:
        """Kill the worker's whole process group (the env's subprocesses too)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()


class WorkerPool:
    """`size` healthy worker processes, replaced when they die or hang."""

    def __init__(self, size: int, *, drain_s: float = 60.0, on_lost: Callable[[str], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"the server needs at least one worker, got --workers {size}")
        self.size = size
        self.drain_s = drain_s
        self.on_lost = on_lost
        self.workers: list[Worker] = []
        self._ids = itertools.count()
        self._indices = itertools.count()
        self._stopping = False
        self._watchdog: asyncio.Future[None] | None = None
        self.restarts = 0

    async def start(self) -> None:
        """Start the workers (in parallel) and the watchdog that enforces per-call time limits."""
        self.workers = list(await asyncio.gather(*(self._spawn() for _ in range(self.size))))
        self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            for worker in list(self.workers):
                for call_id, (deadline, op, limit) in list(worker.deadlines.items()):
                    if now >= deadline:
                        del worker.deadlines[call_id]
                        future = worker.pending.get(call_id)
                        if future is not None:
                            _expire(future, op, limit)

    async def _spawn(self) -> Worker:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "openenvs.server._worker", str(child.fileno())],
            pass_fds=[child.fileno()],
            start_new_session=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        child.close()
        worker = Worker(next(self._indices), proc)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: _Channel(worker, self._lost), sock=parent)
        return worker

    def _lost(self, worker: Worker) -> None:
        if worker.dead:
            return
        worker.dead = True
        worker.kill()
        asyncio.get_running_loop().run_in_executor(None, worker.proc.wait)  # reap it: no zombie left behind
        if worker.writer is not None:
            worker.writer.close()
        error = WorkerLost(f"worker process {worker.pid} exited")
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(error)
        worker.pending.clear()
        if worker in self.workers:
            self.workers.remove(worker)
        lost = list(worker.sessions)
        worker.sessions.clear()
        if self.on_lost is not None:
            for session in lost:
                self.on_lost(session)
        if not self._stopping and worker.tainted_at is None:
            self.restarts += 1
            asyncio.ensure_future(self._replace())

    async def _replace(self) -> None:
        try:
            self.workers.append(await self._spawn())
        except Exception:  # cannot start a worker: the next place() says so
            logger.exception("could not start a replacement worker")

    def place(self) -> Worker:
        """The healthy worker with the fewest sessions."""
        healthy = [w for w in self.workers if not w.dead and w.tainted_at is None]
        if not healthy:
            raise WorkerLost("no healthy worker process is running; the server is restarting its workers, retry")
        return min(healthy, key=lambda w: len(w.sessions) + len(w.pending) / 1e6)

    async def call(self, worker: Worker, op: str, session: str, arg: Any, timeout: float | None) -> Any:
        """Run `op` on `worker`; raise `CallTimeout`, `WorkerLost` or `RemoteFailure`."""
        if worker.dead:
            raise WorkerLost(f"worker process {worker.pid} is gone")
        loop = asyncio.get_running_loop()
        call_id = next(self._ids)
        future: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        worker.pending[call_id] = future
        data = pickle.dumps((call_id, op, session, arg), protocol=pickle.HIGHEST_PROTOCOL)
        if not worker.outbox:  # the frames of one loop iteration go out in one write
            loop.call_soon(_flush, worker)
        worker.outbox.append(_HEADER.pack(len(data)) + data)
        if timeout is not None:
            worker.deadlines[call_id] = (time.monotonic() + timeout, op, timeout)
        try:
            ok, payload = await future
        finally:
            worker.pending.pop(call_id, None)
            worker.deadlines.pop(call_id, None)
        if not ok:
            raise RemoteFailure(*payload)
        return payload

    def forget(self, worker: Worker, session: str) -> None:
        """The session left `worker` normally; a drained tainted worker is killed."""
        worker.sessions.discard(session)
        self._maybe_kill(worker)

    def mark_hung(self, worker: Worker, session: str) -> None:
        """A call of `session` hung on `worker`: taint it, start a replacement, kill it once drained."""
        worker.sessions.discard(session)
        worker.hung.add(session)
        if worker.tainted_at is None and not worker.dead:
            worker.tainted_at = time.monotonic()
            self.restarts += 1
            asyncio.ensure_future(self._replace())
            asyncio.get_running_loop().call_later(self.drain_s, self._drain_deadline, worker)
        self._maybe_kill(worker)

    def _drain_deadline(self, worker: Worker) -> None:
        if not worker.dead:
            logger.warning("killing worker %d: its hung call did not finish within %.0f s", worker.pid, self.drain_s)
            worker.kill()

    def _maybe_kill(self, worker: Worker) -> None:
        if worker.tainted_at is not None and not worker.sessions and not worker.dead:
            worker.kill()

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the workers' sockets (they close their envs and exit), then kill what is left."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        workers = list(self.workers)
        for worker in workers:
            if not worker.dead and worker.writer is not None:
                worker.writer.close()
        deadline = time.monotonic() + timeout
        for worker in workers:
            while worker.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            worker.kill()
            try:
                worker.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass


def _flush(worker: Worker) -> None:
    if worker.outbox and not worker.dead and worker.writer is not None:
        worker.writer.write(b"".join(worker.outbox))
    worker.outbox.clear()


class _Channel(asyncio.Protocol):
    """The server's end of a worker's socket: answers are parsed as they arrive and resolve their calls."""

    def __init__(self, worker: Worker, on_lost: Callable[[Worker], None]) -> None:
        self.worker = worker
        self.on_lost = on_lost
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.worker.writer = self

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pending = self.worker.pending
        start = 0
        end = len(buffer)
        while end - start >= 4:
            (size,) = _HEADER.unpack_from(buffer, start)
            if end - start - 4 < size:
                break
            call_id, ok, payload = pickle.loads(buffer[start + 4 : start + 4 + size])
            start += 4 + size
            future = pending.pop(call_id, None)
            if future is not None and not future.done():
                future.set_result((ok, payload))
        if start:
            del buffer[:start]

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost(self.worker)


def _expire(future: asyncio.Future[Any], op: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeout(f"{op} ran past the server's {timeout:g} s time limit (--call-timeout)"))
