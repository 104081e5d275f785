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
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from .. import _errors
from .._env import Env
from .._spec import EnvSpec
from .._types import Action, Observation, StepResult
from ._errors import CallTimeout, ConnectionLost, ServerBusy, ServerError, SessionClosed, WorkerLost
from ._protocol import action_from_wire, action_to_wire, observation_from_wire, step_from_wire

__all__ = ["RemoteEnv", "aconnect", "connect", "http_url", "ws_url"]

T = TypeVar("T")
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


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """The client's own event loop (one daemon thread per process) where every connection lives.

    Remote envs are used from plain threads, from many short `asyncio.run` loops (PPO's rollout)
    and from long-lived loops (the Runner); keeping the sockets on one loop of our own makes a
    session independent of the caller's loop.
    """
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="openenvs-connect", daemon=True).start()
            _LOOP = loop
        return _LOOP


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the client loop and wait for it (from any thread but that loop's own)."""
    return asyncio.run_coroutine_threadsafe(coro, _loop()).result()


async def _arun(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` running on the client loop from the caller's loop."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, _loop()))


class _Connection:
    """One session's websocket, living on the client loop."""

    def __init__(self, url: str) -> None:
        self.where = url
        self.ws: Any = None

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

    async def close(self) -> None:
        try:
            await self.ws.send('{"type":"close"}')
            await self.ws.close()
        except Exception:  # already closed
            pass


class RemoteEnv(Env):
    """An env living on an openenvs server; made by `connect` (see the module docs).

    ``RemoteEnv`` is subclassed per server and id by `connect`, so ``type(env)(**kwargs)`` opens
    another session of the same env (as `check_env` does). Sync and async calls share one session.
    """

    url: ClassVar[str] = ""
    env_id: ClassVar[str] = ""
    headers: ClassVar[dict[str, str]] = {}
    open_timeout: ClassVar[float] = 10.0

    def __init__(self, **kwargs: Any) -> None:
        """Remember the env kwargs; the session opens on first use (or in `connect`)."""
        self.kwargs = kwargs
        self._conn: _Connection | None = None
        self._remote_spec: EnvSpec | None = None
        self._local_spec: EnvSpec | None = None
        self.fingerprint: str | None = None
        """The fingerprint the server reported for this env (with its kwargs)."""
        self._has_oracle = False

    @property
    def oracle(self) -> Callable[[], Action | None] | None:
        """The server-side env's ``oracle()`` (the next correct action), or None when it has none."""
        if not self._has_oracle:
            return None

        def oracle() -> Action | None:
            reply = _run(self._request({"type": "tool", "op": "oracle", "arg": None}, reopen=False))
            result = reply.get("result")
            return None if result is None else action_from_wire(result)

        return oracle

    @property
    def spec(self) -> EnvSpec | None:
        """The server's manifest of this env, kwargs included (once a session has opened)."""
        return self._remote_spec or self._local_spec

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self._local_spec = value

    async def _open(self) -> None:
        if self._conn is not None:
            return
        conn = _Connection(self.url)
        await conn.open(self.headers, self.open_timeout)
        try:
            reply = await conn.request({"type": "open", "env_id": self.env_id, "kwargs": self.kwargs})
        except BaseException:
            await conn.close()
            raise
        self._remote_spec = EnvSpec.model_validate(reply["spec"])
        self.fingerprint = reply.get("fingerprint")
        self._has_oracle = bool(reply.get("oracle"))
        self._conn = conn

    async def _request(self, frame: dict[str, Any], *, reopen: bool) -> dict[str, Any]:
        """Send a frame on the client loop; with `reopen`, a closed session is reopened once."""
        for attempt in (0, 1):
            if self._conn is None:
                if not reopen:
                    raise SessionClosed(f"the session on {self.url} is closed; call reset() to start a new episode")
                await self._open()
            assert self._conn is not None
            try:
                return await self._conn.request(frame)
            except (SessionClosed, ConnectionLost, CallTimeout, WorkerLost) as exc:
                conn, self._conn = self._conn, None
                await conn.close()
                if not reopen or attempt == 1 or isinstance(exc, CallTimeout):
                    raise
        raise AssertionError("unreachable")

    def open(self) -> None:
        """Open the session now; raises what the server says about the id or kwargs."""
        _run(self._open())

    async def aopen(self) -> None:
        """Async `open`."""
        await _arun(self._open())

    def _reset_frame(self, seed: int | None, options: dict[str, Any] | None) -> dict[str, Any]:
        return {"type": "reset", "seed": seed, "options": options}

    @staticmethod
    def _reset_result(reply: dict[str, Any]) -> tuple[Observation, dict[str, Any]]:
        return observation_from_wire(reply.get("observation")), dict(reply.get("info") or {})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Start an episode on the server (a closed session is reopened first)."""
        return self._reset_result(_run(self._request(self._reset_frame(seed, options), reopen=True)))

    def step(self, action: Action) -> StepResult:
        """Take one turn on the server; a dropped connection raises `ConnectionLost`."""
        frame = {"type": "step", "action": action_to_wire(action)}
        return step_from_wire(_run(self._request(frame, reopen=False)))

    async def areset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Async `reset`."""
        return self._reset_result(await _arun(self._request(self._reset_frame(seed, options), reopen=True)))

    async def astep(self, action: Action) -> StepResult:
        """Async `step`."""
        frame = {"type": "step", "action": action_to_wire(action)}
        return step_from_wire(await _arun(self._request(frame, reopen=False)))

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def close(self) -> None:
        """Close the session (its env is closed on the server); safe to call twice."""
        if self._conn is not None:
            _run(self._close())

    async def aclose(self) -> None:
        """Async `close`."""
        await _arun(self._close())

    def __repr__(self) -> str:
        return f"<RemoteEnv {self.env_id} at {self.url}>"


def _bind(url: str, env_id: str, token: str | None, open_timeout: float, kind: str = "") -> type[RemoteEnv]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    attrs = {"url": http_url(url), "env_id": env_id, "headers": headers, "open_timeout": open_timeout}
    if kind == "tools":
        from ._remote_tools import RemoteToolEnv

        return type("RemoteToolEnv", (RemoteToolEnv,), attrs)
    return type("RemoteEnv", (RemoteEnv,), attrs)


def _retype(env: RemoteEnv, token: str | None) -> RemoteEnv:
    """Give a tool env's session the `ToolEnv` surface (known once the server sent the manifest)."""
    spec = env.spec
    if spec is not None and spec.kind == "tools":
        from ._remote_tools import RemoteToolEnv

        if not isinstance(env, RemoteToolEnv):
            tool_env = _bind(env.url, env.env_id, token, env.open_timeout, "tools")(**env.kwargs)
            tool_env._conn = env._conn
            tool_env._remote_spec, tool_env.fingerprint = env._remote_spec, env.fingerprint
            tool_env._has_oracle = env._has_oracle
            return tool_env
    return env


def connect(url: str, env_id: str, *, token: str | None = None, open_timeout: float = 10.0, **kwargs: Any) -> Env:
    """Open a session of `env_id` on the server at `url` and return it as an `Env`.

    The kwargs go to the env on the server and are validated there, as `openenvs.make` does: a bad
    id or kwarg raises here (`EnvNotFound`, `ConfigError`). `token` is the server's bearer token
    (``--token-file``). An OpenEnv server (one that has no ``/envs``) is driven through
    `openenvs.server.OpenEnvServerEnv` instead; see docs/server.md for the action mapping.

    Example:
        >>> env = openenvs.connect("http://127.0.0.1:8000", "math/arithmetic-v1")  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    """
    from ._openenv_client import OpenEnvServerEnv, is_openenv_server

    if is_openenv_server(url, token):
        if kwargs:
            raise TypeError(f"an OpenEnv server takes no env kwargs; got {sorted(kwargs)}")
        return OpenEnvServerEnv(url, env_id, token=token, open_timeout=open_timeout)
    env = _bind(url, env_id, token, open_timeout)(**kwargs)
    env.open()
    return _retype(env, token)


async def aconnect(
    url: str, env_id: str, *, token: str | None = None, open_timeout: float = 10.0, **kwargs: Any
) -> Env:
    """Async `connect`: the session opens on the running event loop."""
    env = _bind(url, env_id, token, open_timeout)(**kwargs)
    await env.aopen()
    return _retype(env, token)
