"""`openenvs serve`: serve registered envs over WebSocket and HTTP (and OpenEnv's protocol)."""

from __future__ import annotations

import typer

__all__ = ["register", "serve_cmd"]


def serve_cmd(
    env_ids: list[str] = typer.Argument(..., help="Environment ids to serve, e.g. math/arithmetic-v1 tools/calculator-v1."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs --token-file."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_sessions: int = typer.Option(1024, "--max-sessions", help="Most sessions open at once; more are refused."),
    idle_timeout: float = typer.Option(300.0, "--idle-timeout", help="Close a session idle for this many seconds."),
    call_timeout: float = typer.Option(
        120.0, "--call-timeout", help="Server-side limit in seconds on one make/reset/step; past it the session ends."
    ),
    token_file: str | None = typer.Option(
        None, "--token-file", help="File holding the bearer token clients must send (required off loopback)."
    ),
    workers: int = typer.Option(2, "--workers", help="Worker processes holding the env instances."),
    max_frame_bytes: int = typer.Option(1 << 20, "--max-frame-bytes", help="Largest frame or request body accepted."),
    openenv_env: str | None = typer.Option(
        None, "--openenv-env", help="The env a bare OpenEnv client (/ws, /mcp) gets; default: the first id."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve environments: one env instance per WebSocket session, plus /health, /envs and /metrics."""
    from ..server import serve

    serve(
        env_ids,
        host=host,
        port=port,
        token_file=token_file,
        log_level=log_level,
        workers=workers,
        max_sessions=max_sessions,
        idle_timeout=idle_timeout,
        call_timeout=call_timeout,
        max_frame_bytes=max_frame_bytes,
        openenv_env=openenv_env,
    )


def register(app: typer.Typer) -> None:
    """Add `serve` to the CLI."""
    app.command("serve")(serve_cmd)
