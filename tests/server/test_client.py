"""`openenvs.connect` against a real `openenvs serve` on 127.0.0.1: the remote env is an `Env`."""

from __future__ import annotations

import asyncio
import json

import pytest

import openenvs
from openenvs.server import ConnectionLost, SessionClosed
from openenvs.testing import check_env
from openenvs.testing._check import PROBE_ACTIONS, _aepisode, _episode


@pytest.mark.parametrize(
    "env_id",
    ["math/arithmetic-v1", "tools/calculator-v1", "code/python-tests-retry-v1", "code/python-tests-v1"],
)
def test_check_env_passes_on_a_served_env_of_every_kind(server, env_id):
    env = openenvs.connect(server.url, env_id)
    assert env.spec is not None and env.spec.id == env_id
    check_env(env)


@pytest.mark.parametrize("env_id", ["math/arithmetic-v1", "tools/calculator-v1"])
def test_same_seed_same_episode_as_in_process(server, env_id):
    local, remote = openenvs.make(env_id), openenvs.connect(server.url, env_id)
    try:
        for seed in (0, 11):
            assert json.dumps(_episode(remote, seed, PROBE_ACTIONS)) == json.dumps(_episode(local, seed, PROBE_ACTIONS))
        assert remote.fingerprint == openenvs.spec(env_id).fingerprint
    finally:
        local.close()
        remote.close()


def test_async_client_plays_the_same_episode(server):
    async def main():
        env = await openenvs.server.aconnect(server.url, "math/arithmetic-v1")
        try:
            return await _aepisode(env, 4, PROBE_ACTIONS)
        finally:
            await env.aclose()

    local = openenvs.make("math/arithmetic-v1")
    assert asyncio.run(main()) == _episode(local, 4, PROBE_ACTIONS)


def test_tool_calls_go_through(server):
    env = openenvs.connect(server.url, "tools/calculator-v1")
    obs, _ = env.reset(seed=0)
    assert obs.tools and obs.tools[0].name
    call = openenvs.Message(role="assistant", tool_calls=[openenvs.ToolCall.create(obs.tools[0].name, {"expression": "2*21"})])
    result = env.step(call)
    assert result.observation.messages[0].role == "tool" and "42" in (result.observation.messages[0].content or "")
    env.close()


def test_bad_id_and_bad_kwarg_raise_errors_that_name_the_fix(server):
    with pytest.raises(openenvs.EnvNotFound, match="serves .*math/arithmetic-v1.*openenvs serve"):
        openenvs.connect(server.url, "math/arithmetic-v9")
    with pytest.raises(openenvs.ConfigError, match="difficulty"):
        openenvs.connect(server.url, "math/arithmetic-v1", difficulty=99)
    with pytest.raises(openenvs.ResetNeeded):
        openenvs.connect(server.url, "math/arithmetic-v1").step("1")


def test_unreachable_server_names_it():
    with pytest.raises(ConnectionLost, match="127.0.0.1:18299.*openenvs serve"):
        openenvs.connect("http://127.0.0.1:18299", "math/arithmetic-v1")


def test_use_remote_routes_make_and_the_runner(server):
    from openenvs.rollout import FunctionPolicy, Runner, make_episodes
    from openenvs.server import RemoteEnv, use_remote

    original = openenvs.registry.spec("test/echo-v1")
    try:
        assert use_remote(server.url, ["test/echo-v1"]) == ["test/echo-v1"]
        env = openenvs.make("test/echo-v1")
        assert isinstance(env, RemoteEnv)
        env.close()
        policy = FunctionPolicy(lambda messages, tools: messages[-1]["content"].split()[-1] if isinstance(messages[-1], dict) else messages[-1].content.split()[-1])
        result = Runner(policy, concurrency=4).run(make_episodes("test/echo-v1", 6))
        assert len(result.trajectories) == 6 and not result.errors
        assert all(t.reward == 1.0 for t in result.trajectories)
    finally:
        openenvs.registry.unregister("test/echo-v1")
        openenvs.registry.register(original)


def test_reset_after_the_server_reaped_the_session_opens_a_new_one(make_server):
    srv = make_server(18202, "test/echo-v1", "--idle-timeout", "0.5", "--workers", "1")
    env = openenvs.connect(srv.url, "test/echo-v1")
    env.reset(seed=1)
    import time

    time.sleep(1.6)
    assert srv.health()["sessions"] == 0
    with pytest.raises(SessionClosed, match="idle"):
        env.step("x")
    obs, _ = env.reset(seed=1)  # reopens
    assert obs.messages[0].content.startswith("Say")
    assert env.step(env.oracle() if hasattr(env, "oracle") else obs.messages[0].content.split()[-1]).reward == 1.0


def test_dropped_connection_mid_episode_raises_naming_the_server(make_server):
    srv = make_server(18203, "test/echo-long-v1", "--workers", "1")
    env = openenvs.connect(srv.url, "test/echo-long-v1")
    env.reset(seed=0)
    env.step("x")
    srv.stop(9)
    with pytest.raises(ConnectionLost, match="127.0.0.1:18203.*episode is lost"):
        env.step("x")
