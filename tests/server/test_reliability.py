"""Reliability on 127.0.0.1, in bounded loops: killed clients, fuzzed frames, a restarted server, refusals."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest
from _testenvs import closes
from websockets.sync.client import connect as ws_connect

import openenvs
from openenvs.server import ServerBusy, SessionClosed

_KILLED_CLIENTS = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from websockets.asyncio.client import connect

    async def one(url, marker):
        ws = await connect(url, open_timeout=60)
        await ws.send(json.dumps({"type": "open", "env_id": "test/echo-long-v1", "kwargs": {"marker": marker}}))
        await ws.recv()
        await ws.send(json.dumps({"type": "reset", "seed": 0}))
        await ws.recv()
        await ws.send(json.dumps({"type": "step", "action": "x"}))
        await ws.recv()
        return ws

    async def main():
        gate = asyncio.Semaphore(50)
        async def gated():
            async with gate:
                return await one(sys.argv[1], sys.argv[2])
        held = await asyncio.gather(*(gated() for _ in range(int(sys.argv[3]))))
        print("ready", len(held), flush=True)
        await asyncio.sleep(3600)  # mid-episode until killed

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_200_clients_killed_mid_episode_leave_no_session(make_server, tmp_path):
    marker = str(tmp_path / "closes")
    srv = make_server(18250, "test/echo-long-v1", "--idle-timeout", "3", "--workers", "2")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_CLIENTS, srv.url.replace("http", "ws") + "/v1/session",
                             marker, "200"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split() == ["ready", "200"]
        assert srv.health()["sessions"] == 200
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 3 + 10
    while time.monotonic() < deadline and (srv.health()["sessions"] or closes(marker) < 200):
        time.sleep(0.25)
    assert srv.health()["sessions"] == 0 and closes(marker) == 200
    assert "openenvs_sessions_open 0" in httpx.get(srv.url + "/metrics").text


def _fuzz_frames(rng: random.Random, n: int):
    types = ["open", "reset", "step", "close", "tool", "ping", "", None, 5, "STEP", "reset ", ["step"]]
    values = [None, 0, -1, 10**30, 1.5, "", "x" * 200, [], {}, {"a": [1, {"b": None}]}, True, "\u0000\ud7ff"]
    for _ in range(n):
        roll = rng.random()
        if roll < 0.15:
            yield bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        elif roll < 0.3:
            text = json.dumps({"type": rng.choice(types), "action": rng.choice(values)})
            yield text[: rng.randint(0, len(text))]
        elif roll < 0.35:
            yield "[" * rng.randint(1, 5000)
        else:
            frame = {"type": rng.choice(types)}
            for key in rng.sample(["env_id", "kwargs", "seed", "options", "action", "op", "arg", "data"], rng.randint(0, 4)):
                frame[key] = rng.choice(values + ["test/echo-v1", {"marker": 3}, {"role": "assistant", "content": 1}])
            yield json.dumps(frame)


@pytest.mark.slow
def test_10000_fuzzed_frames_leave_the_server_serving(make_server):
    srv = make_server(18251, "test/echo-v1", "--workers", "1", "--max-frame-bytes", "65536")
    rng = random.Random(14)
    frames = list(_fuzz_frames(rng, 10_000))
    sent = 0
    errors = 0

    def run(chunk):
        nonlocal sent, errors
        i = 0
        while i < len(chunk):
            with ws_connect(srv.url.replace("http", "ws") + "/v1/session", open_timeout=30) as ws:
                while i < len(chunk):
                    frame = chunk[i]
                    i += 1
                    ws.send(frame)
                    sent += 1
                    try:
                        reply = json.loads(ws.recv(timeout=30))
                    except Exception:  # the fuzz closed the connection (a `close` frame): reconnect
                        break
                    errors += reply["type"] == "error"
                    if reply["type"] == "closed":
                        break

    threads = [threading.Thread(target=run, args=(frames[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert sent == 10_000 and errors > 5000
    assert srv.proc.poll() is None and srv.health()["status"] == "healthy"
    env = openenvs.connect(srv.url, "test/echo-v1")
    env.reset(seed=1)
    assert env.step(env.oracle()).reward == 1.0
    env.close()
    for line in httpx.get(srv.url + "/metrics").text.splitlines():
        if line.startswith('openenvs_errors_total{code="server_error"}'):
            pytest.fail(f"a fuzzed frame reached an unexpected server error: {line}")


def test_a_server_restarted_under_a_client_gives_a_clear_error(make_server):
    srv = make_server(18252, "test/echo-long-v1", "--workers", "1")
    env = openenvs.connect(srv.url, "test/echo-long-v1")
    env.reset(seed=0)
    env.step("x")
    srv.stop()  # SIGTERM: the server closes the session (1001) and exits
    srv.start()
    with pytest.raises(SessionClosed, match=r"127.0.0.1:18252 closed the session \(code 10(01|12)"):
        env.step("x")
    obs, _ = env.reset(seed=0)  # the new server takes a new session
    assert env.step("x").reward == 0.0 and obs.messages


def test_concurrent_opens_past_max_sessions_are_refused_not_queued(make_server):
    srv = make_server(18253, "test/echo-v1", "--max-sessions", "10", "--workers", "1")
    results: list[object] = []

    def one():
        try:
            results.append(openenvs.connect(srv.url, "test/echo-v1"))
        except ServerBusy as exc:
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(40)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert time.monotonic() - t0 < 30
    envs = [r for r in results if isinstance(r, openenvs.Env)]
    assert len(results) == 40 and len(envs) == 10
    for env in envs:
        env.close()
