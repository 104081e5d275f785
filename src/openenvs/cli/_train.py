"""`openenvs train` (a YAML recipe, or grpo|ppo with flags) and `openenvs demo` (the README's main job)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _step_table_callback() -> Any:
    """A TrainerCallback printing one row per logging step: reward curves, length, level, speed."""
    from transformers import TrainerCallback

    console = _console()
    columns = [
        ("reward", "reward"),
        ("correct", "rewards/correct_reward/mean"),
        ("format", "rewards/format_reward/mean"),
        ("lenient", "rewards/lenient_correct_reward/mean"),
        ("env", "rewards/env_reward/mean"),
        ("kl", "kl"),
        ("len", "completions/mean_length"),
        ("level", "curriculum/level"),
        ("is", "is/ratio_mean"),
        ("rollout", "timing/rollout_wait_s"),
        ("sync", "timing/sync_s"),
    ]

    class StepTable(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.header = False
            self.last = time.monotonic()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            if not logs or not any(key in logs for _, key in columns):
                return
            shown = [(name, key) for name, key in columns if key in logs]
            timed = "timing/rollout_wait_s" in logs  # vllm rollouts: rollout, sync and train time of the step
            if not self.header:
                names = ["step", *[n for n, _ in shown], *(["train"] if timed else []), "s/step"]
                console.print("  ".join(f"{h:>8}" for h in names))
                self.header = True
            now = time.monotonic()
            per_step = (now - self.last) / max(1, args.logging_steps)
            self.last = now
            values = [f"{logs[key]:8.3f}" for _, key in shown]
            if timed:
                values.append(f"{per_step - logs['timing/rollout_wait_s'] - logs.get('timing/sync_s', 0.0):8.1f}")
            console.print("  ".join([f"{state.global_step:>8}", *values, f"{per_step:8.1f}"]))

    return StepTable()


def _parse_set(pairs: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--set takes FIELD=VALUE (a GRPOConfig/PPOConfig field); got `{pair}`.")
        key, value = pair.split("=", 1)
        # YAML 1.1 reads no/yes/on/off as booleans; TRL's strategies (save_strategy=no) are strings.
        out[key.strip()] = value if value.strip().lower() in {"no", "yes", "on", "off"} else yaml.safe_load(value)
    return out


def train_cmd(
    target: str = typer.Argument(..., help="A recipe YAML (see trainers/), or `grpo` / `ppo` with --env and --model."),
    env: list[str] = typer.Option([], "--env", "-e", help="Env id to train on (repeatable: a mixture)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model folder, `smollm2` (bundled) or `tiny`."),
    output_dir: str | None = typer.Option(None, "--output-dir", "-o", help="Where checkpoints and the report go."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the prompts and the trainer."),
    rollouts: str | None = typer.Option(
        None, "--rollouts", help="hf: the trainer's model generates; vllm: a vLLM server via openenvs' Runner, weights synced each step (CPU ok)."
    ),
    vllm_url: str | None = typer.Option(
        None, "--vllm-url", help="With --rollouts vllm: a running `openenvs serve-model --training` (default: start one). "
        "With --use-vllm: a `trl vllm-serve` (TRL server mode, GPU)."
    ),
    sync: str | None = typer.Option(None, "--sync", help="vllm rollouts: lora (hot-load the adapter) or weights (merge and reload)."),
    async_rollouts: int | None = typer.Option(None, "--async-rollouts", help="vllm rollouts: 1 overlaps step k+1's generation with step k."),
    resume: str | None = typer.Option(None, "--resume", help="Continue a stopped run: its output dir (last checkpoint) or a checkpoint dir."),
    use_vllm: bool | None = typer.Option(None, "--use-vllm/--no-vllm", help="TRL's own vLLM modes (colocate/server, NCCL: GPU only)."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads (1 is best on a shared 2-core box)."),
    set_: list[str] = typer.Option([], "--set", help="Trainer field override FIELD=VALUE (repeatable)."),
) -> None:
    """Train a model on openenvs environments with TRL's GRPO or openenvs' PPO; writes a report at the end."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from ..trl._recipe import load_recipe, make_recipe

    trainer_over: dict[str, Any] = _parse_set(set_)
    checkpoint = None
    if resume:
        checkpoint = _checkpoint(resume)
        output_dir = output_dir or str(checkpoint.parent)
    if output_dir:
        trainer_over["output_dir"] = output_dir
    if max_steps is not None:
        trainer_over["max_steps"] = max_steps
    if use_vllm is not None:
        trainer_over["use_vllm"] = use_vllm
    if vllm_url and rollouts != "vllm":
        trainer_over.update(use_vllm=True, vllm_mode="server", vllm_server_base_url=vllm_url)
    overrides: dict[str, Any] = {"model": model, "seed": seed, "threads": threads, "trainer": trainer_over,
                                 "rollouts": rollouts, "sync": sync, "async_rollouts": async_rollouts,
                                 "vllm_url": vllm_url if rollouts == "vllm" else None}  # fmt: skip
    if env:
        overrides["envs"] = [{"id": e} for e in env]
    if target in {"grpo", "ppo"}:
        if not env:
            raise typer.BadParameter("`openenvs train grpo|ppo` needs --env ID (e.g. --env math/arithmetic-v1).")
        recipe = make_recipe({"algorithm": target, "envs": overrides.pop("envs")}, overrides)
    else:
        recipe = load_recipe(target, overrides)
    console = _console()
    how = f" (rollouts: vllm, sync: {recipe.sync_mode}, async {recipe.async_rollouts})" if recipe.rollouts == "vllm" else ""
    console.print(f"[bold]openenvs train[/]: {recipe.algorithm} on {[e.id for e in recipe.envs]} with {recipe.model}{how}")
    run_training(recipe, console, checkpoint)


