"""openenvs serve vs OpenEnv 0.10 serving the same echo logic, and a bare FastAPI echo, in one run.

One raw WebSocket load generator (this process, websockets' asyncio client) drives all three, so
the numbers compare servers, not clients; every session steps in a closed loop (send a step, wait
for the answer, send the next). Measured per server:

- p50/p99 step latency for one client (sequential steps);
- aggregate steps/s with 8 clients;
- the most concurrent closed-loop sessions (tried: 256, 512, 1024, 2048) with p99 step latency < 1 s;

plus the cost of a served step over an in-process step (the same echo env, `env.step` timed here).
Goals (issue 14): p50 and p99 at most half of OpenEnv's; 8-client throughput >= 4x OpenEnv's and
>= 70% of the bare echo; 2,048 sessions with p99 < 1 s on 2 cores.

OpenEnv runs in .venv-openenv (built here with scripts/setup.d/60-openenv.sh when missing).
Run: python benchmarks/server.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent
OPENENV_PY = ROOT / ".venv-openenv" / "bin" / "python"
PORTS = {"openenvs": 18280, "openenv": 18281, "bare": 18282}
LEVELS = (256, 512, 1024, 2048)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _start(name: str) -> subprocess.Popen[bytes]:
    python = str(OPENENV_PY) if name == "openenv" else sys.executable
    kind = {"openenvs": "ours", "openenv": "openenv", "bare": "bare"}[name]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([python, str(HERE / "_server_peers.py"), kind, str(PORTS[name])], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORTS[name]}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} server did not start")


# ---- the load generator ----------------------------------------------------------------------


class Session:
    """One closed-loop WebSocket session speaking `protocol` (openenvs or OpenEnv's)."""

    def __init__(self, protocol: str, port: int) -> None:
        self.protocol = protocol
        self.port = port
        if protocol == "openenvs":
            self.step_frame = json.dumps({"type": "step", "action": "hello"})
        else:
            self.step_frame = json.dumps({"type": "step", "data": {"message": "hello"}})

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        path = "/v1/session" if self.protocol == "openenvs" else "/ws"
        self.ws = await connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=120, ping_interval=None,
                                max_size=None, compression=None)
        if self.protocol == "openenvs":
            await self.ws.send(json.dumps({"type": "open", "env_id": "bench/echo-v1"}))
            assert json.loads(await self.ws.recv())["type"] == "opened"
            await self.ws.send(json.dumps({"type": "reset", "seed": 0}))
        else:
            await self.ws.send(json.dumps({"type": "reset", "data": {"seed": 0}}))
        reply = json.loads(await self.ws.recv())
        assert reply["type"] != "error", reply

    async def step(self) -> float:
        t0 = time.perf_counter()
        await self.ws.send(self.step_frame)
        reply = await self.ws.recv()
        dt = time.perf_counter() - t0
        if '"error"' in reply[:20]:
            raise RuntimeError(reply)
        return dt

    async def close(self) -> None:
        await self.ws.close()


async def _open_many(protocol: str, port: int, n: int) -> list[Session]:
    sessions = [Session(protocol, port) for _ in range(n)]
    gate = asyncio.Semaphore(64)

    async def one(s: Session) -> None:
        async with gate:
            await s.open()

    await asyncio.gather(*(one(s) for s in sessions))
    return sessions


