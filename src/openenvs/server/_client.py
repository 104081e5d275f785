"""`connect`: an env served by `openenvs serve` (or by an OpenEnv server) as a local `openenvs.Env`.

The remote env is a real `Env`: ``reset``/``step`` (blocking) and ``areset``/``astep`` (asyncio)
each speak to the server over one WebSocket session, opened lazily and reopened by ``reset`` when
the server closed it (idle timeout, restart), so env objects that live across training steps keep
working. A dropped connection mid-episode raises `ConnectionLost` naming the server; errors raised
by the env on the server come back as the same exception types (`ConfigError`, `ResetNeeded`, ...).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, ClassVar

from .. import _errors
from .._env import Env
from .._spec import EnvSpec
from .._types import Action, Observation, StepResult
from ._errors import CallTimeout, ConnectionLost, ServerBusy, ServerError, SessionClosed, WorkerLost
from ._protocol import action_to_wire, observation_from_wire, step_from_wire

__all__ = ["RemoteEnv", "aconnect", "connect", "http_url", "ws_url"]

_MAX_FRAME = 64 << 20
_ERRORS: dict[str, type[Exception]] = {
    "CallTimeout": CallTimeout,
    "ServerBusy": ServerBusy,
    "SessionClosed": SessionClosed,
    "WorkerLost": WorkerLost,
    "ValidationError": _errors.ConfigError,
    "ValueError": ValueError,
    "TypeError": TypeError,
}
_SERVER_CLOSED = {1001, 1011, 1012, 1013, 4000}


def http_url(url: str) -> str:
    """The server's base URL with an http(s) scheme and no trailing slash."""
    url = url.rstrip("/")
    if url.startswith("ws://"):
        return "http://" + url[5:]
    if url.startswith("wss://"):
        return "https://" + url[6:]
    if "://" not in url:
        return "http://" + url
    return url


