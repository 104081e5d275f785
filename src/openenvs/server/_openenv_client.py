"""Drive an OpenEnv server (PyPI ``openenv`` 0.10) as an openenvs `Env` (see `OpenEnvEnv`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ._client import http_url
from ._errors import ConnectionLost

__all__ = ["is_openenv_server"]


def _get(url: str, token: str | None, timeout: float = 10.0) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own server URL
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectionLost(
            f"cannot reach a server at {url} ({exc}); start one with `openenvs serve ENV_ID --port PORT`"
        ) from None


def is_openenv_server(url: str, token: str | None = None) -> bool:
    """True when `url` is an OpenEnv server (it answers ``/schema`` but has no openenvs ``/envs``)."""
    base = http_url(url)
    status, _ = _get(base + "/envs", token)
    if status in (200, 401):
        return False
    status, _ = _get(base + "/schema", token)
    return status == 200
