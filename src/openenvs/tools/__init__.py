"""Tool use: typed tools, tool-call parsing, prompt rendering, `ToolEnv`, MCP and TRL shapes.

    >>> from openenvs.tools import tool, parse_tool_calls
    >>> @tool
    ... def add(a: int, b: int) -> int:
    ...     '''Add two integers.
    ...
    ...     Args:
    ...         a: First addend.
    ...         b: Second addend.
    ...     '''
    ...     return a + b
    >>> add.spec.name
    'add'
    >>> parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>').calls[0].name
    'add'

MCP support (`MCPClient`, `build_mcp_server`, `serve_env`) needs ``pip install 'openenvs[tools]'``
and is imported only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._env import ToolEnv, ToolEnvConfig
from ._parse import CallFormat, ParseResult, parse_python_calls, parse_tool_calls
from ._render import messages_for_template, render_prompt, tools_system_prompt
from ._tool import Tool, ToolBox, format_result, tool, truncate

__all__ = [
    "CallFormat",
    "MCPClient",
    "ParseResult",
    "Tool",
    "ToolBox",
    "ToolEnv",
    "ToolEnvConfig",
    "build_mcp_server",
    "environment_factory",
    "episode_tools",
    "format_result",
    "messages_for_template",
    "parse_python_calls",
    "parse_tool_calls",
    "render_prompt",
    "serve_env",
    "tool",
    "tools_system_prompt",
    "truncate",
]

_MCP_NAMES = {"MCPClient", "build_mcp_server", "episode_tools", "serve_env"}


def __getattr__(name: str) -> Any:
    if name in _MCP_NAMES:
        return getattr(importlib.import_module("._mcp", __name__), name)
    if name == "environment_factory":  # a TRL adapter: it lives in openenvs.trl; re-exported for old imports
        return importlib.import_module("openenvs.trl._factory").environment_factory
    raise AttributeError(f"module 'openenvs.tools' has no attribute {name!r}")


if TYPE_CHECKING:
    from ..trl._factory import environment_factory
    from ._mcp import MCPClient, build_mcp_server, episode_tools, serve_env
