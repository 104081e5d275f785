"""`PPOTrainer`: PPO on any openenvs environment, as a `transformers.Trainer` in TRL's style.

TRL dropped its PPO trainer; this one keeps TRL's shape (a `Trainer` subclass configured by a
`TrainingArguments` dataclass, the same metric names) and takes its episodes from an environment
instead of a prompt dataset and a reward model::

    from openenvs.trl import PPOConfig, PPOTrainer

    args = PPOConfig(output_dir="ppo-arith", max_steps=100, per_device_train_batch_size=8)
    trainer = PPOTrainer(model="HuggingFaceTB/SmolLM2-135M-Instruct", args=args, env="math/arithmetic-v1")
    trainer.train()

One PPO step: play `batch_size` episodes (single- or multi-turn; the tokens the environment writes
are masked out), score them with the policy, the value head and the frozen reference model, turn
turn rewards minus the KL penalty into per-token rewards, run GAE, then `num_ppo_epochs` passes of
the clipped policy and value losses. The math lives in `_ppo_core`, the episodes in `_ppo_rollout`.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PreTrainedModel, Trainer
from transformers.trainer_utils import TrainOutput

from .._env import Env
from .._errors import ConfigError
from ._importance import truncated_importance_weights
from ._ppo_config import PPOConfig
from ._ppo_core import (
    compute_gae,
    kl_penalty,
    masked_mean,
    masked_whiten,
    policy_loss,
    selective_log_softmax,
    value_loss,
)
from ._ppo_rollout import Episode, collect_episodes

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, TrainerCallback

__all__ = ["PPOTrainer", "PolicyAndValue"]

logger = logging.getLogger(__name__)

EnvSource = str | Env | Callable[[], Env]


class PolicyAndValue(nn.Module):
    """The policy with a scalar value head, on its own trunk or on a separate critic's.

    Args:
        policy: The causal LM being trained.
        critic: A separate model whose last hidden state feeds the value head; None shares the
            policy's trunk (one forward pass gives logits and values).
        init_std: Std of the value head's initial weights (0: every value starts at 0).
    """

    def __init__(self, policy: PreTrainedModel, critic: nn.Module | None = None, init_std: float = 0.0) -> None:
        super().__init__()
        self.policy = policy
        self.critic: nn.Module | None = getattr(critic, "base_model", critic) if critic is not None else None
        config: Any = getattr(critic if critic is not None else policy, "config")  # noqa: B009
        self.value_head = nn.Linear(int(config.hidden_size), 1)
        if init_std > 0:
            nn.init.normal_(self.value_head.weight, std=init_std)
        else:
            nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, logits_to_keep: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, values)``.

        Logits are ``[batch, k, vocab]`` for the last ``k = logits_to_keep`` positions (0: all of them);
        values are ``[batch, time]``, one per position.
        """
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
        out = self.policy(
            **inputs, output_hidden_states=self.critic is None, use_cache=False, logits_to_keep=logits_to_keep
        )
        if self.critic is None:
            hidden = out.hidden_states[-1]
        else:
            hidden = self.critic(**inputs, use_cache=False).last_hidden_state
        values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return out.logits, values


def _load_model(model: str | PreTrainedModel) -> PreTrainedModel:
    return AutoModelForCausalLM.from_pretrained(model) if isinstance(model, str) else model


def _env_factory(env: EnvSource, env_kwargs: dict[str, Any]) -> Callable[[], Env]:
    import openenvs

    if isinstance(env, str):
        return lambda: openenvs.make(env, **env_kwargs)
    if isinstance(env, Env):
        if env_kwargs:
            raise ConfigError("`env_kwargs` only applies when `env` is an id; configure the Env instance instead.")
        spec = env.spec
        if spec is not None:
            return lambda: openenvs.make(spec)
        return lambda: copy.deepcopy(env)
    if callable(env):
        return lambda: env(**env_kwargs)
    raise ConfigError(
        f"`env` must be a registered id (e.g. 'math/arithmetic-v1'), an Env or a factory returning one; got {env!r}."
    )


def _disable_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


