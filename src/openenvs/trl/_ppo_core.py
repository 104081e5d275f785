"""The PPO math as pure tensor functions: masked statistics, GAE, the clipped losses and the KL penalty.

Every function takes ``[batch, time]`` tensors and a ``mask`` of the same shape that is 1 on the
tokens the policy wrote (its *actions*) and 0 elsewhere: padding, the prompt and, in multi-turn
episodes, the tokens the environment wrote. Masked-out positions never enter a statistic, a loss or
the GAE recursion, so an env-written span between two policy turns is skipped as if it were absent.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "compute_gae",
    "kl_penalty",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "policy_loss",
    "selective_log_softmax",
    "value_loss",
]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the positions where `mask` is 1 (0 when the mask is empty).

    Example:
        >>> masked_mean(torch.tensor([1.0, 2.0, 9.0]), torch.tensor([1, 1, 0]))
        tensor(1.5000)
    """
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of `values` over the masked positions, with Bessel's correction when `unbiased`.

    Example:
        >>> masked_var(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([1, 1, 0]))
        tensor(2.)
    """
    mask = mask.to(values.dtype)
    mean = masked_mean(values, mask)
    count = mask.sum()
    variance = masked_mean((values - mean) ** 2, mask)
    if unbiased and count > 1:
        variance = variance * count / (count - 1)
    return variance


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Scale the masked entries to unit variance (and zero mean when `shift_mean`); zero the rest.

    With ``shift_mean=False`` the mean is kept, which is how rewards are whitened: only their scale
    changes, so the sign of a reward still tells good from bad.

    Example:
        >>> masked_whiten(torch.tensor([1.0, 3.0, 7.0]), torch.tensor([1, 1, 0]))
        tensor([-0.7071,  0.7071,  0.0000])
    """
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(values.dtype)


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al., 2016) over the policy's tokens.

    Each row is one episode whose timesteps are the positions where `mask` is 1; the recursion
    ``A_t = delta_t + gamma * lam * A_{t+1}`` with ``delta_t = r_t + gamma * V_{t+1} - V_t`` walks
    from the last action backwards, passing over masked-out positions unchanged, and bootstraps
    with 0 after the last action (the episode is over).

    Args:
        rewards: Per-token rewards, ``[batch, time]``.
        values: Value estimates of the state before each token, ``[batch, time]``.
        mask: 1 on the policy's tokens, 0 elsewhere.
        gamma: Discount factor per token.
        lam: GAE's lambda (0: one-step TD, 1: Monte-Carlo returns).

    Returns:
        ``(advantages, returns)``, both ``[batch, time]`` and 0 where `mask` is 0;
        ``returns = advantages + values`` on the policy's tokens (the value targets).

    Example:
        >>> adv, ret = compute_gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]),
        ...                        torch.tensor([[1, 1]]), gamma=1.0, lam=1.0)
        >>> adv, ret
        (tensor([[0.5000, 0.5000]]), tensor([[1., 1.]]))
    """
    mask = mask.to(values.dtype)
    next_value = torch.zeros_like(values[:, 0])
    next_advantage = torch.zeros_like(values[:, 0])
    advantages = torch.zeros_like(values)
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantage = delta + gamma * lam * next_advantage
        active = mask[:, t] > 0
        advantages[:, t] = torch.where(active, advantage, torch.zeros_like(advantage))
        next_value = torch.where(active, values[:, t], next_value)
        next_advantage = torch.where(active, advantage, next_advantage)
    returns = (advantages + values) * mask
    return advantages, returns


def policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, cliprange: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate loss (Schulman et al., 2017), averaged over the policy's tokens.

    ``loss = mean(max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)))`` with
    ``ratio = exp(logprobs - old_logprobs)``.

    Returns:
        ``(loss, clipfrac)``: the scalar loss and the share of tokens where the clipped term won.

    Example:
        >>> loss, clipfrac = policy_loss(torch.tensor([[0.0]]), torch.tensor([[-1.0]]),
        ...                              torch.tensor([[1.0]]), torch.tensor([[1]]), cliprange=0.2)
        >>> round(loss.item(), 4), clipfrac.item()
        (-1.2, 1.0)
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).to(logprobs.dtype), mask)
    return loss, clipfrac


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss: ``0.5 * mean(max((V - R)^2, (V_clip - R)^2))``.

    ``V_clip = old_values + clip(values - old_values, -eps, eps)`` keeps the critic from moving
    further than `cliprange_value` from its rollout-time estimate in one update.

    Returns:
        ``(loss, clipfrac)``: the scalar loss and the share of tokens where the clipped term won.

    Example:
        >>> loss, clipfrac = value_loss(torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]),
        ...                             torch.tensor([[1]]), cliprange_value=0.5)
        >>> loss.item(), clipfrac.item()
        (0.5, 0.0)
    """
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped_loss = (values - returns) ** 2
    clipped_loss = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_loss, clipped_loss), mask)
    clipfrac = masked_mean((clipped_loss > unclipped_loss).to(values.dtype), mask)
    return loss, clipfrac


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: Literal["k1", "k3"]) -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from the sampled tokens' log-probabilities.

    ``k1`` is ``logp - ref_logp`` (unbiased, can be negative); ``k3`` is
    ``exp(ref_logp - logp) - 1 - (ref_logp - logp)`` (unbiased and never negative; Schulman, 2020,
    "Approximating KL divergence").

    Example:
        >>> kl_penalty(torch.tensor([0.0]), torch.tensor([0.0]), "k3")
        tensor([0.])
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"kl_estimator must be 'k1' or 'k3', got {estimator!r}.")


def selective_log_softmax(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[..., index]`` without materialising the full log-softmax tensor twice.

    Example:
        >>> selective_log_softmax(torch.zeros(1, 2, 4), torch.tensor([[0, 3]]))
        tensor([[-1.3863, -1.3863]])
    """
    picked = torch.gather(logits, -1, index.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)
