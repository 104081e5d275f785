"""OpenEnv's protocol on the openenvs server: ``WS /ws``, ``POST /mcp``, ``GET /schema``, ``GET /metadata``.

A bare OpenEnv connection (``/ws``, ``/mcp``) gets the server's OpenEnv env: the first served id,
or the one given with ``openenvs serve --openenv-env ID``. ``/openenv/{env_id}/ws`` and
``/openenv/{env_id}/mcp`` (so an OpenEnv client given ``base_url=http://host:port/openenv/<id>``)
reach any served id. Frames and the action/observation mapping are in `_openenv_wire`.
"""

# No `from __future__ import annotations`: FastAPI reads the route annotations at definition time.

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._errors import ServerBusy
from ._pool import RemoteFailure
from ._protocol import dumps
from ._sessions import Session, SessionManager

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["add_openenv_routes"]

_ACTION_SCHEMA = {
    "title": "OpenenvsAction",
    "type": "object",
    "description": "An assistant turn: {'message': text}, an assistant message {'content', 'tool_calls'}, "
    "or an MCP call {'type': 'call_tool', 'tool_name', 'arguments'}.",
    "properties": {"message": {"type": "string", "description": "The assistant's reply text."}},
}
_OBSERVATION_SCHEMA = {
    "title": "OpenenvsObservation",
    "type": "object",
    "properties": {
        "messages": {"type": "array", "description": "New chat messages (OpenAI format)."},
        "text": {"type": "string", "description": "The new messages' text, joined."},
        "tool_specs": {"type": "array", "description": "Tools on offer (OpenAI format)."},
        "info": {"type": "object"},
        "done": {"type": "boolean"},
        "reward": {"type": ["number", "null"]},
    },
}