class PPOTrainer(Trainer):
    """Proximal Policy Optimization on an openenvs environment (Schulman et al., 2017; Ouyang et al., 2022).

    Args:
        model: The policy: a model id or folder, or a loaded causal LM.
        args: Training configuration; `PPOConfig(output_dir=...)` defaults.
        env: Where episodes come from: a registered id, an `Env` (copies are made from its spec), or
            a factory returning a fresh `Env`. One instance is made per concurrent episode.
        processing_class: Tokenizer with a chat template; loaded from `model` when omitted.
        env_kwargs: Keyword arguments for `openenvs.make` (or the factory).
        ref_model: Frozen reference model of the KL penalty; a copy of the initial policy when omitted
            (none is kept when ``kl_coef == 0``).
        value_model: A separate critic (id, folder or model); omitted, the value head shares the
            policy's trunk.
        callbacks: Extra `TrainerCallback`s.
        optimizers: ``(optimizer, scheduler)`` to use instead of the defaults.
        rollouts: A `ServerRollouts`: episodes are played on a vLLM server through openenvs' Runner
            (weights synced before each step, turns token-exact), and the loss is corrected by
            truncated importance weights (``PPOConfig.importance_cap``). Needs `env` as an id.
    """

    _tag_names = ["trl", "ppo", "openenvs"]

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: PPOConfig | None = None,
        env: EnvSource | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        *,
        env_kwargs: dict[str, Any] | None = None,
        ref_model: PreTrainedModel | None = None,
        value_model: str | nn.Module | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[torch.optim.Optimizer | None, torch.optim.lr_scheduler.LambdaLR | None] = (None, None),
        rollouts: Any = None,
    ) -> None:
        if env is None:
            raise ConfigError(
                "PPOTrainer needs `env=`: a registered id such as 'math/arithmetic-v1', an Env, or a factory."
            )
        make_env = _env_factory(env, dict(env_kwargs or {}))
        if args is None:
            name = model if isinstance(model, str) else model.config._name_or_path
            args = PPOConfig(output_dir=f"{str(name).rstrip('/').split('/')[-1]}-PPO")
        if not isinstance(args, PPOConfig):
            raise ConfigError(
                f"PPOTrainer needs a PPOConfig, got {type(args).__name__}; build one with PPOConfig(...)."
            )
        policy = _load_model(model)
        if processing_class is None:
            processing_class = AutoTokenizer.from_pretrained(policy.config._name_or_path)
        if processing_class.pad_token_id is None:
            processing_class.pad_token = processing_class.eos_token
        critic = _load_model(value_model) if isinstance(value_model, str) else value_model
        if args.gradient_checkpointing:
            policy.gradient_checkpointing_enable()  # type: ignore[no-untyped-call]
        if args.kl_coef == 0:
            self.ref_model: PreTrainedModel | None = None
        else:
            self.ref_model = ref_model if ref_model is not None else copy.deepcopy(policy)
            self.ref_model.eval().requires_grad_(False)  # type: ignore[no-untyped-call]
        wrapper = PolicyAndValue(policy, critic, args.value_head_init_std)
        _disable_dropout(wrapper)
        super().__init__(
            model=wrapper, args=args, processing_class=processing_class, callbacks=callbacks, optimizers=optimizers
        )
        self.args: PPOConfig
        self.tokenizer_: PreTrainedTokenizerBase = processing_class
        self.wrapper: PolicyAndValue = wrapper
        if self.ref_model is not None:
            self.ref_model.to(self.args.device)
        self.envs = [make_env() for _ in range(args.local_batch_size)]
        self._episodes_played = 0
        self._vllm: Any = None
        self.server_rollouts = rollouts
        if rollouts is not None and not isinstance(env, str):
            raise ConfigError("PPO with vLLM rollouts plays envs by id: pass `env` as a registered id.")
        self._env_id, self._env_kwargs = (env, dict(env_kwargs or {})) if isinstance(env, str) else ("", {})

    # ---- generation ----

    @property
    def policy(self) -> PreTrainedModel:
        """The causal LM being trained."""
        return self.wrapper.policy

    def _generate(self, prompts: list[list[int]]) -> list[list[int]]:
        if self.args.use_vllm:
            _, completions, _, _ = self._vllm.generate(prompts=prompts, images=None, num_generations=1)
            return [list(c) for c in completions]
        return self._generate_transformers(prompts)

    @torch.no_grad()
    def _generate_transformers(self, prompts: list[list[int]]) -> list[list[int]]:
        tokenizer, args = self.tokenizer_, self.args
        eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=args.max_completion_length,
            do_sample=True,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,  # explicit 0/1.0: None would pick up the model's or transformers' defaults (top_k=50)
            repetition_penalty=1.0,
            eos_token_id=eos,
            pad_token_id=pad,
            use_cache=True,
        )
        policy = self.policy
        out: list[list[int]] = []
        for start in range(0, len(prompts), args.local_rollout_forward_batch_size):
            chunk = prompts[start : start + args.local_rollout_forward_batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=self.args.device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=self.args.device)
            generated: Any = policy.generate(input_ids=ids, attention_mask=mask, generation_config=config)  # type: ignore[operator]
            for row in generated[:, width:].tolist():
                out.append(row[: row.index(eos) + 1] if eos in row else row)
        return out

    def _start_vllm(self) -> None:
        try:
            from trl.generation.vllm_generation import VLLMGeneration
        except ImportError as exc:  # trl imports vllm lazily; VLLMGeneration raises itself when it is missing
            from .._errors import MissingDependency

            raise MissingDependency("trl", "trl", "generating PPO rollouts with vLLM (use_vllm=True)") from exc
        args = self.args
        self._vllm = VLLMGeneration(
            model=self.policy,
            accelerator=self.accelerator,
            processing_class=self.tokenizer_,
            mode=args.vllm_mode,
            server_base_url=args.vllm_server_base_url,
            server_host=args.vllm_server_host,
            server_port=args.vllm_server_port,
            server_timeout=args.vllm_server_timeout,
            group_port=args.vllm_group_port,
            tensor_parallel_size=args.vllm_tensor_parallel_size,
            gpu_memory_utilization=args.vllm_gpu_memory_utilization,
            max_model_length=args.vllm_max_model_length,
            enable_sleep_mode=args.vllm_enable_sleep_mode,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            max_completion_length=args.max_completion_length,
        )

    def rollout(self, seeds: Sequence[int]) -> list[Episode]:
        """Play one episode per seed with the current policy, sampling at `temperature`.

        Training uses it for its batches; call it on held-out seeds to evaluate the policy.
        """
        self.wrapper.eval()
        if self.server_rollouts is not None:
            return self._server_rollout(seeds)
        if self.args.use_vllm and self._vllm is None:
            self._start_vllm()
        return collect_episodes(
            self.envs,
            list(seeds),
            self.tokenizer_,
            self._generate,
            max_completion_length=self.args.max_completion_length,
            max_episode_length=self.args.max_episode_length,
            max_turns=self.args.max_turns,
        )

    def _server_rollout(self, seeds: Sequence[int]) -> list[Episode]:
        """Episodes from the vLLM server (`ServerRollouts`): weights synced first, turns token-exact."""
        from ..rollout import EpisodeSpec
        from ._ppo_rollout import episode_from_trajectory

        specs = [EpisodeSpec(env_id=self._env_id, seed=int(s), env_kwargs=self._env_kwargs) for s in seeds]
        batch = self.server_rollouts.play(specs, self.policy, self.args, self.state.global_step)
        return [episode_from_trajectory(t, self.args.max_episode_length) for t in batch.trajectories]

    # ---- scoring ----

    def _forward(
        self, model: nn.Module, batch: dict[str, torch.Tensor], start: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits (at `temperature`), log-probs of each next token and the value before it, from position `start`.

        Positions before `start` are prompt in every episode, so no logits are computed for them.
        """
        width = batch["input_ids"].shape[1]
        with self.accelerator.autocast():
            logits, values = model(
                batch["input_ids"], batch["attention_mask"], batch["position_ids"], logits_to_keep=width - start
            )
        logits = logits[:, :-1].float() / self.args.temperature
        logprobs = selective_log_softmax(logits, batch["input_ids"][:, start + 1 :])
        return logits, logprobs, values[:, start:-1].float()

    @torch.no_grad()
    def _ref_logprobs(self, batch: dict[str, torch.Tensor], start: int) -> torch.Tensor:
        assert self.ref_model is not None
        width = batch["input_ids"].shape[1]
        with self.accelerator.autocast():
            logits = self.ref_model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"],
                logits_to_keep=width - start,
            ).logits
        logits = logits[:, :-1].float() / self.args.temperature
        return selective_log_softmax(logits, batch["input_ids"][:, start + 1 :])

    def _collate(self, episodes: list[Episode]) -> tuple[dict[str, torch.Tensor], int]:
        """Right-padded tensors of the episodes, and `start`, the last prompt position shared by all of them.

        ``input_ids``, ``attention_mask`` and ``position_ids`` are ``[batch, time]``; the per-token arrays
        (``mask``, ``scores``, later log-probs, values, advantages, returns) are ``[batch, time - 1 - start]``,
        where column j is about the token at position ``start + 1 + j``. Turn rewards sit on each turn's
        last token.
        """
        width = max(len(e.token_ids) for e in episodes)
        start = min(e.prompt_length for e in episodes) - 1
        pad = self.tokenizer_.pad_token_id
        ids = torch.full((len(episodes), width), pad, dtype=torch.long)
        attention = torch.zeros((len(episodes), width), dtype=torch.long)
        actions = torch.zeros((len(episodes), width), dtype=torch.long)
        scores = torch.zeros((len(episodes), width - 1 - start))
        for row, episode in enumerate(episodes):
            n = len(episode.token_ids)
            ids[row, :n] = torch.tensor(episode.token_ids)
            attention[row, :n] = 1
            actions[row, :n] = torch.tensor(episode.action_mask)
            for end, reward, missing in zip(episode.turn_ends, episode.rewards, episode.missing_eos, strict=True):
                penalty = self.args.missing_eos_penalty if missing and self.args.missing_eos_penalty else 0.0
                scores[row, end - 1 - start] += reward - penalty
        batch = {
            "input_ids": ids,
            "attention_mask": attention,
            "position_ids": (attention.cumsum(-1) - 1).clamp(min=0),
            "mask": actions[:, start + 1 :].float(),
            "scores": scores,
        }
        return {k: v.to(self.args.device) for k, v in batch.items()}, start

    @torch.no_grad()
    def _score(self, episodes: list[Episode]) -> tuple[dict[str, torch.Tensor], int, dict[str, float]]:
        """Add old log-probs, values, the KL penalty, advantages and returns to the batch."""
        args = self.args
        batch, start = self._collate(episodes)
        chunks: dict[str, list[torch.Tensor]] = {"logprobs": [], "values": [], "ref_logprobs": []}
        for first in range(0, len(episodes), args.local_rollout_forward_batch_size):
            part = {k: v[first : first + args.local_rollout_forward_batch_size] for k, v in batch.items()}
            _, logprobs, values = self._forward(self.wrapper, part, start)
            chunks["logprobs"].append(logprobs)
            chunks["values"].append(values)
            chunks["ref_logprobs"].append(self._ref_logprobs(part, start) if self.ref_model is not None else logprobs)
        for key, parts in chunks.items():
            batch[key] = torch.cat(parts)
        mask = batch["mask"]
        importance: dict[str, float] = {}
        if all(e.sampler_logprobs is not None for e in episodes):  # vLLM rollouts: correct for the sampler
            sampler = torch.zeros_like(batch["logprobs"])
            for row, episode in enumerate(episodes):
                lps = (episode.sampler_logprobs or [])[start + 1 :]
                sampler[row, : len(lps)] = torch.tensor(lps[: sampler.shape[1]])
            weights, is_stats = truncated_importance_weights(batch["logprobs"], sampler, mask, cap=args.importance_cap)
            batch["is_weights"] = weights
            importance = {f"is/{k}": v for k, v in (("ratio_mean", is_stats["mean"]), ("ratio_max", is_stats["max"]),
                                                     ("truncated_share", is_stats["truncated"]))}  # fmt: skip
        kl = kl_penalty(batch["logprobs"], batch["ref_logprobs"], args.kl_estimator) * mask
        non_score = -args.kl_coef * kl
        rewards = batch["scores"] + non_score
        if args.whiten_rewards:
            rewards = masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = compute_gae(rewards, batch["values"] * mask, mask, args.gamma, args.lam)
        if args.whiten_advantages:
            advantages = masked_whiten(advantages, mask)
        batch.update(advantages=advantages, returns=returns)
        stats = {
            "objective/kl": kl.sum(1).mean().item(),
            "objective/non_score_reward": non_score.sum(1).mean().item(),
            "objective/scores": batch["scores"].sum(1).mean().item(),
            "objective/rlhf_reward": (batch["scores"] + non_score).sum(1).mean().item(),
            **importance,
        }
        return batch, start, stats

    # ---- training ----

    def _ppo_update(self, model: nn.Module, batch: dict[str, torch.Tensor], start: int) -> dict[str, list[float]]:
        args = self.args
        stats: dict[str, list[float]] = {k: [] for k in _STAT_NAMES}
        n = batch["input_ids"].shape[0]
        optimizer = cast("torch.optim.Optimizer", self.optimizer)
        for _epoch in range(args.num_ppo_epochs):
            order = torch.randperm(n, device=batch["input_ids"].device)
            for mb_start in range(0, n, args.mini_batch_size):
                mini = order[mb_start : mb_start + args.mini_batch_size]
                for micro_start in range(0, len(mini), args.per_device_train_batch_size):
                    idx = mini[micro_start : micro_start + args.per_device_train_batch_size]
                    self._micro_step(model, batch, start, idx, len(mini), stats)
                if args.max_grad_norm and args.max_grad_norm > 0:
                    self.accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
        return stats

    def _micro_step(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        start: int,
        idx: torch.Tensor,
        mini_size: int,
        stats: dict[str, list[float]],
    ) -> None:
        args = self.args
        width = int(batch["attention_mask"][idx].sum(1).max().item())
        part = {k: v[idx][:, : width if k in _FULL_WIDTH else width - 1 - start] for k, v in batch.items()}
        logits, logprobs, values = self._forward(model, part, start)
        mask = part["mask"]
        # a positive per-token weight on the advantage scales that token's clipped surrogate by it
        advantages = part["advantages"] * part["is_weights"] if "is_weights" in part else part["advantages"]
        pg_loss, pg_clip = policy_loss(logprobs, part["logprobs"], advantages, mask, args.cliprange)
        vf_loss, vf_clip = value_loss(values, part["values"], part["returns"], mask, args.cliprange_value)
        loss = (pg_loss + args.vf_coef * vf_loss) * len(idx) / mini_size
        self.accelerator.backward(loss)
        with torch.no_grad():
            log_ratio = (logprobs - part["logprobs"]) * mask
            acted = logits[mask.bool()]
            entropy = torch.logsumexp(acted, dim=-1) - (torch.softmax(acted, dim=-1) * acted).sum(-1)
            for key, value in (
                ("pg", pg_loss),
                ("vf", vf_loss),
                ("pg_clip", pg_clip),
                ("vf_clip", vf_clip),
                ("approxkl", 0.5 * masked_mean(log_ratio**2, mask)),
                ("entropy", entropy.mean() if entropy.numel() else torch.zeros(())),
                ("ratio", masked_mean(log_ratio.exp(), mask)),
            ):
                stats[key].append(float(value))

    def _episode_seeds(self) -> list[int]:
        args = self.args
        base = args.seed if args.episode_seed is None else args.episode_seed
        first = self._episodes_played * args.world_size + args.process_index * args.local_batch_size
        self._episodes_played += args.local_batch_size
        return [base + first + k for k in range(args.local_batch_size)]

    def train(  # type: ignore[override]
        self, resume_from_checkpoint: str | bool | None = None, trial: Any = None, **kwargs: Any
    ) -> TrainOutput:
        """Run PPO for `max_steps` steps (or ``total_episodes // batch_size``); returns TRL's `TrainOutput`."""
        if resume_from_checkpoint:
            raise ConfigError("PPOTrainer cannot resume from a checkpoint yet; start from the saved policy as `model`.")
        args = self.args
        steps = args.num_ppo_steps()
        self.create_optimizer_and_scheduler(num_training_steps=steps)
        model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)
        scheduler = cast("torch.optim.lr_scheduler.LRScheduler", self.lr_scheduler)
        self.model_wrapped = model
        state = self.state
        state.max_steps, state.num_train_epochs, state.global_step, state.epoch = steps, 1, 0, 0.0
        state.logging_steps = (
            math.ceil(steps * args.logging_steps) if args.logging_steps < 1 else int(args.logging_steps)
        )
        state.save_steps = math.ceil(steps * args.save_steps) if args.save_steps < 1 else int(args.save_steps)
        self.control = self.callback_handler.on_train_begin(args, state, self.control)
        self.control = self.callback_handler.on_epoch_begin(args, state, self.control)
        started, losses = time.perf_counter(), []
        for step in range(steps):
            self.control = self.callback_handler.on_step_begin(args, state, self.control)
            if args.use_vllm and self._vllm is not None and step > 0:
                self._vllm.sync_weights()
            t0 = time.perf_counter()
            episodes = self.rollout(self._episode_seeds())
            t1 = time.perf_counter()
            batch, start, metrics = self._score(episodes)
            model.train()
            stats = self._ppo_update(model, batch, start)
            scheduler.step()
            losses.append(sum(stats["pg"]) / len(stats["pg"]))
            state.global_step, state.epoch = step + 1, (step + 1) / steps
            self.control = self.callback_handler.on_step_end(args, state, self.control)
            if self.control.should_log or state.global_step == steps:
                metrics.update(_episode_metrics(episodes))
                metrics.update({name: sum(v) / len(v) for name, v in _rename(stats).items()})
                metrics.update(
                    {
                        "lr": float(scheduler.get_last_lr()[0]),
                        "episode": self._episodes_played * args.world_size,
                        "time/rollout_s": t1 - t0,
                        **(
                            {"time/sync_s": self.server_rollouts.timings[-1]["sync_s"]}
                            if self.server_rollouts is not None and self.server_rollouts.timings
                            else {}
                        ),
                        "time/step_s": time.perf_counter() - t0,
                    }
                )
                self.log(metrics)
            self._maybe_save_checkpoint()
            if self.control.should_training_stop:
                break
        self.control = self.callback_handler.on_epoch_end(args, state, self.control)
        self._maybe_save_checkpoint()
        self.control = self.callback_handler.on_train_end(args, state, self.control)
        runtime = time.perf_counter() - started
        train_loss = sum(losses) / max(len(losses), 1)
        return TrainOutput(state.global_step, train_loss, {"train_runtime": runtime, "train_loss": train_loss})

    def _maybe_save_checkpoint(self) -> None:
        """Save ``output_dir/checkpoint-N`` (policy, value head, trainer state) when a callback asked for it."""
        if not self.control.should_save:
            return
        folder = os.path.join(self.args.output_dir or ".", f"checkpoint-{self.state.global_step}")
        self.save_model(folder, _internal_call=True)
        if self.args.should_save:
            self.state.save_to_json(os.path.join(folder, "trainer_state.json"))
        self.control.should_save = False
        self.control = self.callback_handler.on_save(self.args, self.state, self.control)

    def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
        """Save the policy (`save_pretrained`), the value head, a separate critic if any, and the tokenizer."""
        output_dir = output_dir or self.args.output_dir or "."
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        wrapper = self.wrapper
        wrapper.policy.save_pretrained(output_dir)
        torch.save(wrapper.value_head.state_dict(), os.path.join(output_dir, "value_head.pt"))
        save_critic = getattr(wrapper.critic, "save_pretrained", None)
        if save_critic is not None:
            save_critic(os.path.join(output_dir, "critic"))
        self.tokenizer_.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))


