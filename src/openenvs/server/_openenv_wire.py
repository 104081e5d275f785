"""OpenEnv's wire format for openenvs envs (the server side of OpenEnv compatibility).

OpenEnv (PyPI ``openenv`` 0.10) clients send ``{"type": "reset"|"step"|"state"|"close", "data": {...}}``
to ``/ws`` and read ``{"type": "observation", "data": {"observation": {...}, "reward": r, "done": d,
"metadata": {...}}}``. This module maps both directions for an openenvs env:

Actions (the ``data`` of a step) may be
  - ``{"message": "text"}`` (OpenEnv's echo-template style) or ``{"action": "text"}``: an assistant turn;
  - an assistant message dict (``{"content": ..., "tool_calls": [...]}``);
  - ``{"type": "call_tool", "tool_name": N, "arguments": {...}}`` (OpenEnv's MCP action): one tool call;
    the tool ``final_answer`` (argument ``answer``) is a plain-text answer, which ends a tool episode;
  - ``{"type": "list_tools"}``: the tools on offer, without a step.

Observations are ``{"messages": [...], "text": "...", "tool_specs": [...], "info": {...}}`` (the new
messages, their text joined, the tools in OpenAI format, and `info`), ``reward`` is the step's reward
(None after reset), ``done`` is ``terminated or truncated``, and ``metadata`` is `info`.
"""

from __future__ import annotations

import json
from typing import Any

from .._env import Env
from .._types import Message, Observation, StepResult, ToolCall, ToolSpec
from ._protocol import action_from_wire

__all__ = ["FINAL_ANSWER", "call_tool", "list_tools", "reset_response", "step_response", "to_action"]

FINAL_ANSWER = "final_answer"
_FINAL_ANSWER_TOOL = {
    "name": FINAL_ANSWER,
    "description": "Give your final answer as plain text; this ends the episode and returns its reward.",
    "inputSchema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
}


def _observation(obs: Observation, info: dict[str, Any]) -> dict[str, Any]:
    data = obs.to_dict()
    return {
        "messages": data["messages"],
        "text": "\n".join(m.content for m in obs.messages if m.content),
        "tool_specs": data["tools"],
        "info": info,
    }


def _response(obs: Observation, reward: float | None, done: bool, info: dict[str, Any]) -> dict[str, Any]:
    data = {"observation": _observation(obs, info), "reward": reward, "done": done, "metadata": info}
    return {"type": "observation", "data": data}


def reset_response(result: tuple[Observation, dict[str, Any]]) -> dict[str, Any]:
    """OpenEnv's answer to a reset."""
    obs, info = result
    return _response(obs, None, False, info)


def to_action(data: Any) -> str | Message:
    """Map an OpenEnv action payload to an openenvs action (raises `ValueError` naming the accepted shapes)."""
    if isinstance(data, dict):
        if data.get("type") == "call_tool":
            name, arguments = data.get("tool_name"), data.get("arguments") or {}
            if not isinstance(name, str) or not isinstance(arguments, dict):
                raise ValueError("a call_tool action needs `tool_name` (string) and `arguments` (object)")
            if name == FINAL_ANSWER:
                return str(arguments.get("answer", ""))
            return Message(role="assistant", content=None, tool_calls=[ToolCall.create(name, arguments, id="call_0")])
        for key in ("message", "action"):
            if isinstance(data.get(key), str) and set(data) <= {key, "metadata"}:
                return str(data[key])
        if "content" in data or "tool_calls" in data:
            return action_from_wire({k: v for k, v in data.items() if k != "metadata"})
    raise ValueError(
        "an action for an openenvs env is {'message': text}, an assistant message "
        "{'content': ..., 'tool_calls': [...]}, or {'type': 'call_tool', 'tool_name': ..., 'arguments': {...}}"
    )


def _tool_results(result: StepResult) -> str:
    return "\n".join(m.content or "" for m in result.observation.messages if m.role == "tool")


def step_response(env: Env, data: Any) -> dict[str, Any]:
    """Run one OpenEnv step on `env` and build OpenEnv's answer."""
    if isinstance(data, dict) and data.get("type") == "list_tools":
        return {"type": "observation", "data": {"observation": {"tools": list_tools(env)}, "reward": None, "done": False}}
    action = to_action(data)
    result = env.step(action)
    response = _response(result.observation, float(result.reward), result.terminated or result.truncated, result.info)
    if isinstance(data, dict) and data.get("type") == "call_tool":
        response["data"]["observation"].update(
            tool_name=data["tool_name"], result={"data": _tool_results(result) or None}, error=None
        )
    return response


def _env_tools(env: Env) -> list[ToolSpec]:
    tools = getattr(env, "tools", None)
    if callable(tools):
        try:
            found = tools()
        except Exception:  # an env whose tools need a reset first
            found = []
        if isinstance(found, list) and all(isinstance(t, ToolSpec) for t in found):
            return found
    return []


def list_tools(env: Env) -> list[dict[str, Any]]:
    """The env's tools in MCP's shape (name, description, inputSchema), plus `final_answer`."""
    found = [{"name": t.name, "description": t.description, "inputSchema": t.parameters} for t in _env_tools(env)]
    return [*found, _FINAL_ANSWER_TOOL]


def call_tool(env: Env, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run one MCP tool call as an env step; the result carries the tool's text, reward and done."""
    result = env.step(to_action({"type": "call_tool", "tool_name": name, "arguments": arguments}))
    text = _tool_results(result)
    return {
        "data": text if name != FINAL_ANSWER else json.dumps({"reward": result.reward, "correct": result.info.get("correct")}),
        "reward": float(result.reward),
        "done": bool(result.terminated or result.truncated),
        "correct": result.info.get("correct"),
        "messages": [m.to_dict() for m in result.observation.messages],
    }
