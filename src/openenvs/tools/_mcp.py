"""MCP both ways: tools from any MCP server in a `ToolEnv`, and any tool env served over MCP.

- :class:`MCPClient` connects to a server (a stdio command or a Streamable HTTP URL) on a
  background event loop and turns each of its tools into a `Tool`, so it can be passed to
  ``MyToolEnv(tools=client.tools())`` and used from sync or async code.
- :func:`build_mcp_server` / :func:`serve_env` expose a tool env's tools as an MCP server
  (``openenvs mcp ENV_ID`` on the command line).

Requires the ``mcp`` package (``pip install 'openenvs[tools]'``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from .._errors import MissingDependency, OpenEnvsError
from .._types import ToolCall
from ._tool import Tool

if TYPE_CHECKING:
    from .._env import Env

__all__ = ["MCPClient", "build_mcp_server", "episode_tools", "serve_env"]

logger = logging.getLogger(__name__)


def _import_mcp() -> Any:
    try:
        import mcp
    except ImportError as exc:
        raise MissingDependency("mcp", "tools", "MCP servers and clients") from exc
    return mcp


def _result_text(result: Any) -> str:
    """Flatten an MCP `CallToolResult` into the text shown to the model."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        if text is not None:
            parts.append(str(text))
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} omitted]")
    if not parts and getattr(result, "structured_content", None) is not None:
        import json

        parts.append(json.dumps(result.structured_content, default=str))
    text = "\n".join(parts)
    if getattr(result, "is_error", False):
        return text if text.startswith("Error") else f"Error: {text}"
    return text


