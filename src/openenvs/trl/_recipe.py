"""Training recipes: a YAML file (or CLI flags) naming the algorithm, the model, the env(s) and TRL's config fields.

algorithm: grpo                      # or ppo
model: smollm2                       # a folder, `smollm2` (bundled) or `tiny` (random, tests)
envs:
- {id: math/arithmetic-v1, kwargs: {difficulty: 2}, weight: 1.0}
n: 1024                              # training prompts (GRPO)
seed: 0
curriculum: {levels: [{difficulty: 1}, {difficulty: 2}], threshold: 0.75}
lora: {r: 16, lora_alpha: 32, target_modules: all-linear}
reward_funcs: [openenvs.trl.correct_reward, openenvs.trl.format_reward]   # dotted paths
threads: 1
trainer:                             # GRPOConfig / PPOConfig fields, by their TRL names
output_dir: runs/arith
learning_rate: 2.0e-4
use_vllm: false
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._errors import ConfigError

__all__ = ["EnvEntry", "Recipe", "build_trainer", "load_recipe", "resolve_model"]

logger = logging.getLogger(__name__)


class EnvEntry(BaseModel):
    """One env of a recipe."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Registered env id, e.g. math/arithmetic-v1.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for make().")
    weight: float = Field(default=1.0, ge=0, description="Share of the prompts in a mixture (relative).")


