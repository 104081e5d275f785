"""The trajectory record: one finished episode with everything needed to reproduce and train on it.

Free-form fields (an env's ``info``, env kwargs, tool schemas, backend-specific sampling extras)
are stored as JSON strings, so every record has the same columns and JSONL and Parquet files load
with ``datasets.load_dataset("json" | "parquet", ...)`` whatever mix of environments they hold.
"""

from __future__ import annotations

import json
import platform
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._spec import package_version
from ._types import ModelInfo

__all__ = ["SamplingRecord", "StepRecord", "Trajectory", "Versions", "collect_versions", "to_json"]


def to_json(value: Any) -> str:
    """Canonical JSON of `value` (sorted keys; unknown objects as `str`)."""
    return json.dumps(value, sort_keys=True, default=str)


class Versions(BaseModel):
    """Versions of the software that produced a trajectory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    openenvs: str | None = None
    python: str | None = None
    numpy: str | None = None
    torch: str | None = None
    transformers: str | None = None
    vllm: str | None = Field(default=None, description="Local vllm, or the server's version for OpenAIPolicy.")
    httpx: str | None = None
    platform: str | None = None


@cache
def _local_versions() -> dict[str, str | None]:
    dists = ["openenvs", "numpy", "torch", "transformers", "vllm", "httpx"]
    found: dict[str, str | None] = {d: package_version(d) for d in dists}
    found["python"] = platform.python_version()
    found["platform"] = f"{platform.system()}-{platform.machine()}"
    return found


def collect_versions(model: ModelInfo) -> Versions:
    """Versions of this process's packages; the serving vLLM's version when the model is served."""
    found = dict(_local_versions())
    if model.backend_version and model.backend_version.startswith("vllm "):
        found["vllm"] = model.backend_version.split(" ", 1)[1]
    return Versions(**found)


class SamplingRecord(BaseModel):
    """The sampling parameters of an episode (its own derived seed included)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    stop: list[str]
    extra: str = Field(description="Backend-specific request fields as JSON.")


class StepRecord(BaseModel):
    """One policy turn and the env's answer to it."""

    model_config = ConfigDict(extra="forbid")

    turn: int = Field(description="0-based turn number.")
    text: str = Field(description="Generated text.")
    prompt_token_ids: list[int] | None = Field(description="Prompt token ids as the backend saw them.")
    completion_token_ids: list[int] | None = Field(description="Generated token ids (EOS included).")
    logprobs: list[float] | None = Field(description="Logprob of each generated token.")
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    reward: float
    terminated: bool
    truncated: bool
    info: str = Field(description="The env's step info as JSON.")
    generate_s: float = Field(description="Seconds spent waiting for the policy.")


class Trajectory(BaseModel):
    """One finished episode."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Episode key: hash of env id, kwargs, seed and sample.")
    env_id: str
    env_kwargs: str = Field(description="Keyword arguments given to `openenvs.make`, as JSON.")
    fingerprint: str = Field(description="`EnvSpec.fingerprint` of the env as made.")
    seed: int = Field(description="Seed given to `env.reset`.")
    sample: int = Field(description="Sample number for this (env, seed): 0..samples-1.")
    messages: list[dict[str, Any]] = Field(description="The whole conversation, OpenAI format.")
    tools: str = Field(description="Tools offered (OpenAI format) as JSON.")
    steps: list[StepRecord]
    rewards: list[float] = Field(description="Reward of each step.")
    reward: float = Field(description="Sum of the step rewards.")
    correct: bool | None = Field(description="The last step's `info['correct']`.")
    difficulty: int | None = Field(description="`info['source']['difficulty']`, when the env has levels.")
    num_turns: int
    terminated: bool
    truncated: bool
    prompt_tokens: int = Field(description="Prompt tokens over all turns.")
    completion_tokens: int = Field(description="Generated tokens over all turns.")
    model: ModelInfo
    sampling: SamplingRecord
    versions: Versions
    started_at: str = Field(description="UTC start time, ISO 8601.")
    wall_s: float = Field(description="Episode wall time in seconds.")


def arrow_schema() -> Any:
    """The pyarrow schema of a `Trajectory` row (for Parquet)."""
    import pyarrow as pa

    s, i, f, b = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    call = pa.struct([("id", s), ("type", s), ("function", pa.struct([("name", s), ("arguments", s)]))])
    message = pa.struct([("role", s), ("content", s), ("tool_calls", pa.list_(call)), ("tool_call_id", s), ("name", s)])
    step = pa.struct(
        [
            ("turn", i), ("text", s), ("prompt_token_ids", pa.list_(i)), ("completion_token_ids", pa.list_(i)),
            ("logprobs", pa.list_(f)), ("finish_reason", s), ("prompt_tokens", i), ("completion_tokens", i),
            ("reward", f), ("terminated", b), ("truncated", b), ("info", s), ("generate_s", f),
        ]
    )  # fmt: skip
    model = pa.struct([(k, s) for k in ModelInfo.model_fields])
    sampling = pa.struct(
        [("temperature", f), ("top_p", f), ("max_tokens", i), ("seed", i), ("stop", pa.list_(s)), ("extra", s)]
    )
    versions = pa.struct([(k, s) for k in Versions.model_fields])
    return pa.schema(
        [
            ("id", s), ("env_id", s), ("env_kwargs", s), ("fingerprint", s), ("seed", i), ("sample", i),
            ("messages", pa.list_(message)), ("tools", s), ("steps", pa.list_(step)), ("rewards", pa.list_(f)),
            ("reward", f), ("correct", b), ("difficulty", i), ("num_turns", i), ("terminated", b), ("truncated", b),
            ("prompt_tokens", i), ("completion_tokens", i), ("model", model), ("sampling", sampling),
            ("versions", versions), ("started_at", s), ("wall_s", f),
        ]
    )  # fmt: skip
