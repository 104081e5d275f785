"""Truncated importance sampling between the sampler (vLLM) and the trainer, for GRPO and PPO.

A rollout sampled by a vLLM server is off the trainer's policy twice over: the kernels differ
(small numeric drift) and, with ``--async-rollouts 1``, the weights may be one step old. Each
token's loss is weighted by ``w = min(exp(logp_trainer - logp_sampler), C)`` (truncated IS, as in
TRL's own vLLM modes and Yao et al. 2025, "Your efficient RL framework secretly brings you
off-policy RL training"); ``logp_trainer`` is the trainer's log-prob of the token before the
update, ``logp_sampler`` the one vLLM returned (``--logprobs-mode processed_logprobs``, so both
are of the temperature-scaled distribution). Env tokens (mask 0) get weight 1.

TRL 1.16 applies such a correction only in its NCCL vLLM modes, which need CUDA. The narrowest
hook it offers is the loss inputs: `importance_grpo_trainer` returns a ``GRPOTrainer`` subclass
that adds ``importance_sampling_ratio`` to the scored batch and switches TRL's own multiplication
of the per-token loss by it on for the loss computation only.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["importance_grpo_trainer", "truncated_importance_weights"]


def truncated_importance_weights(
    trainer_logps: Any, sampler_logps: Any, mask: Any, cap: float = 3.0
) -> tuple[Any, dict[str, float]]:
    """Per-token weights ``min(exp(trainer - sampler), cap)`` (1 where masked out or NaN) and their statistics.

    Args:
        trainer_logps: (B, T) log-probs of the sampled tokens under the trainer's current weights.
        sampler_logps: (B, T) log-probs the sampler reported for the same tokens.
        mask: (B, T) 1 where the token was sampled by the policy (not padding, not env text).
        cap: Truncation threshold C.

    Returns:
        The weights (same shape, no gradient) and ``{"mean", "max", "truncated"}``: the mean and
        max untruncated ratio over the masked tokens and the share of them that were truncated.

    Example:
        >>> import torch
        >>> w, stats = truncated_importance_weights(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, -2.0]]),
        ...                                         torch.tensor([[1, 1]]), cap=3.0)
        >>> w.tolist(), stats["truncated"]
        ([[1.0, 3.0]], 0.5)
    """
    import torch

    with torch.no_grad():
        diff = (trainer_logps.float() - sampler_logps.float()).nan_to_num(0.0)
        valid = mask.bool() & ~torch.isnan(sampler_logps.float())
        ratio = torch.where(valid, torch.exp(diff.clamp(max=50.0)), torch.ones_like(diff))
        weights = ratio.clamp(max=cap)
        picked = ratio[valid]
        if picked.numel():
            stats = {
                "mean": float(picked.mean()),
                "max": float(picked.max()),
                "truncated": float((picked > cap).float().mean()),
            }
        else:
            stats = {"mean": 1.0, "max": 1.0, "truncated": 0.0}
    return weights, stats


def importance_grpo_trainer(base: type | None = None) -> type:
    """A ``trl.GRPOTrainer`` subclass that corrects for the sampler with truncated importance weights.

    The batch's sampler log-probs come from the ``logprobs`` a ``rollout_func`` returns; when
    they are present (and TRL's own vLLM correction is not running), the trainer's log-probs of
    the batch are computed once before the update, the truncated weights are attached to the
    batch, and the loss multiplies each token's term by its weight. Logged every step:
    ``is/ratio_mean``, ``is/ratio_max`` and ``is/truncated_share``. The cap is
    ``GRPOConfig.vllm_importance_sampling_clip_max`` (3.0 by default).
    """
    import torch

    if base is None:
        from trl import GRPOTrainer  # type: ignore[attr-defined]

        base = GRPOTrainer

    class ImportanceGRPOTrainer(base):  # type: ignore[misc, valid-type]
        _openenvs_is = False

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            out = super()._generate_and_score_completions(inputs)
            sampler = out.get("sampling_per_token_logps")
            if sampler is None or "importance_sampling_ratio" in out:
                return out
            old = out.get("old_per_token_logps")
            if old is None:  # TRL skips this forward when on-policy; the sampler's numbers say otherwise
                ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
                attention = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
                with torch.no_grad():
                    old, _, _ = self._get_per_token_logps_and_entropies(
                        self.model, ids, attention, out["completion_ids"].size(1),
                        batch_size=self.args.per_device_train_batch_size,
                    )  # fmt: skip
                out["old_per_token_logps"] = old
            mask = out["completion_mask"] * out["tool_mask"] if "tool_mask" in out else out["completion_mask"]
            cap = self.args.vllm_importance_sampling_clip_max
            weights, stats = truncated_importance_weights(
                old, sampler.to(old.device), mask, cap=math.inf if cap is None else float(cap)
            )
            out["importance_sampling_ratio"] = weights
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["is/ratio_mean"].append(stats["mean"])
            self._metrics[mode]["is/ratio_max"].append(stats["max"])
            self._metrics[mode]["is/truncated_share"].append(stats["truncated"])
            return out

        def _compute_loss(self, model: Any, inputs: Any) -> Any:
            names = ("use_vllm", "vllm_importance_sampling_correction")
            if "importance_sampling_ratio" not in inputs or getattr(self, names[0]):
                return super()._compute_loss(model, inputs)
            # TRL multiplies the per-token loss by inputs["importance_sampling_ratio"] when
            # `use_vllm and vllm_importance_sampling_correction`; turn that branch on for this call only.
            flags = [getattr(self, name) for name in names]
            for name in names:
                setattr(self, name, True)
            try:
                return super()._compute_loss(model, inputs)
            finally:
                for name, flag in zip(names, flags, strict=True):
                    setattr(self, name, flag)

    return ImportanceGRPOTrainer
