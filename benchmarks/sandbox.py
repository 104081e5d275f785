"""Sandbox benchmarks, measured in one run.

1. Latency of a small unit-test snippet: the local backend (full isolation, one warm worker) vs a
   bare ``subprocess.run([python, "-c", snippet])``; p50/p95 over interleaved runs, so both see
   the same machine load. Goal: local <= 0.5x bare.
2. Executions/s with the pool (one worker per core) on many snippets. Goal: >= 100/s on 2 cores.
   The bare-subprocess rate with the same parallelism is printed alongside.
3. CPU-ms per run (the child's own CPU time), and the cost of each layer (p50 with it turned off).
4. After all runs: processes left below the workers and files left in their run dirs (must be 0).

Prints which layers were active. Run: python benchmarks/sandbox.py [--n 300] [--throughput 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from openenvs.sandbox import Sandbox

SNIPPET = """
def add(a, b):
    return a + b

assert add(1, 2) == 3
assert add(-1, 1) == 0
assert add("a", "b") == "ab"
print("3 passed")
"""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bare_once() -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True)
    assert proc.stdout == "3 passed\n", proc.stderr
    return time.perf_counter() - t


def local_once(box: Sandbox) -> tuple[float, float]:
    t = time.perf_counter()
    r = box.run(SNIPPET)
    assert r.ok and r.stdout == "3 passed\n", r
    return time.perf_counter() - t, r.cpu_s or 0.0


def descendants(pid: int) -> int:
    kids: dict[int, list[int]] = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                fields = open(f"/proc/{e}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(fields[1]), []).append(int(e))
    seen, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in seen:
                seen.add(k)
                todo.append(k)
    return len(seen)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="latency samples per side")
    ap.add_argument("--throughput", type=int, default=3000, help="runs for the executions/s measurement")
    ap.add_argument("--layers", action="store_true", help="also measure the cost of each layer")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")

    with Sandbox(backend="local", workers=1) as box:
        on = [layer.name for layer in box.layers() if layer.active]
        off = [layer.name for layer in box.layers() if not layer.active]
        print(f"layers active: {', '.join(on)}")
        print(f"layers off:    {', '.join(off) or 'none'}")
        for _ in range(20):  # warm-up both sides
            local_once(box)
            bare_once()
        bare, local, cpu = [], [], []
        for _ in range(args.n):  # interleaved, so both see the same load
            bare.append(bare_once())
            dt, c = local_once(box)
            local.append(dt)
            cpu.append(c)
    b50, b95, l50, l95 = pct(bare, 0.5), pct(bare, 0.95), pct(local, 0.5), pct(local, 0.95)
    print(f"\n1. latency of one unit-test snippet (sequential, n={args.n} each)")
    print(f"   bare subprocess.run([python, -c]):  p50 {b50 * 1e3:7.2f} ms   p95 {b95 * 1e3:7.2f} ms")
    print(f"   local sandbox, full isolation:     p50 {l50 * 1e3:7.2f} ms   p95 {l95 * 1e3:7.2f} ms")
    print(f"   ratio local/bare:                  p50 {l50 / b50:7.2f} x    p95 {l95 / b95:7.2f} x   (goal <= 0.5x)")
    print(f"   CPU of the sandboxed program:      p50 {statistics.median(cpu) * 1e3:7.2f} ms")

    n = args.throughput
    with Sandbox(backend="local", workers=cores) as box:
        box.run_many([box.request(SNIPPET) for _ in range(cores * 4)])
        t = time.perf_counter()
        results = box.run_many([box.request(SNIPPET) for _ in range(n)])
        dt = time.perf_counter() - t
        assert all(r.ok for r in results), [r for r in results if not r.ok][:2]
        time.sleep(0.2)
        left = sum(descendants(outer) - 1 for outer, _ in box.backend.worker_pids())  # type: ignore[attr-defined]
        files = sum(len(os.listdir(d)) for d in box.backend.worker_dirs())  # type: ignore[attr-defined]
    nb = max(cores * 50, 100)
    with ThreadPoolExecutor(cores) as pool:
        tb = time.perf_counter()
        list(pool.map(lambda _: bare_once(), range(nb)))
        bare_rate = nb / (time.perf_counter() - tb)
    print(f"\n2. throughput with {cores} workers on {cores} cores ({n} runs)")
    print(f"   local sandbox: {n / dt:7.1f} executions/s   (goal >= 100/s)")
    print(f"   bare subprocess with {cores} threads: {bare_rate:7.1f} executions/s ({nb} runs)")
    print(f"   ratio: {n / dt / bare_rate:.1f}x")
    print(
        f"\n4. after {n + cores * 4} pooled runs: {left} processes left below the workers, {files} files left in run dirs"
    )

    if args.layers:
        print("\n3. cost of each layer (p50 latency with it turned off; full isolation for reference)")
        for disable in [
            (),
            ("seccomp",),
            ("landlock",),
            ("pid_namespace",),
            ("network_namespace",),
            ("mount_namespace",),
        ]:
            with Sandbox(backend="local", workers=1, disable=disable, allow_unisolated=True) as box:
                for _ in range(10):
                    local_once(box)
                xs = [local_once(box)[0] for _ in range(max(50, args.n // 3))]
            print(f"   {'off: ' + ', '.join(disable) if disable else 'all on':28s} p50 {pct(xs, 0.5) * 1e3:6.2f} ms")


if __name__ == "__main__":
    main()
