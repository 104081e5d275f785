"""Drive an OpenEnv server (PyPI ``openenv`` 0.10) as an openenvs `Env`: `OpenEnvServerEnv`.

`openenvs.connect(url, env_id)` returns one when `url` is an OpenEnv server (it answers ``/schema``
and has no openenvs ``/envs``); `env_id` only names the env here (``namespace/name-vN``). One
OpenEnv WebSocket session (``/ws``) backs the env. How actions and observations map:

- **Reset.** ``{"type": "reset", "data": {"seed": seed}}``; the observation becomes one user message.
- **Text turn.** The text fills the action's only required string field (read from ``/schema``; the
  echo template's ``message``), i.e. ``{"message": text}``.
- **Tool turn.** When the server is an MCP tool env (its ``tools/list`` answers over the session),
  its tools are offered as openenvs tools; each call of an assistant message is sent as OpenEnv's
  ``{"type": "call_tool", "tool_name": ..., "arguments": {...}}`` and answered by a tool message
  (the call's result as text). A turn without tool calls on an MCP env ends the episode with
  reward 0 (there is no text action): finish through the env's own tools.
- **Observation.** The fields an observation adds (``done``, ``reward``, ``metadata`` aside) become
  the message text: the value itself when there is one string field, otherwise JSON.
  ``reward`` (None counts as 0.0), ``done`` -> ``terminated``; ``metadata`` -> ``info["metadata"]``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .._env import Env, action_text
from .._spec import EnvSpec
from .._types import Action, Message, Observation, StepResult, ToolSpec
from ._client import _arun, _lost, _run, http_url, ws_url
from ._errors import ConnectionLost, ServerError

__all__ = ["OpenEnvServerEnv", "is_openenv_server"]

_BASE_FIELDS = {"done", "reward", "metadata"}


def _get(url: str, token: str | None, timeout: float = 10.0) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own server URL
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectionLost(
            f"cannot reach a server at {url} ({exc}); start one with `openenvs serve ENV_ID --port PORT`"
        ) from None


def is_openenv_server(url: str, token: str | None = None) -> bool:
    """True when `url` is an OpenEnv server (it answers ``/schema`` but has no openenvs ``/envs``)."""
    base = http_url(url)
    status, _ = _get(base + "/envs", token)
    if status in (200, 401):
        return False
    status, _ = _get(base + "/schema", token)
    return status == 200


def _text_field(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    required = [p for p in schema.get("required") or [] if (props.get(p) or {}).get("type") == "string"]
    if len(required) == 1:
        return str(required[0])
    strings = [p for p, s in props.items() if isinstance(s, dict) and s.get("type") == "string"]
    return strings[0] if len(strings) == 1 else "message"


def _obs_text(obs: dict[str, Any]) -> str:
    fields = {k: v for k, v in obs.items() if k not in _BASE_FIELDS}
    if not fields and obs.get("metadata"):  # an env that puts everything in metadata (MCP envs often do)
        fields = dict(obs["metadata"])
    strings = [v for v in fields.values() if isinstance(v, str)]
    if len(fields) == 1 and len(strings) == 1:
        return strings[0]
    return json.dumps(fields, sort_keys=True, default=str)


def _result_text(result: Any) -> str:
    if isinstance(result, dict):
        if "data" in result and result["data"] is not None:
            data = result["data"]
            return data if isinstance(data, str) else json.dumps(data, default=str)
        content = result.get("content")
        if isinstance(content, list):
            return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        if "structured_content" in result and result["structured_content"] is not None:
            return json.dumps(result["structured_content"], default=str)
    return result if isinstance(result, str) else json.dumps(result, default=str)


class OpenEnvServerEnv(Env):
    """An env served by OpenEnv; see the module docs for the mapping."""

    def __init__(self, url: str, env_id: str = "openenv/env-v0", *, token: str | None = None, open_timeout: float = 10.0) -> None:
        """Remember the server; the session opens on first use."""
        self.url = http_url(url)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.open_timeout = open_timeout
        status, schema = _get(self.url + "/schema", token)
        if status != 200 or not isinstance(schema, dict):
            raise ServerError(f"{self.url}/schema answered HTTP {status}; is this an OpenEnv server?")
        self.text_field = _text_field(schema.get("action") or {})
        _, meta = _get(self.url + "/metadata", token)
        description = (meta or {}).get("description") or f"OpenEnv env served at {self.url}"
        self.spec = EnvSpec(
            id=env_id,
            entry_point="openenvs.server._openenv_client:OpenEnvServerEnv",
            description=str(description),
            license="NOASSERTION",
            kind="multi-turn",
            reward_range=(float("-inf"), float("inf")),
            kwargs={"url": self.url},
        )
        self.ws: Any = None
        self.tools_offered: list[ToolSpec] | None = None

    async def _ensure(self) -> None:
        if self.ws is not None:
            return
        from websockets.asyncio.client import connect as ws_connect

        try:
            self.ws = await ws_connect(
                ws_url(self.url, "/ws"), additional_headers=self.headers, open_timeout=self.open_timeout,
                max_size=64 << 20, ping_interval=None, close_timeout=2,
            )
        except Exception as exc:
            raise ConnectionLost(f"cannot reach the OpenEnv server at {self.url} ({exc})") from None
        if self.tools_offered is None:
            reply = await self._send({"type": "mcp", "data": {"jsonrpc": "2.0", "method": "tools/list", "params": {}, "id": 1}})
            result = (reply.get("data") or {}).get("result") or {}
            self.tools_offered = [
                ToolSpec(name=t["name"], description=t.get("description") or "",
                         parameters=t.get("input_schema") or t.get("inputSchema") or {"type": "object", "properties": {}})
                for t in result.get("tools") or []
            ]

    async def _send(self, frame: dict[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(json.dumps(frame))
            reply: dict[str, Any] = json.loads(await self.ws.recv())
        except (ConnectionClosed, OSError) as exc:
            self.ws = None
            raise _lost(self.url, exc) from None
        return reply

    async def _call(self, frame: dict[str, Any]) -> dict[str, Any]:
        reply = await self._send(frame)
        if reply.get("type") == "error":
            data = reply.get("data") or {}
            raise ServerError(f"the OpenEnv server at {self.url} said: {data.get('message')} (code {data.get('code')})")
        return dict(reply.get("data") or {})

    async def _reset(self, seed: int | None) -> tuple[Observation, dict[str, Any]]:
        await self._ensure()
        data = await self._call({"type": "reset", "data": {} if seed is None else {"seed": seed}})
        obs = data.get("observation") or {}
        message = Message(role="user", content=_obs_text(obs))
        return Observation(messages=[message], tools=list(self.tools_offered or [])), {"metadata": data.get("metadata") or {}}

    async def _step(self, action: Action) -> StepResult:
        if self.ws is None:
            raise ConnectionLost(f"the session with the OpenEnv server at {self.url} is closed; call reset()")
        calls = action.tool_calls if isinstance(action, Message) and action.tool_calls else []
        if self.tools_offered and not calls:
            return StepResult(Observation(), 0.0, True, False, {"correct": None, "reason": "a turn without a tool call"})
        if not calls:
            data = await self._call({"type": "step", "data": {self.text_field: action_text(action)}})
            obs = data.get("observation") or {}
            messages = [Message(role="user", content=_obs_text(obs))]
        else:
            messages = []
            for call in calls:
                data = await self._call(
                    {"type": "step", "data": {"type": "call_tool", "tool_name": call.name, "arguments": call.parsed_arguments()}}
                )
                obs = data.get("observation") or {}
                text = _result_text(obs.get("result")) if obs.get("error") is None else f"Error: {obs['error']}"
                messages.append(Message(role="tool", tool_call_id=call.id, name=call.name, content=text))
                if data.get("done"):
                    break
        reward = float(data.get("reward") or 0.0)
        info = {"correct": None, "metadata": data.get("metadata") or {}}
        return StepResult(Observation(messages=messages), reward, bool(data.get("done")), False, info)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Reset the OpenEnv env (``seed`` is passed on)."""
        return _run(self._reset(seed))

    def step(self, action: Action) -> StepResult:
        """One turn: text fills the action's text field; tool calls become OpenEnv ``call_tool`` steps."""
        return _run(self._step(action))

    async def areset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Async `reset`."""
        return await _arun(self._reset(seed))

    async def astep(self, action: Action) -> StepResult:
        """Async `step`."""
        return await _arun(self._step(action))

    async def _close(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            try:
                await ws.send('{"type":"close"}')
                await ws.close()
            except Exception:  # already closed
                pass

    def close(self) -> None:
        """Close the OpenEnv session."""
        if self.ws is not None:
            _run(self._close())
