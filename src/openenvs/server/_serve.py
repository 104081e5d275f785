"""`serve`: run the server (uvicorn) for some env ids, with the security rules applied."""

from __future__ import annotations

import ipaddress
import logging
import os
import stat
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from ._app import ServerSettings, create_app

__all__ = ["is_loopback", "read_token", "serve"]

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str | Path) -> str:
    """Read a bearer token from a file (first line, stripped); refuse an empty or missing file."""
    file = Path(path)
    try:
        token = file.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read --token-file {file}: {exc}") from None
    if len(token) < 16:
        raise ConfigError(
            f"--token-file {file} holds {len(token)} characters; use a random token of at least 16, e.g. "
            f"python -c 'import secrets; print(secrets.token_urlsafe(32))' > {file}"
        )
    if os.name == "posix" and file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("--token-file %s is readable by other users; chmod 600 it", file)
    return token


def serve(
    env_ids: list[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token_file: str | Path | None = None,
    log_level: str = "warning",
    **limits: Any,
) -> None:
    """Serve `env_ids` until SIGTERM/SIGINT (which closes every session).

    Binding an address other than loopback needs `token_file`: every request must then carry
    ``Authorization: Bearer <token>``. `limits` are `ServerSettings`' keywords (workers,
    max_sessions, idle_timeout, call_timeout, max_frame_bytes, openenv_env).
    """
    import uvicorn

    token = read_token(token_file) if token_file is not None else None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"binding {host} exposes the envs beyond this machine, so it needs a bearer token: "
            "pass --token-file FILE (a file holding a random token), or bind 127.0.0.1"
        )
    settings = ServerSettings(env_ids, token=token, **limits)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=5,
        lifespan="on",
        access_log=False,
        backlog=4096,
    )
    uvicorn.Server(config).run()
