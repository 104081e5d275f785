"""Overhead of openenvs' GRPO adapter vs bare TRL with a hand-written reward (goal: wall ratio <= 1.05).

Both runs train the same tiny model on the same arithmetic prompts with the same seed and steps;
the only difference is where prompts and rewards come from. Runs alternate (A B A B ...) and the
median wall time of each is compared, so drift in machine load hits both. Also times the reward
functions alone on the same completions.

    python benchmarks/trl_overhead.py [--steps 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

import openenvs  # noqa: E402
from openenvs.models import tiny_model_dir  # noqa: E402
from openenvs.trl import correct_reward, for_grpo, format_reward  # noqa: E402

BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def hand_correct(completions, answer, **kwargs):
    out = []
    for completion, gold in zip(completions, answer, strict=True):
        text = completion[-1]["content"]
        found = BOXED.findall(text)
        out.append(1.0 if found and found[-1].strip().lstrip("+").lstrip("-").isdigit() and int(found[-1]) == gold else 0.0)
    return out


def hand_format(completions, **kwargs):
    return [1.0 if BOXED.search(c[-1]["content"]) else 0.0 for c in completions]


def config(out: str, steps: int) -> GRPOConfig:
    return GRPOConfig(
        output_dir=out, max_steps=steps, per_device_train_batch_size=16, num_generations=8, max_completion_length=16,
        logging_steps=1, report_to=[], use_cpu=True, bf16=False, gradient_checkpointing=False, save_strategy="no", seed=0,
        disable_tqdm=True,
    )


def run(kind: str, model: str, steps: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        if kind == "openenvs":
            kwargs = for_grpo("math/arithmetic-v1", n=256, seed=0)
        else:
            kwargs = for_grpo("math/arithmetic-v1", n=256, seed=0)  # same prompts ...
            rows = kwargs["train_dataset"]
            env = openenvs.make("math/arithmetic-v1")
            answers = []
            for seed in rows["env_seed"]:
                env.reset(seed=seed)
                answers.append(env.task.answer)
            # ... but a plain dataset and hand-written rewards, as one would write for bare TRL
            kwargs = {"train_dataset": Dataset.from_dict({"prompt": rows["prompt"], "answer": answers}),
                      "reward_funcs": [hand_correct, hand_format]}
        trainer = GRPOTrainer(model=model, args=config(out, steps), **kwargs)
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def reward_only(n: int = 2000) -> tuple[float, float]:
    kwargs = for_grpo("math/arithmetic-v1", n=64, seed=1)
    rows = kwargs["train_dataset"]
    env = openenvs.make("math/arithmetic-v1")
    answers = []
    for seed in rows["env_seed"]:
        env.reset(seed=seed)
        answers.append(env.task.answer)
    reps = n // len(rows)
    comps = [[{"role": "assistant", "content": f"so \\boxed{{{a + (i % 2)}}} {i}"}] for i in range(reps) for a in answers]
    cols = {k: list(rows[k]) * reps for k in ("env_id", "env_kwargs", "env_seed")}
    start = time.perf_counter()
    correct_reward(completions=comps, **cols)
    format_reward(completions=comps, **cols)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    hand_correct(comps, answers * reps)
    hand_format(comps)
    theirs = time.perf_counter() - start
    return ours / len(comps) * 1e6, theirs / len(comps) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = str(tiny_model_dir())
    times: dict[str, list[float]] = {"openenvs": [], "bare": []}
    run("bare", model, 1)  # warm-up: imports, caches
    for _ in range(args.repeats):
        for kind in ("openenvs", "bare"):
            times[kind].append(run(kind, model, args.steps))
    ours, bare = statistics.median(times["openenvs"]), statistics.median(times["bare"])
    best_ours, best_bare = min(times["openenvs"]), min(times["bare"])
    us_ours, us_bare = reward_only()
    per_step_ms = (us_ours - us_bare) * 16 / 1000  # 16 completions per step
    print(f"GRPO {args.steps} steps x {args.repeats} runs, tiny model, 16 completions/step, 1 thread")
    print(f"  bare TRL + hand reward : {bare:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times['bare'])})")
    print(f"  openenvs.trl.for_grpo  : {ours:7.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times['openenvs'])})")
    print(f"  wall ratio openenvs/bare: {ours / bare:.3f} (medians), {best_ours / best_bare:.3f} (best runs)  (goal <= 1.05)")
    print(f"  reward functions alone : {us_ours:.1f} us vs {us_bare:.1f} us per completion (ratio {us_ours / us_bare:.1f}x)")
    print(f"  extra scoring per step : {per_step_ms:.1f} ms = {per_step_ms / 1000 / (bare / args.steps):.2%} of a bare step")


if __name__ == "__main__":
    main()
