"""The worker process that holds env instances for the server (``python -m openenvs.server._worker FD``).

The server talks to each worker over a socket pair with length-prefixed pickled tuples:
``(call_id, op, session, arg)`` in, ``(call_id, ok, payload)`` out. Calls run on a small set of
threads that take turns reading the socket: a fast call runs on the thread that read it (no
hand-off), and when every thread has been busy for longer than `_SPILL_S` a watchdog adds one,
so a slow or hung env never stalls the other sessions of this worker. A hung call cannot be
stopped inside a thread; the server stops it by killing this whole process (its process group,
so an env's subprocesses go too) once no healthy session is left on it.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import struct
import sys
import threading
import time
from typing import Any

__all__ = ["main", "read_frame", "write_frame"]

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
_SPILL_S = 0.02


def write_frame(sock: socket.socket, obj: Any) -> None:
    """Send one pickled, length-prefixed frame."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _read_exactly(stream: Any, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("server closed the worker socket")
    return bytes(data)


def read_frame(stream: Any) -> Any:
    """Read one frame from a buffered binary stream."""
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


class _Worker:
    def __init__(self, sock: socket.socket) -> None:
        from ._handlers import Handlers

        self.sock = sock
        self.stream = sock.makefile("rb")
        self.handlers = Handlers()
        self.read_lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.alive = 0
        self.busy: dict[int, float] = {}  # thread id -> start of its current call
        self.stopping = False

    def spawn(self) -> None:
        with self.state_lock:
            self.alive += 1
        threading.Thread(target=self.run, daemon=True).start()

    def run(self) -> None:
        me = threading.get_ident()
        try:
            while not self.stopping:
                with self.read_lock:
                    try:
                        request = read_frame(self.stream)
                    except (EOFError, OSError):
                        self.stopping = True
                        return
                with self.state_lock:
                    self.busy[me] = time.monotonic()
                call_id, op, session, arg = request
                ok, payload = self.handlers.handle(op, session, arg)
                with self.write_lock:
                    try:
                        write_frame(self.sock, (call_id, ok, payload))
                    except OSError:
                        self.stopping = True
                        return
                with self.state_lock:
                    del self.busy[me]
                    if self.alive - len(self.busy) > 1:  # another thread is already waiting to read
                        return
        finally:
            with self.state_lock:
                self.alive -= 1
                self.busy.pop(me, None)

    def watch(self) -> None:
        """Add a reader thread whenever every thread has been busy longer than `_SPILL_S`."""
        while not self.stopping:
            time.sleep(_SPILL_S / 2)
            now = time.monotonic()
            with self.state_lock:
                starved = self.alive == len(self.busy) and all(now - t > _SPILL_S for t in self.busy.values())
            if starved:
                self.spawn()


def main(argv: list[str] | None = None) -> None:
    """Serve calls on the inherited socket whose file descriptor is ``argv[0]``."""
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    worker = _Worker(sock)
    worker.spawn()
    try:
        worker.watch()
    finally:
        worker.handlers.close_all()
        os._exit(0)


if __name__ == "__main__":
    main()