def ws_url(url: str, path: str) -> str:
    """The WebSocket URL of `path` on the server at `url`."""
    base = http_url(url)
    return ("wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]) + path


def _raise_error(frame: dict[str, Any], where: str) -> None:
    error = frame.get("error") or {}
    kind, message = str(error.get("type", "ServerError")), str(error.get("message", "unknown error"))
    cls = _ERRORS.get(kind) or getattr(_errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = ServerError
        message = f"{kind}: {message}"
    raise cls(f"{message} (from the openenvs server at {where})")


def _lost(where: str, exc: BaseException | None) -> ServerError:
    code = getattr(getattr(exc, "rcvd", None), "code", None)
    reason = getattr(getattr(exc, "rcvd", None), "reason", "") or ""
    if code in _SERVER_CLOSED:
        return SessionClosed(
            f"the openenvs server at {where} closed the session (code {code}: {reason or 'no reason given'}); "
            "call reset() to open a new one"
        )
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    return ConnectionLost(
        f"lost the connection to the openenvs server at {where}{detail}; the episode is lost. "
        "Check that the server is running (openenvs serve ...), then call reset() to start a new episode."
    )


class _SyncTransport:
    """One session over a blocking websocket (`websockets.sync`)."""

    def __init__(self, url: str, headers: dict[str, str], open_timeout: float) -> None:
        import inspect

        from websockets.sync.client import connect as ws_connect

        self.where = url
        # websockets >= 17 warns unless a direct (non-`with`) connection says so.
        legacy = {"legacy": True} if "legacy" in inspect.signature(ws_connect).parameters else {}
        opener: Any = ws_connect
        try:
            self.ws = opener(
                ws_url(url, "/v1/session"),
                additional_headers=headers,
                max_size=_MAX_FRAME,
                open_timeout=open_timeout,
                close_timeout=2,
                ping_interval=None,
                **legacy,
            )
        except Exception as exc:
            raise ConnectionLost(
                f"cannot reach an openenvs server at {url} ({type(exc).__name__}: {exc}); "
                "start one with `openenvs serve ENV_ID --port PORT`, or check the URL and --token-file"
            ) from None

    def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            self.ws.send(json.dumps(frame))
            reply = json.loads(self.ws.recv())
        except ConnectionClosed as exc:
            raise _lost(self.where, exc) from None
        except OSError as exc:
            raise _lost(self.where, exc) from None
        if reply.get("type") == "error":
            _raise_error(reply, self.where)
        return reply  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self.ws.send('{"type":"close"}')
            self.ws.close()
        except Exception:  # already closed
            pass


class _AsyncTransport:
    """One session over an asyncio websocket (`websockets.asyncio`)."""

    def __init__(self, url: str) -> None:
        self.where = url
        self.ws: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def open(self, headers: dict[str, str], open_timeout: float) -> None:
        from websockets.asyncio.client import connect as ws_connect

        try:
            self.ws = await ws_connect(
                ws_url(self.where, "/v1/session"),
                additional_headers=headers,
                max_size=_MAX_FRAME,
                open_timeout=open_timeout,
                close_timeout=2,
                ping_interval=None,
            )
        except Exception as exc:
            raise ConnectionLost(
                f"cannot reach an openenvs server at {self.where} ({type(exc).__name__}: {exc}); "
                "start one with `openenvs serve ENV_ID --port PORT`, or check the URL and --token-file"
            ) from None
        self.loop = asyncio.get_running_loop()

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(json.dumps(frame))
            reply = json.loads(await self.ws.recv())
        except ConnectionClosed as exc:
            raise _lost(self.where, exc) from None
        except OSError as exc:
            raise _lost(self.where, exc) from None
        if reply.get("type") == "error":
            _raise_error(reply, self.where)
        return reply  # type: ignore[no-any-return]

    def in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    async def aclose(self) -> None:
        try:
            await self.ws.send('{"type":"close"}')
            await self.ws.close()
        except Exception:  # already closed
            pass

    def abort(self) -> None:
        """Drop the connection from outside its loop (the server then closes the session)."""
        transport = getattr(self.ws, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RemoteEnv(Env):
    """An env living on an openenvs server; made by `connect` (see the module docs).

    ``RemoteEnv`` is subclassed per server and id by `connect`, so ``type(env)(**kwargs)`` opens
    another session of the same env (as `check_env` does).
    """

    url: ClassVar[str] = ""
    env_id: ClassVar[str] = ""
    headers: ClassVar[dict[str, str]] = {}
    open_timeout: ClassVar[float] = 10.0

    def __init__(self, **kwargs: Any) -> None:
        """Remember the env kwargs; the session opens on first use (or in `connect`)."""
        self.kwargs = kwargs
        self._sync: _SyncTransport | None = None
        self._async: _AsyncTransport | None = None
        self._remote_spec: EnvSpec | None = None
        self._local_spec: EnvSpec | None = None
        self.fingerprint: str | None = None
        """The fingerprint the server reported for this env (with its kwargs)."""

    @property
    def spec(self) -> EnvSpec | None:
        """The server's manifest of this env, kwargs included (once a session has opened)."""
        return self._remote_spec or self._local_spec

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self._local_spec = value

    def _opened(self, reply: dict[str, Any]) -> None:
        self._remote_spec = EnvSpec.model_validate(reply["spec"])
        self.fingerprint = reply.get("fingerprint")

    def _open_frame(self) -> dict[str, Any]:
        return {"type": "open", "env_id": self.env_id, "kwargs": self.kwargs}

    # ---- sync ----------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the session now (blocking); raises what the server says about the id or kwargs."""
        self._drop_async()
        if self._sync is None:
            transport = _SyncTransport(self.url, self.headers, self.open_timeout)
            try:
                self._opened(transport.request(self._open_frame()))
            except BaseException:
                transport.close()
                raise
            self._sync = transport

    def _drop_async(self) -> None:
        if self._async is not None:
            self._async.abort()
            self._async = None

    def _sync_request(self, frame: dict[str, Any], *, reopen: bool) -> dict[str, Any]:
        for attempt in (0, 1):
            if self._sync is None:
                if not reopen and attempt == 0 and self._async is None:
                    raise SessionClosed(f"no session is open on {self.url}; call reset() first")
                self.open()
            assert self._sync is not None
            try:
                return self._sync.request(frame)
            except (SessionClosed, ConnectionLost, CallTimeout, WorkerLost) as exc:
                self._sync.close()
                self._sync = None
                if not reopen or attempt == 1 or isinstance(exc, CallTimeout):
                    raise
        raise AssertionError("unreachable")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Start an episode on the server (a closed session is reopened first)."""
        reply = self._sync_request({"type": "reset", "seed": seed, "options": options}, reopen=True)
        return observation_from_wire(reply.get("observation")), dict(reply.get("info") or {})

    def step(self, action: Action) -> StepResult:
        """Take one turn on the server; a dropped connection raises `ConnectionLost`."""
        if self._sync is None:
            if self._async is not None:
                raise RuntimeError("this episode was started with `await env.areset()`; use `await env.astep()`")
            raise SessionClosed(f"the session on {self.url} is closed; call reset() to start a new episode")
        return step_from_wire(self._sync_request({"type": "step", "action": action_to_wire(action)}, reopen=False))

    # ---- async ---------------------------------------------------------------------------------

    async def aopen(self) -> None:
        """Open the session now (asyncio)."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if self._async is not None and not self._async.in_loop():
            self._drop_async()
        if self._async is None:
            transport = _AsyncTransport(self.url)
            await transport.open(self.headers, self.open_timeout)
            try:
                self._opened(await transport.request(self._open_frame()))
            except BaseException:
                await transport.aclose()
                raise
            self._async = transport

    async def _async_request(self, frame: dict[str, Any], *, reopen: bool) -> dict[str, Any]:
        for attempt in (0, 1):
            if self._async is None or (reopen and not self._async.in_loop()):
                await self.aopen()
            assert self._async is not None
            try:
                return await self._async.request(frame)
            except (SessionClosed, ConnectionLost, CallTimeout, WorkerLost) as exc:
                await self._async.aclose()
                self._async = None
                if not reopen or attempt == 1 or isinstance(exc, CallTimeout):
                    raise
        raise AssertionError("unreachable")

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Async `reset`."""
        reply = await self._async_request({"type": "reset", "seed": seed, "options": options}, reopen=True)
        return observation_from_wire(reply.get("observation")), dict(reply.get("info") or {})

    async def astep(self, action: Action) -> StepResult:
        """Async `step`."""
        if self._async is None:
            if self._sync is not None:
                raise RuntimeError("this episode was started with env.reset(); use env.step()")
            raise SessionClosed(f"the session on {self.url} is closed; call `await env.areset()` first")
        frame = {"type": "step", "action": action_to_wire(action)}
        return step_from_wire(await self._async_request(frame, reopen=False))

    # ---- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the session (its env is closed on the server); safe to call twice."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if self._async is not None:
            if self._async.in_loop():
                asyncio.ensure_future(self._async.aclose())
            else:
                self._async.abort()
            self._async = None

    async def aclose(self) -> None:
        """Close the session (asyncio)."""
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()

    def __repr__(self) -> str:
        return f"<RemoteEnv {self.env_id} at {self.url}>"


def _bind(url: str, env_id: str, token: str | None, open_timeout: float) -> type[RemoteEnv]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    attrs = {"url": http_url(url), "env_id": env_id, "headers": headers, "open_timeout": open_timeout}
    return type("RemoteEnv", (RemoteEnv,), attrs)


def connect(url: str, env_id: str, *, token: str | None = None, open_timeout: float = 10.0, **kwargs: Any) -> Env:
    """Open a session of `env_id` on the server at `url` and return it as an `Env`.

    The kwargs go to the env on the server and are validated there, as `openenvs.make` does: a bad
    id or kwarg raises here (`EnvNotFound`, `ConfigError`). `token` is the server's bearer token
    (``--token-file``). An OpenEnv server (one that has no ``/envs``) is driven through
    `openenvs.server.OpenEnvEnv` instead; see docs/server.md for the action mapping.

    Example:
        >>> env = openenvs.connect("http://127.0.0.1:8000", "math/arithmetic-v1")  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    """
    env = _bind(url, env_id, token, open_timeout)(**kwargs)
    env.open()
    return env


async def aconnect(
    url: str, env_id: str, *, token: str | None = None, open_timeout: float = 10.0, **kwargs: Any
) -> Env:
    """Async `connect`: the session opens on the running event loop."""
    env = _bind(url, env_id, token, open_timeout)(**kwargs)
    await env.aopen()
    return env