def _checkpoint(path: str) -> Path:
    """The checkpoint folder to resume from: `path` itself, or the last ``checkpoint-N`` inside it."""
    folder = Path(path)
    if (folder / "trainer_state.json").is_file():
        return folder
    found = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1)
    if not found:
        raise typer.BadParameter(f"--resume {path}: no checkpoint-N folder in it (save with --set save_steps=N).")
    return found[-1]


def run_training(recipe: Any, console: Any, checkpoint: Path | None = None) -> Any:
    """Build and run the trainer (starting and always stopping a vLLM server if the recipe needs one); write the report."""
    from ..repro._card import write_card
    from ..trl._recipe import build_trainer
    from ..trl._report import write_report

    server = None
    trainer = None
    status = "interrupted"
    started = time.monotonic()
    out_dir = Path(recipe.trainer.get("output_dir") or "runs/train")
    write_card(out_dir, kind="train", command=["openenvs", *sys.argv[1:]], status="running",
               recipe=recipe.model_dump(mode="json"))
    try:
        if recipe.rollouts == "vllm" and not recipe.vllm_url:
            server = _start_server(recipe, console)
        trainer = build_trainer(recipe, callbacks=[_step_table_callback()], server=server)
        out_dir = Path(trainer.args.output_dir)
        started = time.monotonic()
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        seconds = time.monotonic() - started
        status = f"finished: {trainer.state.global_step} steps"
    except Exception as exc:
        status = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        steps = trainer.state.global_step if trainer is not None else 0
        write_card(out_dir, kind="train", status=status if status != "interrupted" else f"interrupted after {steps} steps",
                   wall_s=time.monotonic() - started)
        rollouts = getattr(trainer, "rollout_func", None) if trainer is not None else None
        if rollouts is not None and hasattr(rollouts, "close"):
            rollouts.close()
        if server is not None:
            server.stop()
    out = Path(trainer.args.output_dir)
    trainer.save_model(str(out / "final"))
    paths = write_report(
        out,
        trainer.state.log_history,
        title=f"{recipe.algorithm.upper()} on {', '.join(e.id for e in recipe.envs)}",
        extra={"recipe": recipe.model_dump(), "train_seconds": round(seconds, 1), "steps": trainer.state.global_step},
    )
    write_card(out, kind="train", status=status, wall_s=seconds)  # with the report's files
    console.print(f"Done: {trainer.state.global_step} steps in {seconds:.0f} s. Report: {paths['html']}")
    return trainer


