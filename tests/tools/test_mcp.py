"""MCP both ways, with real server processes started here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _require import require_module
from openenvs import Message, Score, Task, ToolCall
from openenvs.tools import MCPClient, ToolEnv, ToolEnvConfig

require_module("mcp")

ROOT = Path(__file__).resolve().parents[2]
KV_SERVER = Path(__file__).parent / "data" / "kv_server.py"
CLI = [sys.executable, "-c", "from openenvs.cli import main; main()"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}


class RememberEnv(ToolEnv[ToolEnvConfig]):
    """Store the secret with the (external) tools, then say 'done'; the checker reads the store back."""

    def num_tasks(self) -> int:
        return 20

    def get_task(self, index: int) -> Task:
        return Task(prompt=f"Store secret-{index} under the key 'secret'.", answer=f"secret-{index}")

    def check(self, task: Task) -> Score:
        stored = self.toolbox.execute(ToolCall.create("get", {"key": "secret"})).content
        ok = stored == task.answer and self.final_answer() == "done"
        return Score(reward=1.0 if ok else 0.0, correct=ok)


def test_tools_from_an_mcp_server_work_in_a_tool_env():
    with MCPClient([sys.executable, str(KV_SERVER)], env=ENV, timeout=120) as client:
        tools = client.tools()
        assert {t.name for t in tools} == {"put", "get"}
        assert tools[0].spec.parameters["type"] == "object"
        env = RememberEnv(tools=tools)
        obs, _ = env.reset(seed=0)
        assert {t.name for t in obs.tools} == {"put", "get"}
        r = env.step(
            f'<tool_call>{{"name": "put", "arguments": {{"key": "secret", "value": "{env.task.answer}"}}}}</tool_call>'
        )
        assert r.observation.messages[0].content == "stored secret"
        r = env.step(Message(role="assistant", tool_calls=[ToolCall.create("get", {"key": "nope"})]))
        assert r.observation.messages[0].content.startswith("Error")  # the server's error becomes feedback
        r = env.step("done")
        assert (r.reward, r.info["correct"]) == (1.0, True)


def test_openenvs_mcp_serves_an_env_over_stdio():
    cmd = [*CLI, "mcp", "tools/shop-v1", "--index", "0"]
    with MCPClient(cmd, env=ENV, cwd=str(ROOT), timeout=120) as client:
        names = {t.name for t in client.list_tools()}
        assert {"find_customer", "cancel_order", "place_order"} <= names
        import openenvs

        local = openenvs.make("tools/shop-v1")
        local.reset(seed=0, options={"index": 0})
        email = local.task.metadata["solution"][0][1]["email"]
        out = client.call("find_customer", {"email": email})
        assert email in out
        assert client.call("get_order", {"order_id": -5}).startswith("Error")
        assert client.call("get_order", {"order_id": "x"}).startswith("Error: invalid arguments")
        # the served tools plug into another env as well (MCP -> openenvs -> MCP)
        tool_names = [t.name for t in client.tools()]
        assert "refund_order" in tool_names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_openenvs_mcp_serves_over_http():
    require_module("uvicorn")
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "mcp", "tools/calculator-v1", "--transport", "http", "--port", str(port)],
        env=ENV,
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.3)
        with MCPClient(f"http://127.0.0.1:{port}/mcp", timeout=60) as client:
            assert [t.name for t in client.list_tools()] == ["calculate"]
            assert client.call("calculate", {"expression": "6*7"}) == "42"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_unreachable_server_says_what_to_do():
    with pytest.raises(Exception, match="Could not connect to the MCP server"):
        MCPClient([sys.executable, "-c", "import sys; sys.exit(3)"], timeout=30).connect()


def test_any_env_is_served_as_reset_and_step():
    import json

    with MCPClient([*CLI, "mcp", "math/arithmetic-v1"], env=ENV, cwd=str(ROOT), timeout=120) as client:
        assert sorted(t.name for t in client.list_tools()) == ["reset", "step"]
        opening = json.loads(client.call("reset", {"seed": 3}))
        question = opening["messages"][-1]["content"]
        import openenvs

        local = openenvs.make("math/arithmetic-v1")
        local.reset(seed=3)
        assert question == local.task.prompt
        result = json.loads(client.call("step", {"action": f"\\boxed{{{local.task.answer}}}"}))
        assert result["reward"] == 1.0 and result["terminated"] is True
        assert client.call("step", {"action": "again"}).startswith("Error: tool `step` raised ResetNeeded")
