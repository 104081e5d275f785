"""Sessions on the Docker backend: one container per session, calls over its attach stream.

The container is made exactly like a run's (`DockerBackend._create`: no network, read-only root,
whole-container limits, unprivileged uid); only its first program differs: it reads the request
(length-prefixed, so nothing of the first call is read ahead), writes the files, sets the
per-process limits and runs the code with the container's stdin and stdout as the session's
lines. Each call's time limit is enforced here; the container is removed when the session ends.
"""

from __future__ import annotations

import json
import select
import socket
import time
from typing import TYPE_CHECKING, Any

from ._types import ExecRequest, ExecResult

if TYPE_CHECKING:
    from ._docker import DockerBackend

__all__ = ["DockerSession"]

_SESSION_BOOT = r"""
import os, resource, sys
def _read(n):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            raise SystemExit(0)
        data += chunk
    return data
import json
_req = json.loads(_read(int(_read(12))))
os.chdir("/work")
for _name, _data in _req["files"].items():
    _path = os.path.normpath(_name)
    os.makedirs(os.path.dirname(_path) or ".", exist_ok=True)
    with open(_path, "wb") as _f:
        _f.write(_data.encode("latin-1"))
_cpu = int(float(_req["timeout"])) + 2
for _which, _value in ((resource.RLIMIT_CPU, _cpu), (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 256),
                       (resource.RLIMIT_FSIZE, int(_req["max_output_bytes"]))):
    resource.setrlimit(_which, (_value, _value))
sys.argv = ["main.py"]
sys.path.insert(0, "/work")
_code = compile(_req["code"], "main.py", "exec")
_main = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "/work/main.py"}
del _req, _read
exec(_code, _main)
"""


class DockerSession:
    """A `Session` in its own container (see `Sandbox.session`)."""

    def __init__(self, backend: DockerBackend, request: ExecRequest) -> None:
        """Create and start the container and send it the program."""
        self._backend = backend
        self._start = time.perf_counter()
        self._deadline = time.monotonic() + request.timeout
        self._cap = request.max_output_bytes
        self._raw = bytearray()
        self._out = bytearray()
        self._err = bytearray()
        self.ended: str | None = None
        self._result: ExecResult | None = None
        self._cid: str | None = None
        self._handle: Any = None
        self._sock: socket.socket | None = None
        try:
            self._cid = backend._create(request, command=["python3", "-I", "-S", "-c", _SESSION_BOOT])
            api = backend.client.api
            self._handle = api.attach_socket(self._cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self._sock = getattr(self._handle, "_sock", self._handle)
            api.start(self._cid)
            payload = json.dumps(request.to_wire()).encode()
            self._sock.sendall(b"%012d" % len(payload) + payload)
            self._sock.setblocking(False)
        except Exception as exc:  # noqa: BLE001 - docker.errors.APIError and connection errors
            self._end("sandbox_error", f"Docker error: {exc}")

    def call(self, line: str, timeout: float) -> str | None:
        """Send one line, return the program's reply line, or None once the program has ended."""
        if self.ended is not None or self._sock is None:
            return None
        sock = self._sock
        out = memoryview((line.rstrip("\n") + "\n").encode("utf-8"))
        deadline = min(time.monotonic() + max(timeout, 0.0), self._deadline)
        while True:
            newline = self._out.find(b"\n")
            if newline >= 0 and not out:
                reply = bytes(self._out[:newline])
                del self._out[: newline + 1]
                return reply.decode("utf-8", "replace")
            if len(self._out) > self._cap:
                self._end("reply_too_large")
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                self._end("timeout")
                return None
            try:
                readable, writable, _ = select.select([sock], [sock] if out else [], [], left)
                if writable:
                    out = out[sock.send(out) :]
                if readable:
                    chunk = sock.recv(1 << 16)
                    if not chunk:
                        self._end("exited")
                        return None
                    self._raw += chunk
                    self._demux()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                self._end("exited", f"the container's stream broke ({exc})")
                return None

    def _demux(self) -> None:
        raw = self._raw
        while len(raw) >= 8:
            size = int.from_bytes(raw[4:8], "big")
            if len(raw) < 8 + size:
                return
            if raw[0] == 2:
                if len(self._err) < self._cap:
                    self._err += raw[8 : 8 + size]
            else:
                self._out += raw[8 : 8 + size]
            del raw[: 8 + size]

    def _end(self, why: str, error: str | None = None) -> None:
        if self.ended is None:
            self.ended = why
        for closer in (self._sock, self._handle):
            try:
                if closer is not None:
                    closer.close()
            except Exception:  # noqa: BLE001
                pass
        self._sock = None
        exit_code = -9
        if self._cid is not None:
            if why == "exited":  # the program ended by itself: its own status
                try:
                    exit_code = int(self._backend.client.api.wait(self._cid, timeout=5)["StatusCode"])
                except Exception:  # noqa: BLE001 - engine slow or gone: report it as killed
                    pass
            self._backend._remove(self._cid)
            self._cid = None
        if self._result is None:
            duration = time.perf_counter() - self._start
            if error is not None:
                self._result = ExecResult.failure(error, backend="docker", duration_s=duration)
            else:
                stderr = self._err.decode("utf-8", "replace")
                killed = exit_code == -9
                self._result = ExecResult(
                    "", stderr, exit_code, why == "timeout", duration, signal=9 if killed else None, backend="docker"
                )
        return None

    def close(self) -> ExecResult:
        """Remove the container (if still there) and return how the session went."""
        self._end("closed")
        assert self._result is not None
        return self._result

    def __del__(self) -> None:
        if self._cid is not None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - best effort at garbage collection
                pass
