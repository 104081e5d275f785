"""Adapters for TRL: any registered env trains with ``trl.GRPOTrainer``, and a PPO trainer in TRL's style.

>>> from trl import GRPOConfig, GRPOTrainer                       # doctest: +SKIP
>>> from openenvs.trl import for_grpo                             # doctest: +SKIP
>>> trainer = GRPOTrainer(model=path, args=GRPOConfig(...), **for_grpo("math/arithmetic-v1"))  # doctest: +SKIP
"""

from __future__ import annotations

from ._curriculum import CurriculumCallback
from ._evaluate import evaluate_rows
from ._factory import environment_factory
from ._grpo import EnvSource, for_grpo, make_rows
from ._importance import importance_grpo_trainer, truncated_importance_weights
from ._multiturn import make_rollout_func
from ._ppo import PPOTrainer
from ._ppo_config import PPOConfig
from ._rewards import (
    EnvScorer,
    completion_text,
    correct_reward,
    default_scorer,
    env_reward,
    format_reward,
    lenient_correct_reward,
    tool_answer_reward,
)
from ._rollouts import ServerRollouts, to_training_sample
from ._sync import SyncMode, WeightSync, WeightSyncError, merged_state_dict
from ._tools import chatml_tool_template

__all__ = [
    "CurriculumCallback",
    "EnvScorer",
    "EnvSource",
    "PPOConfig",
    "PPOTrainer",
    "ServerRollouts",
    "SyncMode",
    "WeightSync",
    "WeightSyncError",
    "chatml_tool_template",
    "completion_text",
    "correct_reward",
    "default_scorer",
    "env_reward",
    "environment_factory",
    "evaluate_rows",
    "for_grpo",
    "importance_grpo_trainer",
    "format_reward",
    "lenient_correct_reward",
    "make_rollout_func",
    "make_rows",
    "merged_state_dict",
    "to_training_sample",
    "tool_answer_reward",
    "truncated_importance_weights",
]
