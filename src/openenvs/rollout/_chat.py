"""Rendering conversations for a model and reading tool calls back out of its text.

Two ways of showing tools to a model (see `ToolFormat`):

- ``template``: tools and tool-call messages go to the chat template (or the server) as
  structured data, for templates written for tool use (Qwen, Llama 3.1, Hermes, ...).
- ``text``: tools are described in the system message in the Hermes style
  (`openenvs.tools.tools_system_prompt`; calls as ``<tool_call>{json}</tool_call>``) and tool
  calls are rendered as text, so any chat template works, SmolLM2's plain ChatML included.

Tool calls in generated text are read by `openenvs.tools.parse_tool_calls` when that package
is installed; without it (or with ``tool_parser="none"``) the turn stays plain text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from .._errors import ConfigError
from .._types import Message, ToolCall, ToolSpec

__all__ = [
    "ToolParser",
    "ToolParserName",
    "render_text_tools",
    "resolve_tool_parser",
    "template_messages",
    "template_uses_tools",
]

logger = logging.getLogger(__name__)

ToolParser = Callable[[str], list[ToolCall]]
"""Reads the tool calls in a generated text; returns [] when there are none."""

ToolParserName = Literal["auto", "none"]


def _call_block(call: ToolCall) -> str:
    try:
        args: Any = call.parsed_arguments()
    except json.JSONDecodeError:
        args = call.function.arguments
    return "<tool_call>\n" + json.dumps({"name": call.name, "arguments": args}) + "\n</tool_call>"


def render_text_tools(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Render a conversation with tools as plain chat messages (the ``text`` tool format).

    The tools are described in the system message with `openenvs.tools.tools_system_prompt`
    (a system message is added when there is none); an assistant's structured tool calls are
    written into its content as ``<tool_call>`` blocks unless the content already holds them
    (the model's own text is kept byte for byte); tool results stay ``tool`` messages.

    Example:
        >>> out = render_text_tools([Message(role="user", content="hi")], [ToolSpec(name="add")])
        >>> [m["role"] for m in out], "<tools>" in out[0]["content"]
        (['system', 'user'], True)
    """
    from ..tools import tools_system_prompt

    out: list[dict[str, Any]] = []
    for message in messages:
        item = message.to_dict()
        calls = item.pop("tool_calls", None)
        if calls and message.tool_calls and "<tool_call>" not in (message.content or ""):
            blocks = [_call_block(call) for call in message.tool_calls]
            item["content"] = "\n".join([message.content, *blocks] if message.content else blocks)
        item.setdefault("content", "")
        out.append(item)
    if tools:
        intro = tools_system_prompt(tools)
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{intro}".strip()}
        else:
            out.insert(0, {"role": "system", "content": intro})
    return out


def template_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """OpenAI-format dicts for a tool-aware chat template (tool-call arguments decoded to dicts).

    Templates such as Qwen's render ``arguments | tojson`` and expect an object, not a string.
    """
    out = []
    for message in messages:
        item = message.to_dict()
        if message.tool_calls:
            item.setdefault("content", "")
            for call in item["tool_calls"]:
                try:
                    call["function"]["arguments"] = json.loads(call["function"]["arguments"] or "{}")
                except json.JSONDecodeError:
                    pass
        out.append(item)
    return out


def template_uses_tools(chat_template: object) -> bool:
    """Whether a Jinja chat template reads the ``tools`` variable."""
    if isinstance(chat_template, dict):  # named templates: {"default": ..., "tool_use": ...}
        return "tool_use" in chat_template or any(template_uses_tools(t) for t in chat_template.values())
    return isinstance(chat_template, str) and "tools" in chat_template


def resolve_tool_parser(tool_parser: ToolParserName | ToolParser) -> ToolParser | None:
    """The function that reads tool calls from text, or None for plain text turns.

    ``"auto"`` uses `openenvs.tools.parse_tool_calls` when the tools package is installed and
    falls back to plain text otherwise; ``"none"`` always keeps plain text; a callable is used as-is.
    """
    if callable(tool_parser):
        return tool_parser
    if tool_parser == "none":
        return None
    if tool_parser != "auto":
        raise ConfigError(f"tool_parser must be 'auto', 'none' or a callable, not {tool_parser!r}.")
    try:
        from ..tools import parse_tool_calls
    except ImportError:  # a trimmed install without the tools package
        logger.info("openenvs.tools is not available: tool calls in generated text are not parsed")
        return None

    def parse(text: str) -> list[ToolCall]:
        return _as_tool_calls(parse_tool_calls(text).calls)

    return parse


def _as_tool_calls(parsed: Any) -> list[ToolCall]:
    """Normalise what `openenvs.tools.parse_tool_calls` returns into a list of `ToolCall`."""
    calls = getattr(parsed, "calls", parsed)
    out: list[ToolCall] = []
    for i, call in enumerate(calls or []):
        if isinstance(call, ToolCall):
            out.append(call)
        elif isinstance(call, dict):
            out.append(ToolCall.create(call["name"], call.get("arguments"), id=call.get("id") or f"call_{i}"))
        else:
            out.append(ToolCall.create(call.name, getattr(call, "arguments", None), id=f"call_{i}"))
    return out
