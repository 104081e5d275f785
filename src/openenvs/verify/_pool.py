"""A pool of math-verify worker processes with a hard per-answer time limit.

math-verify's own timeout uses ``signal.alarm``, which works only in the main thread and cannot
interrupt a long C-level computation (a 10-million-digit power). Here each comparison runs in a
separate worker process; when one exceeds its time limit the worker is killed and replaced, and
the answer counts as wrong. The trainer's process never runs sympy and never blocks for longer than
the limit (plus a replacement's start-up when every worker had to be replaced).

Workers are plain subprocesses (``python _worker.py``) speaking JSON lines over pipes, so the pool
works from threads, from daemonic processes and after ``fork``; they start lazily on first use and
exit when their parent does (end of stdin, or the per-request CPU limit if they were busy).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import queue
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from .._errors import MissingDependency, OpenEnvsError
from .._proc import reap

__all__ = ["VerifyPool", "default_pool"]

logger = logging.getLogger(__name__)

_WORKER = Path(__file__).with_name("_worker.py")
_START_TIMEOUT = 120.0


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(_WORKER), str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buffer = b""
        self.ready = False
        self.started = time.monotonic()

    def send(self, request_id: int, pred: str, gold: str, cpu_seconds: float) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps([request_id, pred, gold, cpu_seconds]).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        return True

    def read_lines(self) -> list[list[object]] | None:
        """Complete lines available now; None when the worker has exited."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        except OSError:
            return None
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        reap(self.proc, "math-verify worker")


class VerifyPool:
    """Worker processes that run math-verify with a hard time limit per comparison.

    Args:
        workers: Number of worker processes (default: CPU count, at most 8).
        memory_mb: Address-space limit of each worker in MiB (0: no limit).

    Thread-safe: concurrent `map` calls share the workers. Call `close` (or rely on the exit hook of
    `default_pool`) to stop the workers.
    """

    def __init__(self, workers: int | None = None, *, memory_mb: int = 4096) -> None:
        """Create the pool; no process starts until the first `map`."""
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.size = workers or min(os.cpu_count() or 1, 8)
        self.memory_mb = memory_mb
        self._lock = threading.Lock()
        self._reset_state()

    def _reset_state(self) -> None:
        self._pid = os.getpid()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._started = 0
        self.timeouts = 0
        """Number of comparisons that hit the time limit so far."""

    def _checkout(self, wanted: int) -> list[_Worker]:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's pipes are not ours
                self._reset_state()
            workers: list[_Worker] = []
            while len(workers) < wanted:
                try:
                    workers.append(self._idle.get_nowait())
                except queue.Empty:
                    break
            while len(workers) < wanted and self._started < self.size:
                workers.append(self._spawn())
        if not workers:
            workers.append(self._idle.get())  # all busy in other threads: wait for one
        return workers

    def _spawn(self) -> _Worker:
        if importlib.util.find_spec("math_verify") is None:
            raise MissingDependency("math-verify", "math", purpose="checking math answers beyond plain numbers")
        self._started += 1
        return _Worker(self.memory_mb)

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        return _Worker(self.memory_mb)

    def map(self, pairs: Sequence[tuple[str, str]], timeout: float = 5.0) -> list[bool]:
        """Verify each ``(pred, gold)`` pair with math-verify; a pair over `timeout` seconds is False.

        Args:
            pairs: Answer strings (already extracted), prediction first.
            timeout: Seconds one comparison may take (start-up of a worker is not counted).

        Returns:
            One verdict per pair, in order.
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout}")
        if not pairs:
            return []
        results = [False] * len(pairs)
        workers = self._checkout(min(len(pairs), self.size))
        try:
            self._run(workers, pairs, results, timeout)
        finally:
            for worker in workers:
                self._idle.put(worker)
        return results

    def _run(
        self, workers: list[_Worker], pairs: Sequence[tuple[str, str]], results: list[bool], timeout: float
    ) -> None:
        pending = deque(range(len(pairs)))
        active: dict[int, tuple[int, float]] = {}  # worker slot -> (pair index, deadline)
        selector = selectors.DefaultSelector()
        for slot, worker in enumerate(workers):
            selector.register(worker.fd, selectors.EVENT_READ, slot)

        def dispatch(slot: int) -> None:
            worker = workers[slot]
            while pending and worker.ready:
                index = pending.popleft()
                if worker.send(index, *pairs[index], cpu_seconds=timeout + 2):
                    active[slot] = (index, time.monotonic() + timeout)
                    return
                pending.appendleft(index)
                restart(slot)

        def restart(slot: int) -> None:
            selector.unregister(workers[slot].fd)
            workers[slot] = self._replace(workers[slot])
            selector.register(workers[slot].fd, selectors.EVENT_READ, slot)

        try:
            for slot in range(len(workers)):
                dispatch(slot)
            while pending or active:
                now = time.monotonic()
                deadlines = [deadline for _, deadline in active.values()]
                starting = [w.started + _START_TIMEOUT for w in workers if not w.ready]
                wait = max(0.0, min(deadlines + starting, default=now + 1.0) - now)
                for key, _ in selector.select(wait):
                    slot = key.data
                    lines = workers[slot].read_lines()
                    if lines is None:  # the worker died (e.g. killed by the OS): the answer is wrong
                        if slot in active:
                            active.pop(slot)
                        restart(slot)
                        continue
                    for line in lines:
                        if line[0] == "ready":
                            workers[slot].ready = True
                        elif line[0] == "error":
                            raise MissingDependency("math-verify", "math", purpose=str(line[1]))
                        elif slot in active and active[slot][0] == line[0]:
                            results[int(str(line[0]))] = bool(line[1])
                            active.pop(slot)
                    if slot not in active:
                        dispatch(slot)
                now = time.monotonic()
                for slot, (index, deadline) in list(active.items()):
                    if now >= deadline:
                        self.timeouts += 1
                        logger.warning("math-verify exceeded %.1fs on pair %d; counting it as wrong", timeout, index)
                        active.pop(slot)
                        restart(slot)
                for slot, worker in enumerate(workers):
                    if not worker.ready and now >= worker.started + _START_TIMEOUT:
                        raise OpenEnvsError(
                            f"A math-verify worker did not start within {_START_TIMEOUT:.0f}s; "
                            "check that `python -c 'import math_verify'` works in this environment."
                        )
                    if slot not in active:
                        dispatch(slot)
        finally:
            selector.close()

    def close(self) -> None:
        """Stop every idle worker (workers busy in another thread stop when returned and closed again)."""
        with self._lock:
            if self._pid != os.getpid():
                self._reset_state()
                return
            while True:
                try:
                    self._idle.get_nowait().kill()
                except queue.Empty:
                    break
            self._started = 0

    def __enter__(self) -> VerifyPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_DEFAULT: VerifyPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool() -> VerifyPool:
    """Return the process-wide pool used by `math_equal` and `verify_batch` (created on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = VerifyPool(workers=int(os.environ.get("OPENENVS_VERIFY_WORKERS", "0")) or None)
            atexit.register(_DEFAULT.close)
        return _DEFAULT
