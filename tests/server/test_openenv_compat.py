"""OpenEnv compatibility both ways, against the real `openenv` 0.10 in .venv-openenv (scripts/setup.d/60-openenv.sh).

(a) OpenEnv's GenericEnvClient, a typed client in its echo-template style and its MCPToolClient finish
    episodes of an openenvs single-turn env (the bare URL gets the first served id) and tool env;
(b) `openenvs.connect` drives OpenEnv servers (the echo template env and an MCP tool env, both built
    with OpenEnv's `create_app`).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

import openenvs
from _require import missing

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-openenv"
SIDE = Path(__file__).parent / "_openenv_side.py"


@pytest.fixture(scope="module")
def openenv_python() -> str:
    failed = VENV / ".openenvs-openenv-failed"
    if failed.exists():
        missing(f"the OpenEnv venv install failed: {failed.read_text()[-800:]}", setup="scripts/setup.d/60-openenv.sh")
    if not (VENV / ".openenvs-openenv-0.10.0").exists():
        missing(f"no OpenEnv venv at {VENV}", setup="scripts/setup.d/60-openenv.sh")
    return str(VENV / "bin" / "python")


def _drive(python: str, kind: str, url: str, plan: dict) -> list:
    out = subprocess.run([python, str(SIDE), kind, url, json.dumps(plan)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _calculator_plan(seed: int) -> tuple[list[dict], str]:
    env = openenvs.make("tools/calculator-v1")
    env.reset(seed=seed)
    calls = []
    action = env.oracle()
    while action is not None and getattr(action, "tool_calls", None):
        calls += [{"name": c.name, "arguments": c.parsed_arguments()} for c in action.tool_calls]
        env.step(action)
        action = env.oracle()
    return calls, action if isinstance(action, str) else action.content


def test_generic_client_finishes_a_single_turn_episode_on_the_bare_url(server, openenv_python):
    env = openenvs.make("math/arithmetic-v1")  # the first served id: what a bare OpenEnv connection gets
    env.reset(seed=5)
    out = _drive(openenv_python, "generic", server.url, {"seed": 5, "actions": [{"message": env.oracle()}]})
    assert out[0]["observation"]["text"].endswith(env.reset(seed=5)[0].messages[-1].content)
    assert out[1]["done"] is True and out[1]["reward"] == 1.0
    assert out[2]["step_count"] == 1


def test_typed_client_in_the_echo_template_style(server, openenv_python):
    env = openenvs.make("test/echo-v1")
    env.reset(seed=2)
    url = server.url + "/openenv/test/echo-v1"
    out = _drive(openenv_python, "typed", url, {"seed": 2, "actions": [{"message": env.oracle()}]})
    assert out[0]["observation"]["text"].startswith("Say ")
    assert out[1] == {**out[1], "done": True, "reward": 1.0}


def test_generic_client_finishes_a_tool_episode(server, openenv_python):
    calls, answer = _calculator_plan(seed=4)
    actions = [{"type": "call_tool", "tool_name": c["name"], "arguments": c["arguments"]} for c in calls]
    out = _drive(openenv_python, "generic", server.url + "/openenv/tools/calculator-v1",
                 {"seed": 4, "actions": [*actions, {"message": answer}]})
    assert out[1]["observation"]["tool_name"] == calls[0]["name"] and out[1]["done"] is False
    assert out[-2]["done"] is True and out[-2]["reward"] == 1.0


def test_mcp_tool_client_finishes_a_tool_episode(server, openenv_python):
    calls, answer = _calculator_plan(seed=6)
    plan = {"seed": 6, "calls": [*calls, {"name": "final_answer", "arguments": {"answer": answer}}]}
    before = server.health()["sessions"]
    out = _drive(openenv_python, "mcp", server.url + "/openenv/tools/calculator-v1", plan)
    assert "calculate" in out[1] and "final_answer" in out[1]
    assert json.loads(out[-1]) == {"reward": 1.0, "correct": True}
    time.sleep(0.3)
    assert server.health()["sessions"] == before  # the MCP client closed its session


class _OpenEnvServer:
    def __init__(self, python: str, kind: str, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([python, str(SIDE), f"serve-{kind}", str(port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-2000:]
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"OpenEnv {kind} server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def openenv_servers(openenv_python):
    servers = {"echo": _OpenEnvServer(openenv_python, "echo", 18240), "mcp": _OpenEnvServer(openenv_python, "mcp", 18241)}
    yield servers
    for srv in servers.values():
        srv.stop()


def test_connect_drives_an_openenv_echo_server(openenv_servers):
    from openenvs.server import OpenEnvServerEnv

    env = openenvs.connect(openenv_servers["echo"].url, "openenv/echo-v0")
    assert isinstance(env, OpenEnvServerEnv) and env.text_field == "message"
    obs, _ = env.reset(seed=0)
    assert "Echo environment ready!" in obs.messages[0].content
    rewards = []
    for word in ("hello", "hi", "bye"):
        result = env.step(word)
        assert json.loads(result.observation.messages[0].content)["echoed_message"] == word
        rewards.append(result.reward)
    assert rewards == pytest.approx([0.5, 0.2, 0.3]) and result.terminated
    env.close()


def test_connect_drives_an_openenv_mcp_tool_server(openenv_servers):
    import asyncio

    async def episode():
        env = openenvs.connect(openenv_servers["mcp"].url, "openenv/adder-v0")
        obs, _ = await env.areset(seed=2)
        assert {t.name for t in obs.tools} == {"add", "submit"} and "114 + 226" in obs.messages[0].content
        add = openenvs.Message(role="assistant", tool_calls=[openenvs.ToolCall.create("add", {"a": 114, "b": 226})])
        result = await env.astep(add)
        assert result.observation.messages[0].role == "tool" and result.observation.messages[0].content == "340"
        submit = openenvs.Message(role="assistant", tool_calls=[openenvs.ToolCall.create("submit", {"answer": 340})])
        result = await env.astep(submit)
        env.close()
        return result

    result = asyncio.run(episode())
    assert result.terminated and result.reward == 1.0
