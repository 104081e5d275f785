"""The openenvs wire format: JSON frames shared by the server, its workers and `connect`.

A session over WebSocket (``/v1/session``) is a strict request/response exchange::

    client: {"type": "open", "env_id": "math/arithmetic-v1", "kwargs": {...}}
    server: {"type": "opened", "session": "...", "spec": {...manifest...}, "fingerprint": "..."}
    client: {"type": "reset", "seed": 0, "options": null}
    server: {"type": "reset", "observation": {"messages": [...], "tools": [...]}, "info": {...}}
    client: {"type": "step", "action": "text" | {"role": "assistant", ...}}
    server: {"type": "step", "observation": {...}, "reward": 1.0, "terminated": true,
             "truncated": false, "info": {...}}
    client: {"type": "close"}
    server: {"type": "closed"}

Any request can instead get ``{"type": "error", "error": {"type": "ConfigError", "message": "...",
"code": "..."}}``; the connection stays usable unless the error says the session is gone
(``"fatal": true``). Observations are :class:`~openenvs.Observation` as dicts (tools in OpenAI
format), ``info`` is made JSON-safe (values JSON cannot hold become their ``repr``).
"""

from __future__ import annotations

import json
from typing import Any

from .._types import Action, Message, Observation, StepResult

__all__ = [
    "ERROR_CODES",
    "action_from_wire",
    "action_to_wire",
    "dumps",
    "error_frame",
    "observation_from_wire",
    "reset_frame",
    "step_frame",
    "step_from_wire",
]

ERROR_CODES = {
    "bad_frame": "The frame is not valid JSON or lacks a field; fix the client.",
    "bad_request": "The request is not valid for this session (see message).",
    "env_error": "The environment raised; the message is its error.",
    "timeout": "The call ran past the server's time limit; the session is closed.",
    "capacity": "The server holds its maximum number of sessions; retry later.",
    "worker_lost": "The worker process holding the session died; the session is closed.",
    "closed": "The session was closed (idle timeout, shutdown or close).",
    "server_error": "An unexpected error in the server itself (a bug: please report it).",
}


def dumps(value: Any) -> str:
    """JSON text of `value`; anything JSON cannot hold becomes its ``repr`` (as `check_env` compares)."""
    return json.dumps(value, default=repr, separators=(",", ":"))


def error_frame(kind: str, message: str, code: str = "env_error", *, fatal: bool = False) -> dict[str, Any]:
    """An error frame: the exception type name, its message and one of `ERROR_CODES`."""
    return {"type": "error", "error": {"type": kind, "message": message, "code": code, "fatal": fatal}}


def reset_frame(result: tuple[Observation, dict[str, Any]]) -> dict[str, Any]:
    """The frame answering a reset."""
    obs, info = result
    return {"type": "reset", "observation": obs.to_dict(), "info": info}


def step_frame(result: StepResult) -> dict[str, Any]:
    """The frame answering a step."""
    obs, reward, terminated, truncated, info = result
    return {
        "type": "step",
        "observation": obs.to_dict(),
        "reward": float(reward),
        "terminated": bool(terminated),
        "truncated": bool(truncated),
        "info": info,
    }


def observation_from_wire(data: Any) -> Observation:
    """An `Observation` from its wire dict."""
    return Observation.model_validate(data or {})


def step_from_wire(frame: dict[str, Any]) -> StepResult:
    """A `StepResult` from a step frame."""
    return StepResult(
        observation_from_wire(frame.get("observation")),
        float(frame["reward"]),
        bool(frame["terminated"]),
        bool(frame["truncated"]),
        dict(frame.get("info") or {}),
    )


def action_to_wire(action: Action) -> str | dict[str, Any]:
    """A `str` stays a string; a `Message` becomes its OpenAI dict."""
    return action if isinstance(action, str) else action.to_dict()


def action_from_wire(data: Any) -> Action:
    """Read an action: a string, or an assistant message dict (raises `ValueError` otherwise)."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        message = Message.model_validate({"role": "assistant", **data})
        if message.role != "assistant":
            raise ValueError(f"an action must be an assistant message, got role {message.role!r}")
        return message
    raise ValueError(f"`action` must be a string or an assistant message object, got {type(data).__name__}")
