"""Serve any registered env over WebSocket/HTTP, and use a served env as a local `Env`.

    openenvs serve math/arithmetic-v1 tools/calculator-v1 --port 8000     # a server
    env = openenvs.connect("http://127.0.0.1:8000", "math/arithmetic-v1")  # a client: an Env

The server also speaks OpenEnv's protocol, and `connect` also drives OpenEnv servers
(docs/server.md). Importing this package imports neither FastAPI nor uvicorn.
"""

from __future__ import annotations

from ._app import ServerSettings, create_app
from ._client import RemoteEnv, aconnect, connect
from ._errors import CallTimeout, ConnectionLost, ServerBusy, ServerError, SessionClosed, WorkerLost
from ._openenv_client import OpenEnvServerEnv
from ._remote import use_remote
from ._serve import serve

__all__ = [
    "CallTimeout",
    "ConnectionLost",
    "OpenEnvServerEnv",
    "RemoteEnv",
    "ServerBusy",
    "ServerError",
    "ServerSettings",
    "SessionClosed",
    "WorkerLost",
    "aconnect",
    "connect",
    "create_app",
    "serve",
    "use_remote",
]
