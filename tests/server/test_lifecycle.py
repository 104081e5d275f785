"""Session lifecycle and security on a real server: hangs, limits, timeouts, shutdown, auth, frames."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest
from _testenvs import closes
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

import openenvs
from openenvs.server import CallTimeout, ServerBusy


def _ws(url: str, path: str = "/v1/session", **kw):
    return ws_connect(url.replace("http://", "ws://") + path, open_timeout=10, **kw)


def _rpc(ws, frame) -> dict:
    ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(ws.recv(timeout=30))


def test_hung_steps_are_cut_off_and_killed_while_other_sessions_keep_stepping(make_server, tmp_path):
    workers = 2
    srv = make_server(18210, "test/echo-long-v1", "--workers", str(workers), "--call-timeout", "2")
    pids_before = {w for w in _worker_pids(srv)}
    hung_errors: list[BaseException] = []

    def hang():
        env = openenvs.connect(srv.url, "test/echo-long-v1")
        env.reset(seed=0)
        try:
            env.step("hang")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            hung_errors.append(exc)

    threads = [threading.Thread(target=hang) for _ in range(2 * workers)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    # meanwhile, other sessions keep stepping with low latency
    steppers = [openenvs.connect(srv.url, "test/echo-long-v1") for _ in range(3)]
    latencies = []
    for env in steppers:
        env.reset(seed=1)
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        for env in steppers:
            t0 = time.perf_counter()
            assert env.step("x").reward == 0.0
            latencies.append(time.perf_counter() - t0)
    assert len(latencies) > 30 and max(latencies) < 0.5
    for t in threads:
        t.join(timeout=30)
    assert len(hung_errors) == 2 * workers
    assert all(isinstance(e, CallTimeout) and "time limit" in str(e) for e in hung_errors)
    # the tainted workers are killed once drained of healthy sessions; replacements serve on
    for env in steppers:
        env.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and pids_before & set(_worker_pids(srv)):
        time.sleep(0.2)
    assert not pids_before & set(_worker_pids(srv)), "the workers holding hung calls were not killed"
    env = openenvs.connect(srv.url, "test/echo-long-v1")
    env.reset(seed=2)
    assert env.step("x").truncated is False
    metrics = httpx.get(srv.url + "/metrics").text
    assert 'openenvs_errors_total{code="timeout"} 4' in metrics


def _worker_pids(srv) -> list[int]:
    import subprocess

    out = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True).stdout
    alive = []
    for pid in out.split():
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(int(pid))
    return alive


def test_max_sessions_refuses_with_close_code_and_http_503(make_server):
    srv = make_server(18211, "test/echo-v1", "--max-sessions", "2", "--workers", "1")
    held = [openenvs.connect(srv.url, "test/echo-v1") for _ in range(2)]
    with pytest.raises(ServerBusy, match="maximum of 2 sessions"):
        openenvs.connect(srv.url, "test/echo-v1")
    with _ws(srv.url) as ws:
        reply = _rpc(ws, {"type": "open", "env_id": "test/echo-v1"})
        assert reply["error"]["code"] == "capacity"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1013 and "max-sessions" in info.value.rcvd.reason
    response = httpx.post(srv.url + "/v1/sessions", json={"env_id": "test/echo-v1"})
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    held[0].close()
    time.sleep(0.2)
    openenvs.connect(srv.url, "test/echo-v1").close()  # a slot is free again


def test_idle_disconnect_and_close_all_call_env_close(make_server, tmp_path):
    marker = str(tmp_path / "closes")
    srv = make_server(18212, "test/echo-v1", "--idle-timeout", "1", "--workers", "1")
    idle = openenvs.connect(srv.url, "test/echo-v1", marker=marker)
    idle.reset(seed=0)
    closed = openenvs.connect(srv.url, "test/echo-v1", marker=marker)
    closed.close()
    with _ws(srv.url) as ws:  # a client that just goes away
        assert _rpc(ws, {"type": "open", "env_id": "test/echo-v1", "kwargs": {"marker": marker}})["type"] == "opened"
    silent = _ws(srv.url, legacy=True)  # a connection that never opens a session is closed too
    time.sleep(0.5)
    assert closes(marker) == 2
    time.sleep(1.5)
    assert closes(marker) == 3 and srv.health()["sessions"] == 0
    with pytest.raises(ConnectionClosed) as info:
        silent.recv(timeout=5)
    assert info.value.rcvd.code == 4000


def test_sigterm_closes_every_session(make_server, tmp_path):
    marker = str(tmp_path / "closes")
    srv = make_server(18213, "test/echo-v1", "--workers", "2")
    envs = [openenvs.connect(srv.url, "test/echo-v1", marker=marker) for _ in range(4)]
    for env in envs:
        env.reset(seed=0)
    opened = httpx.post(srv.url + "/v1/sessions", json={"env_id": "test/echo-v1", "kwargs": {"marker": marker}})
    assert opened.status_code == 200
    assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    assert closes(marker) == 5


def test_http_sessions(server):
    opened = httpx.post(server.url + "/v1/sessions", json={"env_id": "test/echo-v1"}).json()
    sid = opened["session"]
    obs = httpx.post(f"{server.url}/v1/sessions/{sid}/reset", json={"seed": 3}).json()
    word = obs["observation"]["messages"][0]["content"].split()[-1]
    step = httpx.post(f"{server.url}/v1/sessions/{sid}/step", json={"action": word}).json()
    assert step["reward"] == 1.0 and step["terminated"] is True
    assert httpx.delete(f"{server.url}/v1/sessions/{sid}").status_code == 200
    gone = httpx.post(f"{server.url}/v1/sessions/{sid}/step", json={"action": word})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "closed"


def test_envs_health_and_metrics(server):
    listing = httpx.get(server.url + "/envs").json()
    by_id = {m["id"]: m for m in listing["envs"]}
    assert by_id["math/arithmetic-v1"]["fingerprint"] == openenvs.spec("math/arithmetic-v1").fingerprint
    assert listing["default"] == listing["openenv"] == "math/arithmetic-v1"
    assert server.health()["status"] == "healthy"
    text = httpx.get(server.url + "/metrics").text
    for name in ("openenvs_sessions_open", "openenvs_call_seconds_bucket", "openenvs_calls_total", "openenvs_workers"):
        assert name in text


def test_malformed_frames_get_error_frames_and_the_connection_stays_usable(server):
    with _ws(server.url) as ws:
        for bad in ["not json", "[1,2]", '{"no_type": 1}', '{"type": "fly"}', '{"type": "step"}',
                    '{"type": "open", "env_id": "test/echo-v1", "kwargs": [1]}']:
            reply = _rpc(ws, bad)
            assert reply["type"] == "error" and reply["error"]["message"], bad
        assert _rpc(ws, {"type": "open", "env_id": "test/echo-v1"})["type"] == "opened"
        for bad in [{"type": "reset", "seed": "x"}, {"type": "step", "action": {"role": "user", "content": 1}},
                    {"type": "step", "action": 5}, {"type": "reset", "options": 3}]:
            assert _rpc(ws, bad)["type"] == "error", bad
        obs = _rpc(ws, {"type": "reset", "seed": 0})
        word = obs["observation"]["messages"][0]["content"].split()[-1]
        assert _rpc(ws, {"type": "step", "action": word})["reward"] == 1.0


def test_oversized_frames_are_refused(make_server):
    srv = make_server(18214, "test/echo-v1", "--max-frame-bytes", "4096", "--workers", "1")
    with _ws(srv.url) as ws:
        ws.send(json.dumps({"type": "open", "env_id": "test/echo-v1", "kwargs": {"marker": "x" * 10000}}))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd.code == 1009
    assert httpx.post(srv.url + "/v1/sessions", content=b"{" + b" " * 5000 + b"}").status_code == 400
    assert srv.health()["sessions"] == 0


def test_non_loopback_needs_a_token_and_the_token_is_checked(make_server, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    main = Path(__file__).parent / "_serve_main.py"
    refused = subprocess.run([sys.executable, str(main), "test/echo-v1", "--host", "0.0.0.0", "--port", "18215"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "--token-file" in refused.stderr
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-for-the-test-0123456789\n")
    token_file.chmod(0o600)
    srv = make_server(18216, "test/echo-v1", "--host", "0.0.0.0", "--token-file", str(token_file), "--workers", "1")
    assert httpx.get(srv.url + "/envs").status_code == 401
    assert httpx.get(srv.url + "/envs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with pytest.raises(openenvs.server.ConnectionLost):
        openenvs.connect(srv.url, "test/echo-v1")
    with pytest.raises(openenvs.server.ConnectionLost):
        openenvs.connect(srv.url, "test/echo-v1", token="wrong")
    env = openenvs.connect(srv.url, "test/echo-v1", token="s3cret-token-for-the-test-0123456789")
    env.reset(seed=0)
    env.close()
