r"""The README's main job: GRPO on bundled arithmetic with the bundled SmolLM2-135M-Instruct, on a laptop CPU.

What makes it learn in about ten minutes on two cores (see `DemoConfig` for every value):

- LoRA (r=16 on all linear layers, lr 2e-4) instead of a full fine-tune: bigger steps, less noise;
- three reward functions, all scored by the env: strict correctness (``\boxed{}``), the format alone,
  and correctness wherever the answer is written, so the model is paid for right answers before it
  has learned the format and both curves rise from the first steps;
- short completions (24 tokens: room for ``41 + 68 = \boxed{109}``, not for a ramble) and several
  prompts per step (4 prompts x 4 generations);
- a curriculum over difficulty 1 -> 3 that moves up once strict accuracy reaches 0.5;
- float32 without gradient checkpointing: TRL's defaults (bf16, checkpointing) are for GPUs; on
  a CPU, bf16 autocast falls back to a reference GEMM that made a step several times slower;
- torch threads chosen from the load: all cores on an idle machine, one thread on a busy one, where
  2 threads on 2 shared cores collapsed to seconds per token (oversubscription) while 1 thread
  stayed near 0.1 s/token for this model (see :func:`pick_threads`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DemoConfig", "pick_threads", "run_demo"]


def pick_threads() -> int:
    """Torch threads for CPU training: the cores not already busy (1-minute load average), at least 1.

    On an idle 2-core laptop this gives 2; on a shared box whose load is at or above the core
    count it gives 1, because oversubscribed threads spin and wait on each other.
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))

logger = logging.getLogger(__name__)


