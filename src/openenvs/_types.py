"""Chat-format data types shared by environments, tools, rollouts and adapters.

Messages follow the OpenAI chat format (``role``, ``content``, ``tool_calls``,
``tool_call_id``, ``name``) and round-trip to plain dicts with
:meth:`Message.to_dict` / :meth:`Message.from_dict`.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Action",
    "FunctionCall",
    "Message",
    "Observation",
    "Role",
    "StepResult",
    "ToolCall",
    "ToolSpec",
]

Role = Literal["system", "user", "assistant", "tool"]


class FunctionCall(BaseModel):
    """The function part of a tool call: a name and JSON-encoded arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name of the tool to call.")
    arguments: str = Field(default="{}", description="Arguments as a JSON object encoded as a string.")

    @model_validator(mode="before")
    @classmethod
    def _encode_arguments(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("arguments"), dict):
            data = {**data, "arguments": json.dumps(data["arguments"], sort_keys=True)}
        return data


class ToolCall(BaseModel):
    """One tool call requested by the assistant, in OpenAI format."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Call id; the tool result message echoes it as `tool_call_id`.")
    type: Literal["function"] = "function"
    function: FunctionCall

    @classmethod
    def create(cls, name: str, arguments: dict[str, Any] | str | None = None, id: str = "call_0") -> ToolCall:
        """Build a call from a name and an argument dict (or JSON string).

        Example:
            >>> ToolCall.create("add", {"a": 1}).function.arguments
            '{"a": 1}'
        """
        args = arguments if isinstance(arguments, str) else json.dumps(arguments or {}, sort_keys=True)
        return cls(id=id, function=FunctionCall(name=name, arguments=args))

    @property
    def name(self) -> str:
        """The called tool's name."""
        return self.function.name

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (raises `json.JSONDecodeError` if malformed)."""
        return json.loads(self.function.arguments or "{}")


class Message(BaseModel):
    """One chat message in OpenAI format.

    Example:
        >>> Message(role="user", content="hi").to_dict()
        {'role': 'user', 'content': 'hi'}
    """

    model_config = ConfigDict(extra="forbid", frozen=False)

    role: Role = Field(description="Who wrote the message.")
    content: str | None = Field(default=None, description="Text of the message; None for a pure tool-call message.")
    tool_calls: list[ToolCall] | None = Field(default=None, description="Tool calls made by an assistant message.")
    tool_call_id: str | None = Field(default=None, description="For role `tool`: the id of the call answered.")
    name: str | None = Field(default=None, description="For role `tool`: the tool's name; otherwise a speaker name.")

    def to_dict(self) -> dict[str, Any]:
        """Return the message as a plain OpenAI-format dict, omitting unset fields."""
        return self.model_dump(exclude_none=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | Message) -> Message:
        """Build a message from an OpenAI-format dict (or return a message unchanged)."""
        return data if isinstance(data, Message) else cls.model_validate(data)

    @property
    def text(self) -> str:
        """The content as a string (empty when there is none)."""
        return self.content or ""


class ToolSpec(BaseModel):
    """A tool offered to the model: name, description and JSON schema of its parameters.

    Accepts both the flat form and OpenAI's ``{"type": "function", "function": {...}}`` form.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Tool name the model uses in its calls.")
    description: str = Field(default="", description="What the tool does, shown to the model.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON schema of the arguments object.",
    )

    @model_validator(mode="before")
    @classmethod
    def _unwrap_openai(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "function" and "function" in data:
            return data["function"]
        return data

    def to_openai(self) -> dict[str, Any]:
        """Return the tool in OpenAI's `tools=[...]` format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class Observation(BaseModel):
    """What the environment shows the policy: new messages to append, and the tools on offer."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(default_factory=list, description="Messages to append to the conversation.")
    tools: list[ToolSpec] = Field(default_factory=list, description="Tools the policy may call.")

    def to_dict(self) -> dict[str, Any]:
        """Return plain dicts: ``{"messages": [...], "tools": [...]}`` (tools in OpenAI format)."""
        return {"messages": [m.to_dict() for m in self.messages], "tools": [t.to_openai() for t in self.tools]}


Action = str | Message
"""What a policy sends to `Env.step`: a plain string (an assistant message) or a Message."""


class StepResult(NamedTuple):
    """The result of `Env.step`; unpacks like Gymnasium's 5-tuple."""

    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