class MCPClient:
    """A connection to an MCP server whose tools can be offered in a `ToolEnv`.

    The session lives on a private event loop in a daemon thread, so the tools work from sync
    code (``env.step``) and from async code (``await env.astep``) alike.

    Args:
        server: A command line (``["python", "server.py"]`` or a string) to run over stdio, or an
            ``http://.../mcp`` URL (Streamable HTTP).
        env: Extra environment variables for a stdio server.
        cwd: Working directory of a stdio server.
        timeout: Seconds to wait for the connection and for each call.

    Example:
        >>> with MCPClient(["python", "my_server.py"]) as client:  # doctest: +SKIP
        ...     env = MyToolEnv(tools=client.tools())
    """

    def __init__(
        self,
        server: str | Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Remember how to reach the server; nothing connects until first use."""
        self.server = server
        self.env = env
        self.cwd = cwd
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._listing: list[Any] | None = None

    def _target(self) -> Any:
        mcp = _import_mcp()
        if isinstance(self.server, str) and self.server.startswith(("http://", "https://")):
            return self.server
        import shlex

        argv = shlex.split(self.server) if isinstance(self.server, str) else list(self.server)
        if not argv:
            raise ValueError("MCPClient needs a command to start the server, e.g. ['python', 'server.py'].")
        return mcp.StdioServerParameters(command=argv[0], args=argv[1:], env=self.env, cwd=self.cwd)

    def connect(self) -> MCPClient:
        """Start the server connection (done automatically on first use); returns self."""
        if self._client is not None:
            return self
        mcp = _import_mcp()
        target = self._target()
        ready: Future[None] = Future()
        loop = asyncio.new_event_loop()

        async def main() -> None:
            self._stop = asyncio.Event()
            try:
                async with mcp.Client(target, read_timeout_seconds=self.timeout) as client:
                    self._client = client
                    ready.set_result(None)
                    await self._stop.wait()
            except BaseException as exc:  # reported to the thread that called connect()
                if not ready.done():
                    ready.set_exception(exc)
                else:
                    logger.warning("MCP connection to %s ended: %s", self.server, exc)
            finally:
                self._client = None

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(main())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="openenvs-mcp-client", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=self.timeout)
        except Exception as exc:
            self.close()
            raise OpenEnvsError(
                f"Could not connect to the MCP server {self.server!r}: {type(exc).__name__}: {exc}. "
                "Check that the command runs on its own (it must speak MCP on stdio) or that the URL is reachable."
            ) from exc
        return self

    def _submit(self, coro: Any) -> Future[Any]:
        self.connect()
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def list_tools(self) -> list[Any]:
        """The server's tool listing (MCP `Tool` objects), fetched once."""
        if self._listing is None:
            self.connect()
            result = self._submit(self._client.list_tools()).result(timeout=self.timeout)
            self._listing = list(result.tools)
        return self._listing

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Call a tool on the server and return its result as text (``Error: ...`` when it failed)."""
        self.connect()
        result = self._submit(self._client.call_tool(name, arguments or {})).result(timeout=self.timeout)
        return _result_text(result)

    async def acall(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Async twin of :meth:`call`, usable from any event loop."""
        self.connect()
        future = self._submit(self._client.call_tool(name, arguments or {}))
        result = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        return _result_text(result)

    def tools(self) -> list[Tool]:
        """Every server tool as a `Tool` (schema from the server; arguments are checked by the server)."""
        out = []
        for listed in self.list_tools():
            name = listed.name

            async def call(_name: str = name, **kwargs: Any) -> str:
                return await self.acall(_name, kwargs)

            schema = dict(listed.input_schema or {"type": "object", "properties": {}})
            out.append(Tool(call, name=name, description=listed.description or "", parameters=schema))
        return out

    def close(self) -> None:
        """Close the session and stop the server process; safe to call more than once."""
        loop, thread = self._loop, self._thread
        if loop is not None and self._stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # loop already closed
                pass
        if thread is not None:
            thread.join(timeout=self.timeout)
        self._loop = self._thread = self._client = None
        self._listing = None

    def __enter__(self) -> MCPClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()


def episode_tools(env: Env) -> list[Tool]:
    """Two tools that play any env: ``reset(seed, index)`` and ``step(action)``, answering in JSON.

    This is how an env without tools of its own is served over MCP.
    """
    import json

    def reset(seed: int | None = None, index: int | None = None) -> str:
        """Start an episode and return its opening messages.

        Args:
            seed: Seed of the episode (picks the task).
            index: Task index, instead of one drawn from the seed.
        """
        obs, info = env.reset(seed=seed, options={"index": index} if index is not None else None)
        return json.dumps({**obs.to_dict(), "info": info}, default=str)

    def step(action: str) -> str:
        """Send the policy's reply; returns the new messages, reward and whether the episode ended.

        Args:
            action: The assistant message text.
        """
        obs, reward, terminated, truncated, info = env.step(action)
        data = {
            "messages": [m.to_dict() for m in obs.messages],
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "info": info,
        }
        return json.dumps(data, default=str)

    return [Tool(reset), Tool(step)]


def build_mcp_server(env: Env, *, name: str | None = None) -> Any:
    """An MCP low-level `Server` for `env`.

    A tool env (anything with a ``toolbox``, reset to the episode whose state the tools act on)
    is served as its tools; any other env as the two tools of :func:`episode_tools`
    (``reset`` and ``step``). Tool errors come back as results with ``is_error`` set.
    """
    _import_mcp()
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from ._tool import ToolBox

    toolbox = getattr(env, "toolbox", None)
    if toolbox is None:
        toolbox = ToolBox(episode_tools(env), max_result_chars=None)

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(
            tools=[
                types.Tool(name=spec.name, description=spec.description, input_schema=spec.parameters)
                for spec in toolbox.specs
            ]
        )

    counter = {"n": 0}

    async def call_tool(ctx: Any, params: Any) -> Any:
        counter["n"] += 1
        call = ToolCall.create(params.name, params.arguments or {}, id=f"mcp_{counter['n']}")
        message = await toolbox.aexecute(call)
        text = message.content or ""
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], is_error=text.startswith("Error:")
        )

    server_name = name or (env.spec.id if env.spec else type(env).__name__)
    return Server(server_name, on_list_tools=list_tools, on_call_tool=call_tool)


def serve_env(
    env: Env,
    *,
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
) -> None:
    """Serve `env`'s tools over MCP until the client disconnects (stdio) or the process stops (http)."""
    server = build_mcp_server(env)
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async def main() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        asyncio.run(main())
        return
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependency("uvicorn", "server", "serving MCP over HTTP") from exc
    uvicorn.run(server.streamable_http_app(), host=host, port=port, log_level="warning")