_FULL_WIDTH = ("input_ids", "attention_mask", "position_ids")
_STAT_NAMES = {
    "pg": "loss/policy_avg",
    "vf": "loss/value_avg",
    "pg_clip": "policy/clipfrac_avg",
    "vf_clip": "val/clipfrac_avg",
    "approxkl": "policy/approxkl_avg",
    "entropy": "policy/entropy_avg",
    "ratio": "val/ratio",
}


def _rename(stats: dict[str, list[float]]) -> dict[str, list[float]]:
    return {_STAT_NAMES[k]: v for k, v in stats.items() if v}


def _episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    rewards = torch.tensor([e.reward for e in episodes])
    correct = [float(e.correct) for e in episodes if e.correct is not None]
    metrics = {
        "env/reward": rewards.mean().item(),
        "env/reward_std": rewards.std().item() if len(episodes) > 1 else 0.0,
        "env/turns": sum(e.num_turns for e in episodes) / len(episodes),
        "env/completion_length": sum(sum(e.action_mask) for e in episodes) / len(episodes),
        "env/truncated": sum(e.truncated for e in episodes) / len(episodes),
        "env/missing_eos": sum(sum(e.missing_eos) for e in episodes) / max(1, sum(e.num_turns for e in episodes)),
    }
    if correct:
        metrics["env/correct"] = sum(correct) / len(correct)
    return metrics