class DemoConfig(BaseModel):
    """Settings of the demo run; the defaults are the tested recipe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str = Field(default="math/arithmetic-v1", description="Env to train on; it needs an integer `difficulty`.")
    levels: list[int] = Field(default=[1, 2, 3], description="Curriculum difficulties, easiest first.")
    threshold: float = Field(default=0.5, gt=0, le=1, description="Strict accuracy that moves the curriculum up.")
    few_shot: int = Field(
        default=1,
        ge=0,
        le=8,
        description="Solved examples shown before each question (the env's `few_shot`); 1 shows SmolLM2-135M the "
        "\\boxed{} format, which it never samples unprompted, so the format and strict-accuracy rewards can fire.",
    )
    eval_levels: list[int] = Field(default=[1, 2], description="Difficulties of the held-out set (equal shares).")
    eval_n: int = Field(default=64, ge=4, description="Held-out prompts, answered greedily before and after training.")
    model: str | None = Field(default=None, description="Model folder; None converts and uses bundled SmolLM2-135M-Instruct.")
    seed: int = Field(default=0, description="Seeds LoRA init, sampling and the training prompts.")
    max_steps: int = Field(default=30, ge=1, description="Optimizer steps (the time budget may stop earlier).")
    minutes: float = Field(default=10.0, gt=0, description="Wall-clock budget for training, in minutes.")
    threads: int | None = Field(
        default=None, ge=1, description="torch threads; None picks from the load (see pick_threads)."
    )
    prompts_per_step: int = Field(default=4, ge=1, description="Distinct prompts per optimizer step.")
    num_generations: int = Field(default=4, ge=2, description="Completions per prompt (the GRPO group).")
    max_completion_length: int = Field(default=24, ge=4, description="Completion length limit, in tokens.")
    learning_rate: float = Field(default=2e-4, gt=0, description="AdamW learning rate for the LoRA weights.")
    lora_r: int = Field(default=16, ge=0, description="LoRA rank; 0 trains all weights (full fine-tune).")
    reward_weights: list[float] = Field(
        default=[1.0, 0.5, 0.5], description="Weights of (strict correctness, format, lenient correctness)."
    )
    output_dir: str = Field(default="runs/demo", description="Where the adapter, report and provenance go.")
    rollouts: Literal["hf", "vllm"] = Field(
        default="hf", description="hf: the trainer generates (transformers); vllm: a vLLM server, weights synced each step."
    )
    vllm_url: str | None = Field(default=None, description="With vllm rollouts: a running server (default: start one).")
    sync: Literal["lora", "weights"] = Field(default="lora", description="With vllm rollouts: how weights reach the server.")


def run_demo(config: DemoConfig, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Evaluate, train with GRPO, evaluate again; write the report. Returns before/after metrics and paths."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer  # type: ignore[attr-defined]

    from ..models import default_model_dir
    from ..verify import Curriculum
    from ._evaluate import evaluate_rows
    from ._grpo import for_grpo, make_rows
    from ._report import ProvenanceCallback, TimeBudgetCallback, provenance, write_report
    from ._rewards import correct_reward, format_reward, lenient_correct_reward

    threads = config.threads or pick_threads()
    torch.set_num_threads(threads)
    logger.warning("Using %d torch thread(s).", threads)
    out = Path(config.output_dir)
    model_dir = config.model or str(default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)

    held_out = make_rows(
        [(config.env, {"difficulty": level, "few_shot": config.few_shot}) for level in config.eval_levels], n=config.eval_n, seed=10_000 + config.seed
    )
    started = time.monotonic()
    before = evaluate_rows(model, tokenizer, held_out, max_new_tokens=config.max_completion_length, batch_size=32,
                           record_dir=out / "heldout-before", model_info=_model_info(model_dir))
    eval_s = time.monotonic() - started
    logger.warning("Held-out before training: %s", _short(before))

    curriculum = Curriculum(
        config.env,
        [{"difficulty": level, "few_shot": config.few_shot} for level in config.levels],
        threshold=config.threshold,
        window=config.prompts_per_step * config.num_generations * 2,
    )
    index: dict[str, dict[str, Any]] = {}
    grpo = for_grpo(config.env, seed=config.seed, curriculum=curriculum, index=index)
    grpo["reward_funcs"] = [correct_reward, format_reward, lenient_correct_reward]
    batch = config.prompts_per_step * config.num_generations
    args = GRPOConfig(
        output_dir=str(out),
        max_steps=config.max_steps,
        per_device_train_batch_size=batch,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        learning_rate=config.learning_rate,
        lr_scheduler_type="constant",
        beta=0.0,
        reward_weights=config.reward_weights,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,  # TRL defaults to bf16; CPU autocast to bf16 falls back to a slow reference GEMM
        gradient_checkpointing=False,  # memory is no issue at 135M; recomputing the forward costs a third
        seed=config.seed,
        disable_tqdm=False,
    )
    peft_config = None
    if config.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r, lora_alpha=2 * config.lora_r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    budget = TimeBudgetCallback(config.minutes * 60)
    record = provenance([(config.env, {"difficulty": lv, "few_shot": config.few_shot}) for lv in config.levels], model=model_dir, config=config.model_dump(), seed=config.seed)
    trainer_cls: Any = GRPOTrainer
    server = None
    try:
        if config.rollouts == "vllm":
            from ._importance import importance_grpo_trainer
            from ._rollouts import ServerRollouts, peeking_trainer, start_server
            from ._sync import WeightSync

            url = config.vllm_url
            if url is None:
                server = start_server(model_dir, sync_mode=config.sync, lora_rank=config.lora_r, log_path=out / "vllm-server.log")
                url = server.base_url
            sync = WeightSync(url, config.sync, work_dir=out / "sync", log_path=server.log_file if server else None)
            grpo["rollout_func"] = ServerRollouts(
                index, base_url=url, tokenizer=tokenizer, sync=sync, out_dir=out / "rollouts", server=server
            )
            trainer_cls = peeking_trainer(importance_grpo_trainer())
        trainer = trainer_cls(
            model=model,
            args=args,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[*grpo.pop("callbacks"), budget, ProvenanceCallback(record), *(callbacks or [])],
            **grpo,
        )
        started = time.monotonic()
        trainer.train()
        train_s = time.monotonic() - started
    finally:
        if server is not None:
            server.stop()
    trainer.save_model(str(out / "final"))
    after = evaluate_rows(trainer.model, tokenizer, held_out, max_new_tokens=config.max_completion_length, batch_size=32,
                          record_dir=out / "heldout-after", model_info=_model_info(str(out / "final")))
    logger.warning("Held-out after training: %s", _short(after))
    steps = trainer.state.global_step
    extra = {
        "model": model_dir,
        "env": config.env,
        "steps": steps,
        "train_seconds": round(train_s, 1),
        "seconds_per_step": round(train_s / max(1, steps), 2),
        "eval_seconds": round(eval_s, 1),
        "threads": threads,
        "curriculum_level": curriculum.level,
        "config": config.model_dump(),
        "provenance": record,
    }
    paths = write_report(out, trainer.state.log_history, before=before, after=after, title=f"GRPO on {config.env}", extra=extra)
    result = {"before": before, "after": after, **extra, "report": {k: str(v) for k, v in paths.items()}}
    (out / "demo_result.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def _model_info(folder: str) -> Any:
    """How a held-out record names the model: its folder, content hash and origin."""
    from ..models import model_identity
    from ..rollout import ModelInfo

    identity = model_identity(folder)
    return ModelInfo(name=folder, revision="sha256:" + str(identity["sha256"])[:16], backend="hf",
                     origin=json.dumps(identity, sort_keys=True, default=str))


def _short(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={metrics[k]:.3f}" for k in ("accuracy", "lenient_accuracy", "format", "reward") if metrics.get(k) is not None)
