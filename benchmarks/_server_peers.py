"""The servers benchmarks/server.py compares, each serving the same echo logic (OpenEnv's echo template).

    python _server_peers.py ours PORT       # openenvs serve bench/echo-v1 (worker processes)
    python _server_peers.py bare PORT       # a bare FastAPI/uvicorn WebSocket echo, no env at all
    .venv-openenv/bin/python _server_peers.py openenv PORT   # OpenEnv 0.10 create_app + its echo env
"""

# No `from __future__ import annotations`: FastAPI reads the bare echo route's annotations.

import json
import resource
import sys
from typing import Any


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- the echo env for openenvs: OpenEnv's echo logic (echo the message, reward min(0.1 * len, 1)) ----


def _openenvs_echo() -> Any:
    from openenvs import Env, Message, Observation, StepResult, action_text

    class EchoEnv(Env):
        """Echo the message back; never ends (the benchmark steps in a closed loop)."""

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return Observation(messages=[Message(role="user", content="Echo environment ready!")]), {}

        def step(self, action):
            text = action_text(action)
            obs = Observation(messages=[Message(role="user", content=text)])
            return StepResult(obs, min(len(text) * 0.1, 1.0), False, False, {"message_length": len(text)})

    return EchoEnv


def __getattr__(name: str) -> Any:  # `EchoEnv` is built lazily: the OpenEnv venv has no openenvs
    if name == "EchoEnv":
        return _openenvs_echo()
    raise AttributeError(name)


SPEC = {"id": "bench/echo-v1", "entry_point": "_server_peers:EchoEnv", "description": "Echo (benchmark).",
        "license": "MIT", "kind": "multi-turn"}


def serve_ours(port: int) -> None:
    import openenvs
    from openenvs.cli import main

    openenvs.register(SPEC)
    main(["serve", "bench/echo-v1", "--port", str(port), "--max-sessions", "8192", "--idle-timeout", "600"])


def serve_bare(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                frame = json.loads(await websocket.receive_text())
                message = (frame.get("data") or {}).get("message", "")
                reply = {"type": "observation", "data": {"observation": {"echoed_message": message},
                                                         "reward": min(len(message) * 0.1, 1.0), "done": False}}
                await websocket.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096, access_log=False)


def serve_openenv(port: int) -> None:
    import uvicorn
    from openenv.core.env_server.http_server import create_app
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, Observation, State
    from pydantic import Field

    class EchoAction(Action):
        message: str = Field(..., description="Message to echo back")

    class EchoObservation(Observation):
        echoed_message: str = Field(default="")
        message_length: int = Field(default=0)

    class EchoEnvironment(Environment):
        SUPPORTS_CONCURRENT_SESSIONS: bool = True

        def __init__(self) -> None:
            self._state = State(episode_id="0", step_count=0)

        def reset(self, seed=None, episode_id=None, **kwargs):
            self._state = State(episode_id=episode_id or "0", step_count=0)
            return EchoObservation(echoed_message="Echo environment ready!", message_length=0, done=False, reward=0.0)

        def step(self, action):  # type: ignore[override]
            self._state.step_count += 1
            return EchoObservation(echoed_message=action.message, message_length=len(action.message),
                                   done=False, reward=min(len(action.message) * 0.1, 1.0))

        @property
        def state(self) -> State:
            return self._state

    app = create_app(EchoEnvironment, EchoAction, EchoObservation, env_name="echo", max_concurrent_envs=8192)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096, access_log=False)


if __name__ == "__main__":
    _raise_nofile()
    {"ours": serve_ours, "bare": serve_bare, "openenv": serve_openenv}[sys.argv[1]](int(sys.argv[2]))