class CurriculumEntry(BaseModel):
    """A curriculum over one env's config fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: list[dict[str, Any]] = Field(description="Env kwargs per level, easiest first.")
    threshold: float = Field(default=0.75, gt=0, le=1, description="Accuracy that moves to the next level.")
    window: int = Field(default=64, ge=1, description="Episodes averaged for that accuracy.")


class Recipe(BaseModel):
    """A training run, as written in ``trainers/*.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["grpo", "ppo"] = Field(default="grpo", description="GRPO (TRL's trainer) or PPO (openenvs').")
    model: str = Field(default="smollm2", description="Model folder or id; `smollm2` (bundled) or `tiny` (tests).")
    envs: list[EnvEntry] = Field(min_length=1, description="Env(s) to train on; several make a weighted mixture.")
    n: int = Field(default=1024, ge=1, description="Training prompts drawn for GRPO.")
    seed: int = Field(default=0, description="Seed of the prompts and of the trainer.")
    curriculum: CurriculumEntry | None = Field(default=None, description="Raise difficulty as accuracy rises (GRPO).")
    lora: dict[str, Any] | None = Field(default=None, description="peft LoraConfig fields; omit for a full fine-tune.")
    reward_funcs: list[str] | None = Field(default=None, description="Dotted paths of reward functions (GRPO).")
    threads: int | None = Field(default=None, ge=1, description="torch threads (1 on a shared 2-core machine).")
    tool_template: bool | None = Field(
        default=None, description="Give the tokenizer a ChatML tool template (default: when training tool envs)."
    )
    trainer: dict[str, Any] = Field(default_factory=dict, description="GRPOConfig / PPOConfig fields, by TRL's names.")
    rollouts: Literal["hf", "vllm"] = Field(
        default="hf",
        description="Who generates training rollouts: `hf` (the trainer's model, transformers generate) or `vllm` "
        "(a vLLM server through openenvs' Runner, weights synced after every step without NCCL).",
    )
    sync: Literal["lora", "weights"] | None = Field(
        default=None,
        description="With vllm rollouts: `lora` hot-loads the adapter, `weights` merges and reloads the full weights "
        "(full speed decoding). Default: lora when `lora` is set, else weights.",
    )
    async_rollouts: Literal[0, 1] = Field(
        default=0, description="With vllm rollouts: 1 generates step k+1's batch while step k trains (staleness 1)."
    )
    vllm_url: str | None = Field(default=None, description="A running vLLM server to use (default: start one).")
    max_turns: int | None = Field(default=None, ge=1, description="Most policy turns per episode with vllm rollouts.")

    @property
    def sync_mode(self) -> Literal["lora", "weights"]:
        """The sync mode in effect (see `sync`)."""
        return self.sync or ("lora" if self.lora else "weights")


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read a YAML recipe; `overrides` (e.g. from CLI flags) replace top-level keys and merge into ``trainer``."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Recipe `{path}` not found; see trainers/*.yaml for examples.")
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"Recipe `{path}` must be a YAML mapping with keys like algorithm, model, envs, trainer.")
    return make_recipe(data, overrides)


def make_recipe(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Recipe:
    """Validate a recipe mapping, applying `overrides` as in :func:`load_recipe`."""
    data = dict(data)
    if "env" in data:  # shorthand: env: <id>
        data.setdefault("envs", [{"id": data.pop("env")}])
    data["envs"] = [{"id": e} if isinstance(e, str) else e for e in data.get("envs", [])]
    for key, value in (overrides or {}).items():
        if key == "trainer":
            data["trainer"] = {**data.get("trainer", {}), **value}
        elif value is not None:
            data[key] = value
    try:
        return Recipe(**data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"Invalid recipe: {problems}. Keys: {', '.join(Recipe.model_fields)}.") from None


def resolve_model(name: str) -> str:
    """A model folder for `name`: ``smollm2`` (bundled, converted once), ``tiny`` (random test model) or as given."""
    from ..models import default_model_dir, tiny_model_dir

    if name in {"smollm2", "bundled", "default"}:
        return str(default_model_dir())
    if name == "tiny":
        return str(tiny_model_dir())
    return name


def _import(path: str) -> Any:
    module, _, attr = path.rpartition(".")
    if not module:
        raise ConfigError(f"Reward function `{path}` must be a dotted path like openenvs.trl.correct_reward.")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Cannot import reward function `{path}`: {exc}.") from None


def build_trainer(recipe: Recipe, callbacks: list[Any] | None = None, *, server: Any = None) -> Any:
    """Build the TRL trainer (GRPOTrainer, or openenvs' PPOTrainer) that `recipe` describes.

    With ``rollouts: vllm`` the rollouts come from ``recipe.vllm_url`` or `server` (a started
    `openenvs.rollout.VLLMServer`, whose death is then reported with its log).
    """
    import torch
    from transformers import AutoTokenizer

    from ._report import ProvenanceCallback, provenance

    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    model = resolve_model(recipe.model)
    envs = [(e.id, dict(e.kwargs)) for e in recipe.envs]
    trainer_args = {"output_dir": "runs/train", "report_to": [], "seed": recipe.seed, **recipe.trainer}
    if not torch.cuda.is_available():
        # TRL's GPU defaults hurt on a CPU: bf16 autocast falls back to a slow reference GEMM.
        trainer_args.setdefault("use_cpu", True)
        trainer_args.setdefault("bf16", False)
        trainer_args.setdefault("gradient_checkpointing", False)
    extra = [ProvenanceCallback(provenance(envs, model=model, config=recipe.model_dump(), seed=recipe.seed)), *(callbacks or [])]
    tokenizer = AutoTokenizer.from_pretrained(model)
    if recipe.algorithm == "ppo":
        from . import PPOConfig, PPOTrainer  # type: ignore[attr-defined]

        if len(envs) != 1:
            raise ConfigError("The PPO trainer takes one env; list exactly one under `envs`.")
        rollouts = None
        if recipe.async_rollouts:
            raise ConfigError("async_rollouts applies to GRPO; PPO generates each batch with the weights it trains.")
        if recipe.rollouts == "vllm":
            rollouts = _server_rollouts(recipe, {}, tokenizer, trainer_args, server, env_rewards=True)
        return PPOTrainer(
            model=model, args=PPOConfig(**trainer_args), env=envs[0][0], env_kwargs=envs[0][1],
            processing_class=tokenizer, callbacks=extra, rollouts=rollouts,
        )
    from trl import GRPOConfig, GRPOTrainer  # type: ignore[attr-defined]

    from ..verify import Curriculum
    from ._grpo import for_grpo
    from ._tools import chatml_tool_template

    curriculum = None
    if recipe.curriculum is not None:
        c = recipe.curriculum
        curriculum = Curriculum(envs[0][0], c.levels, threshold=c.threshold, window=c.window)
    weights = [e.weight for e in recipe.envs] if len(envs) > 1 else None
    index: dict[str, dict[str, Any]] = {}
    kwargs = for_grpo(envs, n=recipe.n, seed=recipe.seed, weights=weights, curriculum=curriculum, index=index)
    use_tools = recipe.tool_template if recipe.tool_template is not None else "environment_factory" in kwargs
    if use_tools:
        tokenizer.chat_template = chatml_tool_template()
    trainer_cls: Any = GRPOTrainer
    if recipe.rollouts == "vllm":
        trainer_cls = _vllm_rollouts(recipe, kwargs, index, tokenizer, trainer_args, server)
    if recipe.reward_funcs:
        kwargs["reward_funcs"] = [_import(p) for p in recipe.reward_funcs]
    peft_config = None
    if recipe.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(**{"task_type": "CAUSAL_LM", **recipe.lora})
    return trainer_cls(
        model=model,
        args=GRPOConfig(**trainer_args),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[*kwargs.pop("callbacks", []), *extra],
        **kwargs,
    )


def _vllm_rollouts(
    recipe: Recipe,
    kwargs: dict[str, Any],
    index: dict[str, dict[str, Any]],
    tokenizer: Any,
    trainer_args: dict[str, Any],
    server: Any,
) -> Any:
    """Swap TRL's generation for `ServerRollouts` in `kwargs`; return the trainer class (with IS correction)."""
    from ._importance import importance_grpo_trainer
    from ._rewards import env_reward
    from ._rollouts import peeking_trainer

    if recipe.async_rollouts and any(int(trainer_args.get(k) or 1) > 1 for k in ("steps_per_generation", "num_iterations")):
        raise ConfigError("async_rollouts 1 overlaps one generation per optimizer step; keep steps_per_generation and num_iterations at 1.")
    multi_turn = "environment_factory" in kwargs or "rollout_func" in kwargs
    kwargs.pop("environment_factory", None)
    if multi_turn:
        kwargs["reward_funcs"] = [env_reward]  # the episode's own return, played by the Runner
    kwargs["rollout_func"] = _server_rollouts(recipe, index, tokenizer, trainer_args, server, env_rewards=multi_turn)
    return peeking_trainer(importance_grpo_trainer())


def _server_rollouts(
    recipe: Recipe, index: dict[str, dict[str, Any]], tokenizer: Any, trainer_args: dict[str, Any], server: Any, *, env_rewards: bool
) -> Any:
    from ._rollouts import ServerRollouts
    from ._sync import WeightSync

    url = recipe.vllm_url or (server.base_url if server is not None else None)
    if url is None:
        raise ConfigError("rollouts: vllm needs a server: pass --vllm-url URL, or let `openenvs train` start one.")
    if trainer_args.get("use_vllm"):
        raise ConfigError("rollouts: vllm replaces TRL's own vLLM modes; drop use_vllm from the recipe (or use --rollouts hf).")
    out = Path(trainer_args.get("output_dir", "runs/train"))
    log = server.log_file if server is not None else None
    sync = WeightSync(
        url, recipe.sync_mode, work_dir=out / "sync", base_model_name=server.model_name if server is not None else None,
        log_path=log,
    )  # fmt: skip
    return ServerRollouts(
        index, base_url=url, tokenizer=tokenizer, sync=sync, max_turns=recipe.max_turns,
        out_dir=out / "rollouts", async_rollouts=recipe.async_rollouts, server=server, env_rewards=env_rewards,
    )  # fmt: skip