async def _closed_loop(sessions: list[Session], seconds: float, warmup: float = 0.5) -> tuple[list[float], float]:
    latencies: list[float] = []
    start = time.perf_counter()
    t_measure, t_end = start + warmup, start + warmup + seconds

    async def loop(s: Session) -> None:
        while True:
            now = time.perf_counter()
            if now >= t_end:
                return
            dt = await s.step()
            if now >= t_measure:
                latencies.append(dt)

    await asyncio.gather(*(loop(s) for s in sessions))
    return latencies, seconds


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(protocol: str, port: int, quick: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    (one,) = await _open_many(protocol, port, 1)
    for _ in range(300):
        await one.step()
    lat = [await one.step() for _ in range(1000 if quick else 3000)]
    out["p50_ms"], out["p99_ms"] = _pct(lat, 0.5) * 1e3, _pct(lat, 0.99) * 1e3
    await one.close()
    eight = await _open_many(protocol, port, 8)
    lat8, secs = await _closed_loop(eight, 2.0 if quick else 5.0)
    out["steps_per_s_8"] = len(lat8) / secs
    for s in eight:
        await s.close()
    held = 0
    for level in LEVELS[:2] if quick else LEVELS:
        try:
            sessions = await _open_many(protocol, port, level)
        except Exception as exc:  # noqa: BLE001 - the server refused or broke: the level failed
            out[f"p99_ms_{level}"] = f"open failed: {type(exc).__name__}"
            break
        try:
            latn, secs = await _closed_loop(sessions, 3.0 if quick else 6.0, warmup=1.0)
            p99 = _pct(latn, 0.99)
            out[f"p99_ms_{level}"] = p99 * 1e3
            out[f"steps_per_s_{level}"] = len(latn) / secs
        except Exception as exc:  # noqa: BLE001
            out[f"p99_ms_{level}"] = f"failed: {type(exc).__name__}: {exc}"[:80]
            p99 = float("inf")
        finally:
            await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        await asyncio.sleep(1.0)
        if p99 >= 1.0:
            break
        held = level
    out["max_sessions_p99_under_1s"] = held
    return out


def in_process_step_us() -> float:
    sys.path.insert(0, str(HERE))
    import _server_peers

    env = _server_peers._openenvs_echo()()
    env.reset(seed=0)
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        env.step("hello")
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    quick = "--quick" in sys.argv
    _raise_nofile()
    if not OPENENV_PY.exists():
        subprocess.run(["bash", str(ROOT / "scripts/setup.d/60-openenv.sh")], check=True)
    results = {}
    for name in ("openenvs", "openenv", "bare"):
        proc = _start(name)
        try:
            results[name] = asyncio.run(measure("openenvs" if name == "openenvs" else "openenv", PORTS[name], quick))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(name, json.dumps(results[name]), flush=True)
    ours, peer, bare = results["openenvs"], results["openenv"], results["bare"]
    local_us = in_process_step_us()
    rows = [("p50 step latency, 1 client (ms)", "p50_ms"), ("p99 step latency, 1 client (ms)", "p99_ms"),
            ("steps/s, 8 clients", "steps_per_s_8"), ("max sessions with p99 < 1 s", "max_sessions_p99_under_1s")]
    print(f"\n| {'measure':36} | {'openenvs':>10} | {'OpenEnv 0.10':>12} | {'bare echo':>10} |")
    print(f"|{'-' * 38}|{'-' * 12}|{'-' * 14}|{'-' * 12}|")
    for label, key in rows:
        print(f"| {label:36} | {ours[key]:>10.4g} | {peer[key]:>12.4g} | {bare[key]:>10.4g} |")
    for level in LEVELS:
        key = f"p99_ms_{level}"
        cells = [r.get(key, "-") for r in (ours, peer, bare)]
        cells = [f"{c:.4g}" if isinstance(c, float) else str(c)[:12] for c in cells]
        print(f"| {'p99 (ms) at ' + str(level) + ' sessions':36} | {cells[0]:>10} | {cells[1]:>12} | {cells[2]:>10} |")
    print(f"\nin-process step: {local_us:.1f} us; served step p50 {ours['p50_ms'] * 1e3:.0f} us "
          f"(cost of serving: {ours['p50_ms'] * 1e3 - local_us:.0f} us per step)")
    print(f"p50 vs OpenEnv: {ours['p50_ms'] / peer['p50_ms']:.2f}x (goal <= 0.5); "
          f"p99: {ours['p99_ms'] / peer['p99_ms']:.2f}x (goal <= 0.5)")
    print(f"8-client throughput vs OpenEnv: {ours['steps_per_s_8'] / peer['steps_per_s_8']:.2f}x (goal >= 4); "
          f"vs bare echo: {ours['steps_per_s_8'] / bare['steps_per_s_8']:.0%} (goal >= 70%)")
    print(f"sessions with p99 < 1 s: {ours['max_sessions_p99_under_1s']} (goal 2048; OpenEnv {peer['max_sessions_p99_under_1s']})")


if __name__ == "__main__":
    main()
