"""Rollouts: run environments against a model and record trajectories with provenance.

    >>> from openenvs.rollout import OpenAIPolicy, Runner, SamplingParams, make_episodes
    >>> policy = OpenAIPolicy("http://127.0.0.1:8000", "smollm2")  # doctest: +SKIP
    >>> result = Runner(policy, out_dir="runs/x").run(make_episodes("math/arithmetic-v1", 8))  # doctest: +SKIP

Policies: `OpenAIPolicy` (any OpenAI-compatible server; exact token ids from vLLM), `HFPolicy`
(local transformers, batched), `VLLMPolicy` (vLLM offline engine), `FunctionPolicy` (a Python
function). Heavy dependencies load only when a policy is created.
"""

from __future__ import annotations

from ._chat import ToolParser, render_text_tools, resolve_tool_parser
from ._hf import HFPolicy
from ._openai import OpenAIPolicy, ServerError
from ._ray import RayEnv, RayEnvPool, WorkerDied
from ._record import SamplingRecord, StepRecord, Trajectory, Versions
from ._report import pass_at_k, summarize, write_report
from ._runner import EnvMaker, EpisodeSpec, RolloutResult, Runner, make_episodes
from ._server import VLLMServer, default_vllm_venv, ensure_vllm_venv
from ._store import TrajectoryStore, iter_trajectories, load_trajectories
from ._types import FunctionPolicy, Generation, ModelInfo, Policy, SamplingParams, ToolFormat
from ._vllm import VLLMPolicy

__all__ = [
    "EnvMaker",
    "EpisodeSpec",
    "FunctionPolicy",
    "Generation",
    "HFPolicy",
    "ModelInfo",
    "OpenAIPolicy",
    "Policy",
    "RayEnv",
    "RayEnvPool",
    "RolloutResult",
    "Runner",
    "SamplingParams",
    "SamplingRecord",
    "ServerError",
    "StepRecord",
    "ToolFormat",
    "ToolParser",
    "Trajectory",
    "TrajectoryStore",
    "VLLMPolicy",
    "VLLMServer",
    "Versions",
    "WorkerDied",
    "default_vllm_venv",
    "ensure_vllm_venv",
    "iter_trajectories",
    "load_trajectories",
    "make_episodes",
    "pass_at_k",
    "render_text_tools",
    "resolve_tool_parser",
    "summarize",
    "write_report",
]