def _start_server(recipe: Any, console: Any) -> Any:
    """A vLLM server for training rollouts: the recipe's model, LoRA hot-load, dev endpoints, processed logprobs."""
    from ..trl._recipe import resolve_model
    from ..trl._rollouts import start_server

    out = Path(recipe.trainer.get("output_dir", "runs/train"))
    out.mkdir(parents=True, exist_ok=True)
    log = out / "vllm-server.log"
    console.print(f"Starting a vLLM server for rollouts (log: {log}; 1-3 minutes on CPU)...")
    rank = int((recipe.lora or {}).get("r", 16))
    return start_server(resolve_model(recipe.model), sync_mode=recipe.sync_mode, lora_rank=rank, log_path=log)


def demo_cmd(
    seed: int = typer.Option(0, "--seed", help="Seed of LoRA init, sampling and prompts."),
    minutes: float = typer.Option(10.0, "--minutes", help="Training time budget."),
    max_steps: int = typer.Option(30, "--max-steps", help="Optimizer steps (the budget may stop earlier)."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads (default: the idle cores, at least 1)."),
    output_dir: str = typer.Option("runs/demo", "--output-dir", "-o", help="Where the report and adapter go."),
    model: str | None = typer.Option(None, "--model", help="Model folder (default: bundled SmolLM2-135M-Instruct)."),
    rollouts: str = typer.Option("hf", "--rollouts", help="hf (transformers generate) or vllm (a vLLM server, LoRA synced each step)."),
    vllm_url: str | None = typer.Option(None, "--vllm-url", help="With --rollouts vllm: a running `openenvs serve-model --training`."),
    sync: str | None = typer.Option(None, "--sync", help="With --rollouts vllm: lora (default) or weights."),
) -> None:
    """GRPO on bundled arithmetic with bundled SmolLM2-135M on CPU (~10 min); held-out accuracy before vs after."""
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from ..trl._demo import DemoConfig, run_demo

    console = _console()
    config = DemoConfig.model_validate({
        "seed": seed, "minutes": minutes, "max_steps": max_steps, "threads": threads, "output_dir": output_dir,
        "model": model, "rollouts": rollouts, "vllm_url": vllm_url, "sync": sync or "lora",
    })  # fmt: skip
    console.print(
        f"[bold]openenvs demo[/]: GRPO + LoRA on {config.env} (curriculum {config.levels}), "
        f"{config.prompts_per_step}x{config.num_generations} completions/step, max {config.max_completion_length} tokens"
    )
    from ..repro._card import write_card

    started = time.monotonic()
    write_card(config.output_dir, kind="train", command=["openenvs", *sys.argv[1:]], status="running",
               recipe=config.model_dump(mode="json"))
    status = "interrupted"
    try:
        result = run_demo(config, callbacks=[_step_table_callback()])
        status = f"finished: {result['steps']} steps"
    except Exception as exc:
        status = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        metrics = None
        if status.startswith("finished"):
            metrics = {f"held-out {k}": _pick(result[k]) | {"n": result[k]["n"]} for k in ("before", "after")}
        write_card(config.output_dir, status=status, wall_s=time.monotonic() - started, metrics=metrics)
    from rich.table import Table

    table = Table("held-out", "before", "after", "change", title=f"{result['before']['n']} held-out problems, greedy")
    for key in ("accuracy", "lenient_accuracy", "format", "reward"):
        b, a = result["before"].get(key), result["after"].get(key)
        if b is not None and a is not None:
            table.add_row(key, f"{b:.3f}", f"{a:.3f}", f"{a - b:+.3f}")
    console.print(table)
    console.print(
        f"{result['steps']} steps in {result['train_seconds']:.0f} s ({result['seconds_per_step']:.1f} s/step). "
        f"Report: {result['report']['html']}"
    )
    console.print(json.dumps({"before": _pick(result["before"]), "after": _pick(result["after"])}))


def _pick(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in ("accuracy", "lenient_accuracy", "format", "reward") if k in metrics}


def register(app: typer.Typer) -> None:
    """Add `train` and `demo` to the CLI."""
    app.command("train")(train_cmd)
    app.command("demo")(demo_cmd)
