"""`RemoteToolEnv`: a served tool env that also offers the in-process `ToolEnv` surface.

TRL's ``environment_factory`` (`openenvs.trl.environment_factory`) runs tools between steps and asks
the checker for the reward: it calls ``tools()``, ``transcript.append(...)``, ``call_tool(call)`` and
``check(task)`` on the env. Here each of those is a call on the server's session, so a served tool
env trains exactly as a local one.
"""

from __future__ import annotations

import json
from typing import Any

from .._shapes import Score
from .._types import Message, ToolCall, ToolSpec
from ..tools._env import ToolEnv
from ._client import RemoteEnv

__all__ = ["RemoteToolEnv"]


class _RemoteTranscript(list):  # type: ignore[type-arg]
    """The session's transcript: `append` also records the message on the server."""

    def __init__(self, env: RemoteToolEnv) -> None:
        super().__init__()
        self._env = env

    def append(self, message: Message) -> None:
        """Record `message` here and in the server's transcript."""
        self._env._tool_call("transcript_append", message.to_dict())
        super().append(message)


class RemoteToolEnv(RemoteEnv, ToolEnv[Any]):  # type: ignore[misc]
    """A `RemoteEnv` of a tool env; see the module docs."""

    def __init__(self, **kwargs: Any) -> None:
        """Remember the env kwargs; the session opens on first use."""
        RemoteEnv.__init__(self, **kwargs)
        self._tools: list[ToolSpec] | None = None
        self._started = False
        self.transcript = _RemoteTranscript(self)

    def _tool_call(self, kind: str, arg: Any) -> Any:
        from ._client import _run

        if self._conn is None:
            self.open()
        reply = _run(self._request({"type": "tool", "op": kind, "arg": arg}, reopen=False))
        return reply.get("result")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        """Start an episode on the server (reopening a reaped session)."""
        obs, info = RemoteEnv.reset(self, seed=seed, options=options)
        self._tools = list(obs.tools)
        self._started = True
        self.transcript = _RemoteTranscript(self)
        list.extend(self.transcript, obs.messages)
        return obs, info

    def tools(self) -> list[ToolSpec]:
        """The tools on offer (asked of the server before the first reset)."""
        if self._tools is None:
            self._tools = [ToolSpec.model_validate(t) for t in self._tool_call("tool_specs", None)]
        return self._tools

    @property
    def task(self) -> Any:
        """A stand-in that is not None once an episode started (the task lives on the server)."""
        return "remote task" if self._started else None

    @task.setter
    def task(self, value: Any) -> None:
        pass

    def call_tool(self, call: ToolCall) -> Message:
        """Run one tool call in the server's session and return the tool message."""
        message = Message.model_validate(self._tool_call("run_tool", json.loads(call.model_dump_json())))
        list.append(self.transcript, message)
        return message

    def check(self, task: Any) -> Score:
        """The server-side checker's verdict on the session's state and transcript."""
        return Score.model_validate(self._tool_call("check", None))
