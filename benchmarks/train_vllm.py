"""GRPO steps with vLLM rollouts (each sync mode, async 0/1) vs transformers generation, in one run.

Every arm trains the same recipe (bundled SmolLM2-135M + LoRA r=16, arithmetic, 4 prompts x 4
generations = 16 completions per step, same seed) for the same number of steps; the first step
(warm-up: model load, first sync, compilation) is left out of the averages. Printed per arm: the
generation phase (transformers ``generate``, or waiting for the vLLM batch), the whole step, the
share of the step spent in weight sync, tokens generated, and steps/hour (async arms: the
generation column is the wait for a batch made while the previous step trained). Ratios against the
transformers arm (and async 1 against async 0) come from this one run, so machine load hits
every arm alike. Goals on a 2-core CPU: generation >= 1.7x faster with ``weights`` sync; sync
<= 10% of a step; ``--async-rollouts 1`` >= 1.4x the steps/hour of synchronous training.

    python benchmarks/train_vllm.py [--steps 4] [--max-tokens 128] [--vllm-url URL]

Without --vllm-url it starts a vLLM server (OPENENVS_VLLM_VENV, default .venv-vllm) and stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402

from openenvs.models import default_model_dir  # noqa: E402
from openenvs.trl._recipe import build_trainer, make_recipe  # noqa: E402


def recipe(out: Path, steps: int, max_tokens: int, **extra: object) -> object:
    return make_recipe({
        "algorithm": "grpo", "model": "smollm2", "envs": [{"id": "math/arithmetic-v1", "kwargs": {"difficulty": 2}}],
        "n": 256, "seed": 0, "threads": 1, "lora": {"r": 16, "lora_alpha": 32, "target_modules": "all-linear"},
        "reward_funcs": ["openenvs.trl.correct_reward", "openenvs.trl.format_reward"],
        "trainer": {"output_dir": str(out), "max_steps": steps, "per_device_train_batch_size": 16, "num_generations": 4,
                    "max_completion_length": max_tokens, "learning_rate": 1e-4, "lr_scheduler_type": "constant",
                    "beta": 0.0, "logging_steps": 1, "save_strategy": "no", "disable_tqdm": True},
        **extra,
    })  # fmt: skip


def timed_hf_trainer(trainer: object) -> list[float]:
    """Record how long each transformers generation phase takes (TRL's `_generate`)."""
    times: list[float] = []
    original = trainer._generate  # type: ignore[attr-defined]

    def generate(prompts: list[object]) -> object:
        t0 = time.perf_counter()
        out = original(prompts)
        times.append(time.perf_counter() - t0)
        return out

    trainer._generate = generate  # type: ignore[attr-defined]
    return times


def run_arm(name: str, root: Path, steps: int, max_tokens: int, url: str | None, **extra: object) -> dict[str, float]:
    out = root / name
    r = recipe(out, steps, max_tokens, **({"vllm_url": url, **extra} if url else extra))
    trainer = build_trainer(r)
    hf_times = timed_hf_trainer(trainer) if not url else None
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    rollouts = getattr(trainer, "rollout_func", None)
    if rollouts is not None:
        rollouts.close()
    logs = [h for h in trainer.state.log_history if "step_time" in h][1:]  # drop the warm-up step
    step = statistics.mean(h["step_time"] for h in logs)
    tokens = statistics.mean(h["completions/mean_length"] * 16 for h in logs)
    if hf_times is not None:
        gen = statistics.mean(hf_times[1:])
        sync = 0.0
    else:
        gen = statistics.mean(h["timing/rollout_wait_s"] for h in logs)
        sync = statistics.mean(h["timing/sync_s"] for h in logs)
    return {"generation_s": gen, "step_s": step, "sync_s": sync, "sync_share": sync / step, "tokens_per_step": tokens,
            "gen_tok_per_s": tokens / gen if gen else float("nan"), "steps_per_hour": 3600 / step, "wall_s": wall}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="steps per arm (the first is warm-up)")
    parser.add_argument("--max-tokens", type=int, default=128, help="max_completion_length")
    parser.add_argument("--vllm-url", default=None, help="a running `openenvs serve-model --training` (default: start one)")
    parser.add_argument("--port", type=int, default=None, help="port of the server it starts (default: a free one)")
    parser.add_argument("--arms", default="hf,lora,weights,weights-async", help="comma-separated arms to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    server = None
    if args.vllm_url is None:
        from openenvs.trl._rollouts import start_server

        server = start_server(default_model_dir(), sync_mode="lora", lora_rank=16, port=args.port)
    url = args.vllm_url or server.base_url
    arms = {
        "hf": {"url": None},
        "lora": {"url": url, "rollouts": "vllm", "sync": "lora"},
        "weights": {"url": url, "rollouts": "vllm", "sync": "weights"},
        "weights-async": {"url": url, "rollouts": "vllm", "sync": "weights", "async_rollouts": 1},
        "lora-async": {"url": url, "rollouts": "vllm", "sync": "lora", "async_rollouts": 1},
    }
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.arms.split(","):
                spec = dict(arms[name])
                arm_url = spec.pop("url")
                results[name] = run_arm(name, Path(tmp), args.steps, args.max_tokens, arm_url, **spec)  # type: ignore[arg-type]
                print(name, json.dumps({k: round(v, 3) for k, v in results[name].items()}), flush=True)
    finally:
        if server is not None:
            server.stop()
    print(f"\n{'arm':<14}{'gen s':>8}{'step s':>8}{'sync %':>8}{'tok/step':>10}{'gen tok/s':>10}{'steps/h':>9}")
    for name, r in results.items():  # async arms wait for a batch made while the last step trained: no tok/s
        tok_s = "-" if name.endswith("-async") else f"{r['gen_tok_per_s']:.1f}"
        print(f"{name:<14}{r['generation_s']:8.1f}{r['step_s']:8.1f}{100 * r['sync_share']:8.1f}"
              f"{r['tokens_per_step']:10.0f}{tok_s:>10}{r['steps_per_hour']:9.0f}")  # fmt: skip
    hf = results.get("hf")
    ratios = {}
    for name in ("lora", "weights"):
        if hf and name in results:
            ratios[f"generation speedup vs transformers, {name} (goal >= 1.7 for weights)"] = hf["generation_s"] / results[name]["generation_s"]
            ratios[f"tok/s ratio vs transformers, {name}"] = results[name]["gen_tok_per_s"] / hf["gen_tok_per_s"]
        if name in results:
            ratios[f"sync share of a step, {name} (goal <= 0.10)"] = results[name]["sync_share"]
    for mode in ("weights", "lora"):
        if mode in results and f"{mode}-async" in results:
            ratios[f"steps/hour async 1 vs 0, {mode} (goal >= 1.4)"] = results[f"{mode}-async"]["steps_per_hour"] / results[mode]["steps_per_hour"]
    print()
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")


if __name__ == "__main__":
    main()
