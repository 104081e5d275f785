"""The FastAPI application: openenvs sessions, OpenEnv's protocol, health, manifests and metrics.

Routes:
  - ``WS /v1/session``: an openenvs session (frames in `openenvs.server._protocol`).
  - ``POST /v1/sessions``, ``POST /v1/sessions/{id}/reset``, ``.../step``, ``DELETE /v1/sessions/{id}``:
    the same over plain HTTP for simple clients.
  - ``GET /health``, ``GET /envs`` (manifests with fingerprints), ``GET /metrics`` (Prometheus text).
  - OpenEnv's protocol (`openenvs.server._openenv_wire`): ``WS /ws``, ``POST /mcp``, ``GET /schema``,
    ``GET /metadata``; a bare OpenEnv connection gets the server's OpenEnv env (the first served id
    unless ``--openenv-env`` says otherwise), and ``/openenv/{env_id}/ws`` (and ``/mcp``) reach any
    served id.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at definition time.

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .._errors import OpenEnvsError
from ._errors import CallTimeout, ServerBusy, SessionClosed, WorkerLost
from ._pool import RemoteFailure
from ._protocol import dumps, error_frame
from ._sessions import Session, SessionManager

__all__ = ["ServerSettings", "create_app"]

logger = logging.getLogger(__name__)

CAPACITY_CLOSE = 1013  # "try again later"
POLICY_CLOSE = 1008


class ServerSettings:
    """What `create_app` needs: the served ids and the limits (see `openenvs serve --help`)."""

    def __init__(
        self,
        env_ids: list[str],
        *,
        workers: int = 2,
        max_sessions: int = 1024,
        idle_timeout: float = 300.0,
        call_timeout: float = 120.0,
        token: str | None = None,
        max_frame_bytes: int = 1 << 20,
        openenv_env: str | None = None,
        drain_s: float = 60.0,
    ) -> None:
        if not env_ids:
            raise ValueError("serve at least one env id, e.g. openenvs serve math/arithmetic-v1")
        self.env_ids = list(env_ids)
        self.workers = workers
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.call_timeout = call_timeout
        self.token = token
        self.max_frame_bytes = max_frame_bytes
        self.openenv_env = openenv_env
        self.drain_s = drain_s


def _failure_frame(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, RemoteFailure):
        return error_frame(exc.kind, exc.message, "env_error")
    if isinstance(exc, CallTimeout):
        return error_frame("CallTimeout", str(exc) + "; the session is closed, open a new one", "timeout", fatal=True)
    if isinstance(exc, WorkerLost):
        return error_frame("WorkerLost", str(exc) + "; the session is closed, open a new one", "worker_lost", fatal=True)
    if isinstance(exc, ServerBusy):
        return error_frame("ServerBusy", str(exc), "capacity", fatal=True)
    if isinstance(exc, SessionClosed):
        return error_frame("SessionClosed", str(exc), "closed", fatal=True)
    if isinstance(exc, (OpenEnvsError, ValueError, TypeError, KeyError)):
        return error_frame(type(exc).__name__, str(exc), "bad_request")
    logger.exception("unexpected server error")
    return error_frame(type(exc).__name__, str(exc), "server_error")


def create_app(settings: ServerSettings) -> Any:
    """Build the FastAPI app serving `settings.env_ids` (starts its workers on startup)."""
    from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import JSONResponse, PlainTextResponse, Response

    manager = SessionManager(
        settings.env_ids,
        workers=settings.workers,
        max_sessions=settings.max_sessions,
        idle_timeout=settings.idle_timeout,
        call_timeout=settings.call_timeout,
        drain_s=settings.drain_s,
    )
    openenv_env = manager.resolve(settings.openenv_env).id if settings.openenv_env else manager.default_env
    token = settings.token.encode() if settings.token else None
    max_frame = settings.max_frame_bytes

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await manager.start()
        try:
            yield
        finally:
            await manager.shutdown()

    app = FastAPI(title="openenvs server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.manager = manager

    def authorized(headers: Any) -> bool:
        if token is None:
            return True
        value = headers.get("authorization", "")
        scheme, _, given = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)

    def denied() -> Response:
        return JSONResponse(
            {"error": "missing or wrong bearer token; send the header `Authorization: Bearer <token from --token-file>`"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def busy(exc: ServerBusy) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    async def read_json(request: Request) -> Any:
        body = await request.body()
        if len(body) > max_frame:
            raise ValueError(f"request body of {len(body)} bytes is over the server's limit of {max_frame} bytes")
        try:
            data = json.loads(body or b"{}")
        except Exception as exc:  # not JSON, not UTF-8, too deeply nested
            raise ValueError(f"request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        return data

    # ---- status ------------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "healthy",
            "sessions": len(manager.sessions),
            "max_sessions": manager.max_sessions,
            "workers": len(manager.pool.workers),
            "envs": list(manager.specs),
        }

    @app.get("/envs")
    async def envs(request: Request) -> Response:
        if not authorized(request.headers):
            return denied()
        listed = [{**s.model_dump(mode="json"), "fingerprint": s.fingerprint} for s in manager.specs.values()]
        return JSONResponse({"envs": listed, "default": manager.default_env, "openenv": openenv_env})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if not authorized(request.headers):
            return denied()
        text = manager.metrics.render(len(manager.sessions), len(manager.pool.workers), manager.pool.restarts)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    # ---- openenvs sessions over WebSocket ----------------------------------------------------

    @app.websocket("/v1/session")
    async def session_ws(ws: WebSocket) -> None:
        if not authorized(ws.headers):
            await ws.close(code=POLICY_CLOSE, reason="missing or wrong bearer token (Authorization: Bearer ...)")
            return
        await ws.accept()
        session: Session | None = None

        async def notify(code: int, reason: str) -> None:
            try:
                await ws.send_text(dumps(error_frame("SessionClosed", f"session closed: {reason}", "closed", fatal=True)))
                await ws.close(code=code, reason=reason[:120])
            except Exception:  # already gone
                pass

        try:
            while True:
                if session is None:  # a connection that never opens a session is closed after the idle timeout
                    try:
                        message = await asyncio.wait_for(ws.receive(), manager.idle_timeout)
                    except asyncio.TimeoutError:
                        await ws.close(code=4000, reason="no session opened within the idle timeout")
                        return
                else:
                    message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                try:
                    frame = json.loads(text)
                    kind = frame["type"]
                    if not isinstance(kind, str):
                        raise TypeError("`type` must be a string")
                except Exception as exc:  # any malformed frame (bad JSON, too deeply nested, no type)
                    manager.metrics.errors["bad_frame"] += 1
                    await ws.send_text(dumps(error_frame("ValueError", f"malformed frame ({exc!r}); send a JSON object with a `type`", "bad_frame")))
                    continue
                try:
                    if kind == "step":
                        if session is None:
                            raise ValueError("send an `open` frame before `step`")
                        await ws.send_text(await manager.call(session, "step", ("oe", frame.get("action", ""))))
                    elif kind == "reset":
                        if session is None:
                            raise ValueError("send an `open` frame before `reset`")
                        seed = frame.get("seed")
                        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                            raise ValueError(f"`seed` must be an integer or null, got {seed!r}")
                        options = frame.get("options")
                        if options is not None and not isinstance(options, dict):
                            raise ValueError("`options` must be an object or null")
                        await ws.send_text(await manager.call(session, "reset", ("oe", seed, options)))
                    elif kind == "open":
                        if session is not None:
                            raise ValueError("this connection already has a session; open another connection")
                        try:
                            session, info = await manager.open(str(frame.get("env_id", "")), frame.get("kwargs") or {}, "ws")
                        except ServerBusy as exc:
                            await ws.send_text(dumps(_failure_frame(exc)))
                            await ws.close(code=CAPACITY_CLOSE, reason=str(exc)[:120])
                            return
                        session.notify = notify
                        await ws.send_text(dumps({"type": "opened", "session": session.id, **info}))
                    elif kind == "close":
                        if session is not None:
                            await manager.close(session)
                            session = None
                        await ws.send_text('{"type":"closed"}')
                        await ws.close(code=1000)
                        return
                    elif kind == "tool":
                        if session is None:
                            raise ValueError("send an `open` frame first")
                        op = frame.get("op")
                        if op not in ("tool_specs", "transcript_append", "run_tool", "check", "oracle"):
                            raise ValueError(f"unknown tool op {op!r}")
                        result = await manager.call(session, op, frame.get("arg"))
                        await ws.send_text(dumps({"type": "tool", "result": result}))
                    elif kind == "ping":
                        await ws.send_text('{"type":"pong"}')
                    else:
                        raise ValueError(f"unknown frame type {kind!r}; use open, reset, step, close or ping")
                except WebSocketDisconnect:
                    raise
                except Exception as exc:
                    frame_out = _failure_frame(exc)
                    manager.metrics.errors[frame_out["error"]["code"]] += 1
                    await ws.send_text(dumps(frame_out))
                    if frame_out["error"]["fatal"]:
                        session = None
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if session is not None:
                await manager.close(session, "the client disconnected")

    # ---- openenvs sessions over HTTP ---------------------------------------------------------

    async def http_call(request: Request, sid: str, op: str) -> Response:
        if not authorized(request.headers):
            return denied()
        try:
            body = await read_json(request)
            session = manager.get(sid)
            if op == "reset":
                arg: Any = ("oe", body.get("seed"), body.get("options"))
            else:
                arg = ("oe", body.get("action", ""))
            text = await manager.call(session, op, arg)
            return Response(text, media_type="application/json")
        except Exception as exc:
            frame = _failure_frame(exc)
            manager.metrics.errors[frame["error"]["code"]] += 1
            status = {"closed": 404, "timeout": 504, "worker_lost": 502, "capacity": 503}.get(frame["error"]["code"], 400)
            return JSONResponse(frame, status_code=status)

    @app.post("/v1/sessions")
    async def http_open(request: Request) -> Response:
        if not authorized(request.headers):
            return denied()
        try:
            body = await read_json(request)
            session, info = await manager.open(str(body.get("env_id", "")), body.get("kwargs") or {}, "http")
        except ServerBusy as exc:
            return busy(exc)
        except Exception as exc:
            return JSONResponse(_failure_frame(exc), status_code=400)
        return JSONResponse({"type": "opened", "session": session.id, **info})

    @app.post("/v1/sessions/{sid}/reset")
    async def http_reset(sid: str, request: Request) -> Response:
        return await http_call(request, sid, "reset")

    @app.post("/v1/sessions/{sid}/step")
    async def http_step(sid: str, request: Request) -> Response:
        return await http_call(request, sid, "step")

    @app.delete("/v1/sessions/{sid}")
    async def http_close(sid: str, request: Request) -> Response:
        if not authorized(request.headers):
            return denied()
        session = manager.sessions.get(sid)
        if session is not None:
            await manager.close(session)
        return JSONResponse({"type": "closed"})

    from ._openenv_server import add_openenv_routes

    add_openenv_routes(app, manager, openenv_env, authorized=authorized, denied=denied, read_json=read_json)
    return app
