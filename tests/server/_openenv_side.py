"""Run inside .venv-openenv (real OpenEnv 0.10): OpenEnv servers and clients for the compatibility tests.

    python _openenv_side.py serve-echo PORT     # the echo template env, served by OpenEnv's create_app
    python _openenv_side.py serve-mcp PORT      # an MCP tool env (FastMCP tools), served by create_app
    python _openenv_side.py generic|typed|mcp URL PLAN_JSON   # drive a server; prints JSON results
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any
from uuid import uuid4

from openenv.core import EnvClient
from openenv.core.client_types import StepResult
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field

# ---- the echo env, as OpenEnv's `openenv init` template writes it ------------------------------


class EchoAction(Action):
    message: str = Field(..., description="Message to echo back")


class EchoObservation(Observation):
    echoed_message: str = Field(default="", description="The echoed message")
    message_length: int = Field(default=0, description="Length of the echoed message")


class EchoEnvironment(Environment):
    SUPPORTS_CONCURRENT_SESSIONS: bool = True

    def __init__(self) -> None:
        self._state = State(episode_id=str(uuid4()), step_count=0)

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> EchoObservation:
        self._state = State(episode_id=episode_id or str(uuid4()), step_count=0)
        return EchoObservation(echoed_message="Echo environment ready!", message_length=0, done=False, reward=0.0)

    def step(self, action: EchoAction) -> EchoObservation:  # type: ignore[override]
        self._state.step_count += 1
        message = action.message
        return EchoObservation(
            echoed_message=message, message_length=len(message), done=self._state.step_count >= 3,
            reward=min(len(message) * 0.1, 1.0), metadata={"step": self._state.step_count},
        )

    @property
    def state(self) -> State:
        return self._state


# ---- an MCP tool env: add two numbers with a tool, then submit ----------------------------------


def _mcp_env_class():
    from fastmcp import FastMCP
    from openenv.core.env_server.mcp_environment import MCPEnvironment

    class AddEnvironment(MCPEnvironment):
        SUPPORTS_CONCURRENT_SESSIONS: bool = True

        def __init__(self) -> None:
            mcp = FastMCP("adder")
            env = self

            @mcp.tool()
            def add(a: int, b: int) -> int:
                """Add two integers."""
                return a + b

            @mcp.tool()
            def submit(answer: int) -> str:
                """Submit the final answer."""
                env._done = True
                env._reward = 1.0 if answer == env._a + env._b else 0.0
                return "correct" if env._reward else "wrong"

            super().__init__(mcp)
            self._state = State(episode_id=str(uuid4()), step_count=0)
            self._a, self._b, self._done, self._reward = 0, 0, False, 0.0

        def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> Observation:
            seed = seed or 0
            self._a, self._b, self._done, self._reward = 100 + seed * 7, 200 + seed * 13, False, 0.0
            self._state = State(episode_id=episode_id or str(uuid4()), step_count=0)
            return Observation(metadata={"task": f"What is {self._a} + {self._b}? Use add, then submit."})

        def _finish(self, obs: Observation) -> Observation:
            obs.done, obs.reward = self._done, self._reward
            return obs

        def step(self, action: Action, timeout_s: float | None = None, **kwargs: Any) -> Observation:
            return self._finish(super().step(action, timeout_s=timeout_s, **kwargs))

        async def step_async(self, action: Action, timeout_s: float | None = None, **kwargs: Any) -> Observation:
            return self._finish(await super().step_async(action, timeout_s=timeout_s, **kwargs))

        def _step_impl(self, action: Action, timeout_s: float | None = None, **kwargs: Any) -> Observation:
            return Observation(done=False, reward=0.0, metadata={"error": "use the tools"})

        @property
        def state(self) -> State:
            return self._state

    return AddEnvironment


def serve(kind: str, port: int) -> None:
    import uvicorn
    from openenv.core.env_server.http_server import create_app

    if kind == "echo":
        app = create_app(EchoEnvironment, EchoAction, EchoObservation, env_name="echo", max_concurrent_envs=64)
    else:
        from openenv.core.env_server.mcp_types import CallToolAction, CallToolObservation

        app = create_app(_mcp_env_class(), CallToolAction, CallToolObservation, env_name="adder", max_concurrent_envs=64)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# ---- clients ------------------------------------------------------------------------------------


class ChatAction(Action):
    message: str = Field(..., description="The assistant's reply")


class ChatObservation(Observation):
    text: str = Field(default="", description="The new messages' text")
    messages: list[dict[str, Any]] = Field(default_factory=list)


class OpenenvsChatEnv(EnvClient[ChatAction, ChatObservation, State]):
    """A typed client for an openenvs server, written the way OpenEnv's echo template writes its client."""

    def _step_payload(self, action: ChatAction) -> dict:
        return {"message": action.message}

    def _parse_result(self, payload: dict) -> StepResult[ChatObservation]:
        obs_data = payload.get("observation", {})
        observation = ChatObservation(
            text=obs_data.get("text", ""), messages=obs_data.get("messages", []),
            done=payload.get("done", False), reward=payload.get("reward"),
            metadata=payload.get("metadata", obs_data.get("metadata", {})),
        )
        return StepResult(observation=observation, reward=payload.get("reward"), done=payload.get("done", False))

    def _parse_state(self, payload: dict) -> State:
        return State(episode_id=payload.get("episode_id"), step_count=payload.get("step_count", 0))


def _dump(result: Any) -> dict[str, Any]:
    obs = result.observation
    obs = obs if isinstance(obs, dict) else obs.model_dump(mode="json")
    return {"observation": obs, "reward": result.reward, "done": result.done}


def drive(kind: str, url: str, plan: dict[str, Any]) -> list[Any]:
    """Reset with plan['seed'], then send plan['actions']; return what the client saw."""
    out: list[Any] = []
    if kind == "generic":
        from openenv.core.generic_client import GenericEnvClient

        with GenericEnvClient(base_url=url).sync() as client:
            out.append(_dump(client.reset(seed=plan["seed"])))
            for action in plan["actions"]:
                out.append(_dump(client.step(action)))
            out.append(client.state().model_dump() if hasattr(client.state(), "model_dump") else client.state())
    elif kind == "typed":
        with OpenenvsChatEnv(base_url=url).sync() as client:
            out.append(_dump(client.reset(seed=plan["seed"])))
            for action in plan["actions"]:
                out.append(_dump(client.step(ChatAction(message=action["message"]))))
    elif kind == "mcp":
        from openenv.core.mcp_client import MCPToolClient

        async def run() -> None:
            async with MCPToolClient(base_url=url) as client:
                out.append(_dump(await client.reset(seed=plan["seed"])))
                out.append([t.name for t in await client.list_tools()])
                for call in plan["calls"]:
                    out.append(await client.call_tool(call["name"], **call["arguments"]))

        asyncio.run(run())
    return out


if __name__ == "__main__":
    if sys.argv[1].startswith("serve-"):
        serve(sys.argv[1][len("serve-"):], int(sys.argv[2]))
    else:
        print(json.dumps(drive(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])), default=str))
