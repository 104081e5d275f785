"""`PPOConfig`: the settings of `PPOTrainer`, a `transformers.TrainingArguments` in TRL's style."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from transformers import TrainingArguments

from .._errors import ConfigError

__all__ = ["PPOConfig"]


@dataclass
class PPOConfig(TrainingArguments):
    r"""Configuration of [`PPOTrainer`]: the `TrainingArguments` fields plus the PPO ones below.

    One PPO step collects ``batch_size = per_device_train_batch_size * gradient_accumulation_steps *
    num_mini_batches * world_size`` episodes from the environment, then makes `num_ppo_epochs` passes
    over them in `num_mini_batches` mini-batches, with one optimizer step per mini-batch. Training runs
    for `max_steps` PPO steps, or ``total_episodes // batch_size`` when `total_episodes` is set.

    Fields that differ from `TrainingArguments`' defaults: `learning_rate` (3e-6), `logging_steps` (1)
    and `save_strategy` ("no").

    Parameters:
        > Rollouts

        total_episodes (`int` or `None`, *optional*, defaults to `None`):
            Episodes to train on in all; when set, it decides the number of PPO steps instead of `max_steps`.
        num_mini_batches (`int`, *optional*, defaults to `1`):
            Mini-batches per PPO epoch; each gets one optimizer step.
        num_ppo_epochs (`int`, *optional*, defaults to `4`):
            Passes over each batch of episodes.
        local_rollout_forward_batch_size (`int`, *optional*, defaults to `64`):
            Episodes per no-grad forward pass when scoring rollouts (old log-probs, values, reference).
        max_completion_length (`int`, *optional*, defaults to `256`):
            Most tokens the policy writes in one turn.
        max_episode_length (`int`, *optional*, defaults to `2048`):
            Most tokens in one episode, prompt and every turn included; a multi-turn episode that would
            pass it is truncated before the next turn.
        max_turns (`int` or `None`, *optional*, defaults to `None`):
            Most policy turns per episode; `None` leaves it to the environment (its own `max_turns`).
        temperature (`float`, *optional*, defaults to `0.7`):
            Sampling temperature; log-probabilities in the losses use the same temperature.
        top_p (`float`, *optional*, defaults to `1.0`):
            Nucleus sampling; 1.0 keeps every token (the PPO ratio assumes plain sampling, so keep 1.0).
        top_k (`int`, *optional*, defaults to `0`):
            Keep only the k most likely tokens when sampling; 0 disables it (keep 0, as for `top_p`).
        missing_eos_penalty (`float` or `None`, *optional*, defaults to `None`):
            Subtracted from a turn's reward when the policy stopped at `max_completion_length` instead of
            writing its end-of-turn token; `None` disables it.
        episode_seed (`int` or `None`, *optional*, defaults to `None`):
            Episode k of the run resets its environment with seed ``episode_seed + k`` (per process, offset
            by the process index); `None` uses `seed`.

        > PPO

        kl_coef (`float`, *optional*, defaults to `0.05`):
            Weight of the per-token KL penalty to the frozen reference model, subtracted from the reward.
        kl_estimator (`Literal["k1", "k3"]`, *optional*, defaults to `"k1"`):
            KL estimator in the penalty: "k1" (``logp - ref_logp``) or "k3" (never negative); see
            `kl_penalty`.
        cliprange (`float`, *optional*, defaults to `0.2`):
            PPO's epsilon: the policy ratio is clipped to ``[1 - cliprange, 1 + cliprange]`` (Schulman et
            al., 2017).
        cliprange_value (`float`, *optional*, defaults to `0.2`):
            The value estimate may move at most this far from its rollout-time value in one update.
        vf_coef (`float`, *optional*, defaults to `0.1`):
            Weight of the value loss in the total loss.
        gamma (`float`, *optional*, defaults to `1.0`):
            Discount per token.
        lam (`float`, *optional*, defaults to `0.95`):
            GAE's lambda (Schulman et al., 2016).
        whiten_rewards (`bool`, *optional*, defaults to `False`):
            Scale the per-token rewards of a batch to unit variance (mean kept) before GAE.
        whiten_advantages (`bool`, *optional*, defaults to `True`):
            Normalise the advantages of a batch to zero mean and unit variance.
        value_head_init_std (`float`, *optional*, defaults to `0.0`):
            Std of the value head's initial weights; 0 starts every value estimate at 0.

        > Generation with vLLM (the GPU configuration; needs `pip install vllm`)

        use_vllm (`bool`, *optional*, defaults to `False`):
            Generate rollouts with vLLM instead of `transformers`' `generate`; the policy's weights are
            pushed to vLLM before every rollout.
        vllm_mode (`Literal["colocate", "server"]`, *optional*, defaults to `"colocate"`):
            "colocate": vLLM runs in the training process and shares its GPU; "server": requests go to a
            `trl vllm-serve` server.
        vllm_server_base_url (`str` or `None`, *optional*, defaults to `None`):
            Server mode: base URL of the server (e.g. "http://127.0.0.1:8000"); overrides host and port.
        vllm_server_host (`str`, *optional*, defaults to `"0.0.0.0"`):
            Server mode: host of the server.
        vllm_server_port (`int`, *optional*, defaults to `8000`):
            Server mode: port of the server.
        vllm_server_timeout (`float`, *optional*, defaults to `240.0`):
            Server mode: seconds to wait for the server to come up.
        vllm_group_port (`int`, *optional*, defaults to `51216`):
            Server mode: port of the weight-update group.
        vllm_gpu_memory_utilization (`float`, *optional*, defaults to `0.3`):
            Colocate mode: share of GPU memory vLLM may take.
        vllm_tensor_parallel_size (`int`, *optional*, defaults to `1`):
            Colocate mode: tensor-parallel size of the vLLM engine.
        vllm_max_model_length (`int` or `None`, *optional*, defaults to `None`):
            Colocate mode: context length of the vLLM engine; `None` uses the model's.
        vllm_enable_sleep_mode (`bool`, *optional*, defaults to `False`):
            Colocate mode: offload vLLM's weights and cache while the policy trains.
    """

    learning_rate: float = field(default=3e-6, metadata={"help": "Initial AdamW learning rate."})
    logging_steps: float = field(
        default=1, metadata={"help": "Log every X PPO steps (a float in [0, 1) is a share of all steps)."}
    )
    save_strategy: str = field(
        default="no", metadata={"help": "When to save checkpoints: 'no', 'steps' (every `save_steps`) or 'epoch'."}
    )

    total_episodes: int | None = field(
        default=None, metadata={"help": "Episodes to train on in all; when set it decides the number of PPO steps."}
    )
    num_mini_batches: int = field(default=1, metadata={"help": "Mini-batches per PPO epoch, one optimizer step each."})
    num_ppo_epochs: int = field(default=4, metadata={"help": "Passes over each batch of episodes."})
    local_rollout_forward_batch_size: int = field(
        default=64, metadata={"help": "Episodes per no-grad forward pass when scoring rollouts."}
    )
    max_completion_length: int = field(default=256, metadata={"help": "Most tokens the policy writes in one turn."})
    max_episode_length: int = field(
        default=2048, metadata={"help": "Most tokens in one episode (prompt and all turns); longer ones are truncated."}
    )
    max_turns: int | None = field(
        default=None, metadata={"help": "Most policy turns per episode; None leaves it to the environment."}
    )
    temperature: float = field(default=0.7, metadata={"help": "Sampling temperature (also used in the losses)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling; keep 1.0 (PPO assumes plain sampling)."})
    top_k: int = field(default=0, metadata={"help": "Top-k sampling; 0 disables it."})
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "Subtracted from a turn's reward when it hit max_completion_length."}
    )
    episode_seed: int | None = field(
        default=None, metadata={"help": "Episode k resets its env with seed episode_seed + k; None uses `seed`."}
    )

    kl_coef: float = field(default=0.05, metadata={"help": "Weight of the per-token KL penalty to the reference."})
    kl_estimator: Literal["k1", "k3"] = field(default="k1", metadata={"help": "KL estimator: 'k1' or 'k3'."})
    cliprange: float = field(default=0.2, metadata={"help": "PPO clip range of the policy ratio."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Clip range of the value estimate."})
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss."})
    gamma: float = field(default=1.0, metadata={"help": "Discount per token."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    whiten_rewards: bool = field(default=False, metadata={"help": "Scale per-token rewards to unit variance."})
    whiten_advantages: bool = field(default=True, metadata={"help": "Normalise advantages per batch."})
    value_head_init_std: float = field(default=0.0, metadata={"help": "Std of the value head's initial weights."})

    importance_cap: float = field(
        default=3.0,
        metadata={
            "help": "With vLLM rollouts (`openenvs train --rollouts vllm`): truncation C of the per-token importance "
            "weight min(exp(logp_trainer - logp_vllm), C) that corrects for the sampler."
        },
    )
    use_vllm: bool = field(default=False, metadata={"help": "Generate rollouts with vLLM (GPU)."})
    vllm_mode: Literal["colocate", "server"] = field(
        default="colocate", metadata={"help": "'colocate' (in-process) or 'server' (trl vllm-serve)."}
    )
    vllm_server_base_url: str | None = field(default=None, metadata={"help": "Server mode: base URL of the server."})
    vllm_server_host: str = field(default="0.0.0.0", metadata={"help": "Server mode: host of the server."})
    vllm_server_port: int = field(default=8000, metadata={"help": "Server mode: port of the server."})
    vllm_server_timeout: float = field(default=240.0, metadata={"help": "Server mode: seconds to wait for it."})
    vllm_group_port: int = field(default=51216, metadata={"help": "Server mode: weight-update group port."})
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata={"help": "Colocate mode: share of GPU memory for vLLM."}
    )
    vllm_tensor_parallel_size: int = field(default=1, metadata={"help": "Colocate mode: tensor-parallel size."})
    vllm_max_model_length: int | None = field(default=None, metadata={"help": "Colocate mode: context length."})
    vllm_enable_sleep_mode: bool = field(default=False, metadata={"help": "Colocate mode: offload while training."})

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[no-untyped-call]
        problems = []
        for name in ("num_mini_batches", "num_ppo_epochs", "local_rollout_forward_batch_size", "max_completion_length"):
            if getattr(self, name) < 1:
                problems.append(f"`{name}` must be at least 1 (got {getattr(self, name)})")
        if self.max_turns is not None and self.max_turns < 1:
            problems.append(f"`max_turns` must be at least 1 or None (got {self.max_turns})")
        if self.max_episode_length <= self.max_completion_length:
            problems.append(
                f"`max_episode_length` ({self.max_episode_length}) must exceed `max_completion_length` "
                f"({self.max_completion_length}) to leave room for the prompt"
            )
        if self.kl_estimator not in ("k1", "k3"):
            problems.append(f"`kl_estimator` must be 'k1' or 'k3' (got {self.kl_estimator!r})")
        if self.vllm_mode not in ("colocate", "server"):
            problems.append(f"`vllm_mode` must be 'colocate' or 'server' (got {self.vllm_mode!r})")
        if self.temperature <= 0:
            problems.append(f"`temperature` must be > 0 (got {self.temperature}); PPO needs a sampling policy")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            problems.append(f"`gamma` and `lam` must lie in [0, 1] (got {self.gamma}, {self.lam})")
        if self.cliprange <= 0 or self.cliprange_value <= 0:
            problems.append("`cliprange` and `cliprange_value` must be > 0")
        if self.total_episodes is not None and self.total_episodes < self.batch_size:
            problems.append(
                f"`total_episodes` ({self.total_episodes}) is below one PPO batch ({self.batch_size} episodes); "
                "raise it or lower per_device_train_batch_size / gradient_accumulation_steps / num_mini_batches"
            )
        if problems:
            raise ConfigError("Invalid PPOConfig: " + "; ".join(problems) + ".")

    @property
    def mini_batch_size(self) -> int:
        """Episodes per optimizer step on this process."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    @property
    def local_batch_size(self) -> int:
        """Episodes collected per PPO step on this process."""
        return self.mini_batch_size * self.num_mini_batches

    @property
    def batch_size(self) -> int:
        """Episodes collected per PPO step over all processes."""
        return self.local_batch_size * int(self.world_size)

    def num_ppo_steps(self) -> int:
        """PPO steps in the run: ``total_episodes // batch_size`` if set, else `max_steps`."""
        if self.total_episodes is not None:
            return self.total_episodes // self.batch_size
        if self.max_steps <= 0:
            raise ConfigError("PPOConfig needs `max_steps` > 0 or `total_episodes` to know how long to train.")
        return int(self.max_steps)
