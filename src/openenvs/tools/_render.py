"""Render a conversation and its tools into a prompt, through the tokenizer's own chat template.

A model was trained on one tool-prompt layout; re-inventing it causes token drift. So
`render_prompt` passes ``tools=`` to ``tokenizer.apply_chat_template`` when the tokenizer has a
template that renders tools, and only otherwise describes the tools in the system message
(Hermes layout, which `parse_tool_calls` reads back).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from .._types import Message, ToolSpec

__all__ = ["ChatTokenizer", "messages_for_template", "render_prompt", "tools_system_prompt"]

logger = logging.getLogger(__name__)


class ChatTokenizer(Protocol):
    """The part of a Hugging Face tokenizer that `render_prompt` uses."""

    chat_template: Any

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:  # noqa: D102
        ...


def tools_system_prompt(tools: Sequence[ToolSpec]) -> str:
    """Describe `tools` and the ``<tool_call>`` reply format for a model whose template has no tool support.

    Example:
        >>> text = tools_system_prompt([ToolSpec(name="add", description="Add.")])
        >>> '"name": "add"' in text and "<tool_call>" in text
        True
    """
    listing = "\n".join(json.dumps(t.to_openai(), ensure_ascii=False) for t in tools)
    return (
        "You may call one or more functions to help with the user query.\n"
        "The available functions are listed inside <tools></tools>:\n"
        f"<tools>\n{listing}\n</tools>\n"
        "To call a function, reply with a JSON object inside <tool_call></tool_call> tags:\n"
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n'
        "When you have the final answer, reply without any tool call."
    )


def messages_for_template(messages: Sequence[Message | dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-format dicts with tool-call arguments decoded to objects, as chat templates expect."""
    out: list[dict[str, Any]] = []
    for raw in messages:
        message = Message.from_dict(raw)
        data = message.to_dict()
        if message.tool_calls:
            calls = []
            for call in message.tool_calls:
                try:
                    args: Any = json.loads(call.function.arguments or "{}")
                except ValueError:
                    args = call.function.arguments
                calls.append({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": args}})
            data["tool_calls"] = calls
            data.setdefault("content", "")
        out.append(data)
    return out


def _plain(messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
    parts = []
    for m in messages:
        text = m.get("content") or ""
        for call in m.get("tool_calls") or []:
            body = json.dumps({"name": call["function"]["name"], "arguments": call["function"]["arguments"]})
            text += f"\n<tool_call>\n{body}\n</tool_call>"
        parts.append(f"<|{m['role']}|>\n{text.strip()}")
    if add_generation_prompt:
        parts.append("<|assistant|>\n")
    return "\n".join(parts)


def _inline_calls(messages: list[dict[str, Any]], tool_role: bool = True) -> list[dict[str, Any]]:
    """Write tool calls into the assistant text (Hermes tags) for templates that ignore ``tool_calls``.

    With ``tool_role=False``, tool results become user messages wrapped in ``<tool_response>``.
    """
    out = []
    for m in messages:
        if m.get("tool_calls"):
            text = m.get("content") or ""
            for call in m["tool_calls"]:
                body = json.dumps({"name": call["function"]["name"], "arguments": call["function"]["arguments"]})
                text += f"\n<tool_call>\n{body}\n</tool_call>"
            m = {"role": "assistant", "content": text.strip()}
        elif m["role"] == "tool" and not tool_role:
            m = {"role": "user", "content": f"<tool_response>\n{m.get('content') or ''}\n</tool_response>"}
        out.append(m)
    return out


def _with_system(messages: list[dict[str, Any]], extra: str) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system":
        first = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{extra}".strip()}
        return [first, *messages[1:]]
    return [{"role": "system", "content": extra}, *messages]


def render_prompt(
    messages: Sequence[Message | dict[str, Any]],
    tools: Sequence[ToolSpec] = (),
    tokenizer: ChatTokenizer | None = None,
    *,
    add_generation_prompt: bool = True,
) -> str:
    """Render `messages` and `tools` as the prompt text the model should continue.

    Args:
        messages: The conversation so far (Messages or OpenAI dicts).
        tools: The tools on offer.
        tokenizer: A Hugging Face tokenizer; its chat template is used when it has one.
        add_generation_prompt: End with the assistant header, ready for generation.

    Returns:
        The prompt text. With a template that renders ``tools=``, exactly the template's output;
        with a template that ignores tools, the template's output with the tools described in
        the system message; without a template, a simple ``<|role|>`` layout.
    """
    convo = messages_for_template(messages)
    tool_dicts = [t.to_openai() for t in tools]
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if tokenizer is None or not template:
        if tools:
            convo = _with_system(convo, tools_system_prompt(tools))
        return _plain(convo, add_generation_prompt)
    if tool_dicts:
        try:
            text = tokenizer.apply_chat_template(
                convo, tools=tool_dicts, tokenize=False, add_generation_prompt=add_generation_prompt
            )
            if isinstance(text, str) and all(t.name in text for t in tools):
                return text
            logger.info("chat template ignored tools=; describing the tools in the system message instead")
        except Exception as exc:  # a template that cannot take tools (or roles it does not know)
            logger.info("chat template failed with tools= (%s); describing them in the system message", exc)
        convo = _with_system(_inline_calls(convo), tools_system_prompt(tools))
    try:
        text = tokenizer.apply_chat_template(convo, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception:  # a template that knows no `tool` role
        text = tokenizer.apply_chat_template(
            _inline_calls(convo, tool_role=False), tokenize=False, add_generation_prompt=add_generation_prompt
        )
    return str(text)
