"""Tool commands: ``openenvs mcp ENV_ID`` serves a tool env's tools as an MCP server."""

from __future__ import annotations

import json
import logging

import typer

__all__ = ["mcp_cmd", "register"]

logger = logging.getLogger(__name__)


def mcp_cmd(
    env_id: str = typer.Argument(..., help="Id of a tool environment, e.g. tools/shop-v1."),
    seed: int = typer.Option(0, "--seed", help="Seed of the episode whose state the tools act on."),
    index: int | None = typer.Option(None, "--index", help="Task index to load instead of drawing one from --seed."),
    kwargs: str = typer.Option("{}", "--kwargs", help="Env keyword arguments as JSON, e.g. '{\"max_turns\": 5}'."),
    transport: str = typer.Option(
        "stdio", "--transport", help="`stdio` (for MCP clients that start this command) or `http`."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind with --transport http."),
    port: int = typer.Option(8765, "--port", help="Port to bind with --transport http (the endpoint is /mcp)."),
) -> None:
    """Serve an environment over MCP: a tool env's tools (reset to one episode), or `reset`/`step` for any other env."""
    from .._api import make
    from ..tools._mcp import serve_env

    if transport not in ("stdio", "http"):
        raise ValueError(f"--transport must be `stdio` or `http`, got {transport!r}.")
    try:
        env_kwargs = json.loads(kwargs)
    except ValueError as exc:
        raise ValueError(f"--kwargs is not valid JSON ({exc}); pass an object such as '{{\"seed\": 1}}'.") from None
    if not isinstance(env_kwargs, dict):
        raise ValueError("--kwargs must be a JSON object, e.g. '{\"max_turns\": 5}'.")
    env = make(env_id, **env_kwargs)
    try:
        env.reset(seed=seed, options={"index": index} if index is not None else None)
        logger.info("serving the tools of %s over MCP (%s)", env_id, transport)
        serve_env(env, transport=transport, host=host, port=port)  # type: ignore[arg-type]
    finally:
        env.close()


def register(app: typer.Typer) -> None:
    """Add the tool commands to `app`."""
    app.command("mcp")(mcp_cmd)