def _oe_error(message: str, code: str) -> str:
    return dumps({"type": "error", "data": {"message": message, "code": code}})


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, RemoteFailure):
        return f"{exc.kind}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def add_openenv_routes(
    app: "FastAPI",
    manager: SessionManager,
    default_env: str,
    *,
    authorized: Callable[[Any], bool],
    denied: Callable[[], Any],
    read_json: Callable[[Any], Awaitable[Any]],
) -> None:
    """Add OpenEnv's routes to the FastAPI `app`."""
    from fastapi import Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import JSONResponse, Response

    async def ws_session(ws: WebSocket, env_id: str) -> None:
        if not authorized(ws.headers):
            await ws.close(code=1008, reason="missing or wrong bearer token (Authorization: Bearer ...)")
            return
        await ws.accept()
        owned = True
        session: Session | None = None
        try:
            attach = ws.query_params.get("session_id")
            if attach:
                session = manager.get(attach)
                owned = False
            else:
                session, _ = await manager.open(env_id, {}, "openenv")
        except ServerBusy as exc:
            await ws.send_text(_oe_error(str(exc), "CAPACITY_REACHED"))
            await ws.close(code=1013, reason=str(exc)[:120])
            return
        except Exception as exc:
            await ws.send_text(_oe_error(_error_message(exc), "SESSION_ERROR"))
            await ws.close(code=1011)
            return

        async def notify(code: int, reason: str) -> None:
            try:
                await ws.send_text(_oe_error(f"session closed: {reason}", "SESSION_ERROR"))
                await ws.close(code=code, reason=reason[:120])
            except Exception:  # already gone
                pass

        if owned:
            session.notify = notify
        try:
            while True:
                received = await ws.receive()
                if received["type"] == "websocket.disconnect":
                    break
                text = received.get("text")
                if text is None:
                    text = (received.get("bytes") or b"").decode("utf-8", "replace")
                try:
                    message = json.loads(text)
                    if not isinstance(message, dict):
                        raise ValueError("a frame must be a JSON object")
                    kind = message.get("type", "")
                except Exception as exc:  # any malformed frame
                    await ws.send_text(_oe_error(f"Invalid JSON: {exc}", "INVALID_JSON"))
                    continue
                try:
                    data = message.get("data") or {}
                    if not isinstance(data, dict):
                        raise ValueError("`data` must be an object")
                    if kind == "reset":
                        seed = data.get("seed")
                        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                            raise ValueError(f"`seed` must be an integer, got {seed!r}")
                        await ws.send_text(await manager.call(session, "reset", ("openenv", seed, None)))
                    elif kind == "step":
                        await ws.send_text(await manager.call(session, "step", ("openenv", data)))
                    elif kind == "state":
                        state = await manager.call(session, "state", None)
                        await ws.send_text(dumps({"type": "state", "data": state}))
                    elif kind == "close":
                        break
                    elif kind == "mcp":
                        await ws.send_text(dumps({"type": "mcp", "data": await rpc(data, session)}))
                    else:
                        await ws.send_text(_oe_error(f"Unknown message type: {kind}", "UNKNOWN_TYPE"))
                except WebSocketDisconnect:
                    raise
                except Exception as exc:
                    await ws.send_text(_oe_error(_error_message(exc), "EXECUTION_ERROR"))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if owned and session is not None:
                await manager.close(session, "the OpenEnv client disconnected")
            try:
                await ws.close()
            except Exception:  # already closed
                pass

    def rpc_result(request_id: Any, result: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    def rpc_error(request_id: Any, code: int, message: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}

    async def rpc(body: Any, session: Session | None, env_id: str = default_env) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            return rpc_error(None, -32600, "Invalid request: a JSON-RPC 2.0 object with a `method` is expected")
        method, request_id = body["method"], body.get("id")
        params = body.get("params") or {}
        if not isinstance(params, dict):
            return rpc_error(request_id, -32602, "Params must be an object")
        try:
            if method == "openenv/session/create":
                if session is not None:
                    return rpc_result(request_id, {"session_id": session.id})
                created, _ = await manager.open(env_id, {}, "mcp")
                return rpc_result(request_id, {"session_id": created.id})
            if method == "openenv/session/close":
                target = manager.sessions.get(str(params.get("session_id", "")))
                if target is None:
                    return rpc_error(request_id, -32602, f"Unknown session_id: {params.get('session_id')}")
                await manager.close(target, "closed by the MCP client")
                return rpc_result(request_id, {"session_id": target.id, "closed": True})
            temporary = None
            if session is None:
                if params.get("session_id"):
                    session = manager.get(str(params["session_id"]))
                else:
                    session = temporary = (await manager.open(env_id, {}, "mcp"))[0]
            try:
                if method == "tools/list":
                    return rpc_result(request_id, {"tools": await manager.call(session, "tools", None)})
                if method == "tools/call":
                    name = params.get("name")
                    if not isinstance(name, str):
                        return rpc_error(request_id, -32602, "Missing 'name' in params")
                    arguments = params.get("arguments") or {}
                    result = await manager.call(session, "call_tool", (name, arguments))
                    return rpc_result(request_id, result)
                return rpc_error(request_id, -32601, f"Method not found: {method}")
            finally:
                if temporary is not None:
                    await manager.close(temporary, "one-off MCP request done")
        except Exception as exc:
            return rpc_error(request_id, -32603, _error_message(exc))

    async def mcp_http(request: Request, env_id: str) -> Response:
        if not authorized(request.headers):
            denial: Response = denied()
            return denial
        try:
            body = await read_json(request)
        except ValueError as exc:
            return JSONResponse(rpc_error(None, -32700, str(exc)))
        return JSONResponse(await rpc(body, None, env_id))

    def metadata(env_id: str) -> dict[str, Any]:
        spec = manager.resolve(env_id)
        return {"name": spec.id, "description": spec.description, "version": str(spec.version), "author": "openenvs"}

    @app.websocket("/ws")
    async def openenv_ws(ws: WebSocket) -> None:
        await ws_session(ws, default_env)

    @app.websocket("/openenv/{env_id:path}/ws")
    async def openenv_ws_for(ws: WebSocket, env_id: str) -> None:
        await ws_session(ws, env_id)

    @app.post("/mcp")
    async def openenv_mcp(request: Request) -> Response:
        return await mcp_http(request, default_env)

    @app.post("/openenv/{env_id:path}/mcp")
    async def openenv_mcp_for(env_id: str, request: Request) -> Response:
        return await mcp_http(request, env_id)

    @app.get("/schema")
    async def schema() -> dict[str, Any]:
        return {"action": _ACTION_SCHEMA, "observation": _OBSERVATION_SCHEMA, "state": {"type": "object"}}

    @app.get("/metadata")
    async def get_metadata() -> dict[str, Any]:
        return metadata(default_env)
