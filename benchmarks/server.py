"""openenvs serve vs OpenEnv 0.10 serving the same echo logic, and a bare FastAPI echo, in one run.

One raw WebSocket load generator (this process, websockets' asyncio client) drives all three, so
the numbers compare servers, not clients; every session steps in a closed loop (send a step, wait
for the answer, send the next). Measured per server:

- p50/p99 step latency for one client (sequential steps);
- aggregate steps/s with 8 clients;
- the most concurrent closed-loop sessions (tried: 256, 512, 1024, 2048) with p99 step latency < 1 s;

The three servers run side by side and are measured in interleaved rounds (the best of ROUNDS is
kept for latency and throughput), so the load of a shared machine hits all of them alike;

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
ROUNDS = 3


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


PROTOCOL = {"openenvs": "openenvs", "openenv": "openenv", "bare": "openenv"}


async def latency_1(name: str, n: int) -> tuple[float, float]:
    (one,) = await _open_many(PROTOCOL[name], PORTS[name], 1)
    for _ in range(200):
        await one.step()
    lat = [await one.step() for _ in range(n)]
    await one.close()
    return _pct(lat, 0.5), _pct(lat, 0.99)


async def throughput_8(name: str, seconds: float) -> float:
    eight = await _open_many(PROTOCOL[name], PORTS[name], 8)
    lat, secs = await _closed_loop(eight, seconds)
    await asyncio.gather(*(s.close() for s in eight))
    return len(lat) / secs


async def p99_at(name: str, level: int, seconds: float) -> float | str:
    try:
        sessions = await _open_many(PROTOCOL[name], PORTS[name], level)
    except Exception as exc:  # noqa: BLE001 - the server refused or broke: the level failed
        return f"open failed: {type(exc).__name__}"
    try:
        lat, _ = await _closed_loop(sessions, seconds, warmup=1.0)
        return _pct(lat, 0.99)
    except Exception as exc:  # noqa: BLE001
        return f"failed: {type(exc).__name__}"
    finally:
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        await asyncio.sleep(1.0)


async def measure_all(names: list[str], quick: bool) -> dict[str, dict[str, object]]:
    """Interleave the servers round by round and keep each one's best round, so load hits all alike."""
    out: dict[str, dict[str, object]] = {n: {"p50_ms": 1e9, "p99_ms": 1e9, "steps_per_s_8": 0.0} for n in names}
    for _ in range(ROUNDS if not quick else 1):
        for name in names:
            p50, p99 = await latency_1(name, 1000 if quick else 2000)
            out[name]["p50_ms"] = min(out[name]["p50_ms"], p50 * 1e3)  # type: ignore[call-overload]
            out[name]["p99_ms"] = min(out[name]["p99_ms"], p99 * 1e3)  # type: ignore[call-overload]
            rate = await throughput_8(name, 2.0 if quick else 4.0)
            out[name]["steps_per_s_8"] = max(out[name]["steps_per_s_8"], rate)  # type: ignore[call-overload]
    alive = set(names)
    for name in names:
        out[name]["max_sessions_p99_under_1s"] = 0
    for level in LEVELS[:2] if quick else LEVELS:
        for name in sorted(alive):
            p99 = await p99_at(name, level, 3.0 if quick else 5.0)
            out[name][f"p99_ms_{level}"] = p99 * 1e3 if isinstance(p99, float) else p99
            if isinstance(p99, float) and p99 < 1.0:
                out[name]["max_sessions_p99_under_1s"] = level
            else:
                alive.discard(name)
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
    names = ["openenvs", "openenv", "bare"]
    procs = [_start(name) for name in names]
    try:
        results = asyncio.run(measure_all(names, quick))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    for name in names:
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
