"""The policy protocol and the data a policy returns.

A policy turns a conversation (messages plus the tools on offer) into one assistant turn, a
:class:`Generation`, which keeps the exact token ids and logprobs when the backend gives them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from .._types import Message, ToolCall, ToolSpec

__all__ = ["FunctionPolicy", "Generation", "ModelInfo", "Policy", "SamplingParams", "ToolFormat"]

ToolFormat = Literal["auto", "template", "text"]
"""How tools reach the model: ``template`` passes them to the chat template (or the server) as
structured data; ``text`` describes them in the system message and renders calls and results as
text, which works with any template; ``auto`` picks ``template`` when the template uses tools."""


class SamplingParams(BaseModel):
    """Sampling parameters, recorded with every trajectory.

    Example:
        >>> SamplingParams(temperature=0.0, max_tokens=64).greedy
        True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=1.0, ge=0.0, description="Softmax temperature; 0 means greedy decoding.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling mass; 1.0 disables it.")
    max_tokens: int = Field(default=256, ge=1, description="Most tokens generated per turn.")
    seed: int | None = Field(default=None, description="Sampling seed; the runner derives one per episode from it.")
    stop: list[str] = Field(default_factory=list, description="Extra stop strings (the EOS token always stops).")
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend-specific request fields, e.g. vLLM's `structured_outputs`; sent as-is by OpenAIPolicy.",
    )

    @property
    def greedy(self) -> bool:
        """True when decoding is deterministic (temperature 0)."""
        return self.temperature == 0.0


class Generation(BaseModel):
    """One assistant turn produced by a policy.

    Token ids and logprobs are None when the backend does not provide them (a plain OpenAI
    server); `prompt_tokens`/`completion_tokens` still count tokens from the server's usage.
    """

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="Generated text, special tokens removed.")
    tool_calls: list[ToolCall] | None = Field(
        default=None, description="Tool calls the backend parsed itself (OpenAI-native); None to parse `text`."
    )
    prompt_token_ids: list[int] | None = Field(default=None, description="Token ids of the rendered prompt.")
    completion_token_ids: list[int] | None = Field(default=None, description="Token ids generated (EOS included).")
    logprobs: list[float] | None = Field(default=None, description="Log-probability of each generated token.")
    finish_reason: str | None = Field(default=None, description="'stop' (EOS or stop string), 'length', ...")
    prompt_tokens: int = Field(default=0, description="Number of prompt tokens.")
    completion_tokens: int = Field(default=0, description="Number of generated tokens.")


class ModelInfo(BaseModel):
    """Which model produced a trajectory: recorded for provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Model name or path as given to the policy.")
    revision: str | None = Field(default=None, description="Revision (commit or content hash) of the weights.")
    backend: str = Field(description="'openai', 'hf', 'vllm' or 'function'.")
    backend_version: str | None = Field(default=None, description="Version of the serving software.")
    base_url: str | None = Field(default=None, description="Server URL for OpenAI-compatible backends.")
    origin: str | None = Field(
        default=None,
        description="JSON: where the weights come from (`openenvs.models.model_origin`: hub id + revision, "
        "package, generated); for a server, what /v1/models reports, and whether the content hash is known.",
    )


@runtime_checkable
class Policy(Protocol):
    """What the rollout runner needs from a model backend.

    ``generate`` is called concurrently from many episodes; a backend that batches (HFPolicy,
    VLLMPolicy) gathers concurrent calls into one batch. ``aclose`` releases clients and models.
    """

    @property
    def model_info(self) -> ModelInfo:
        """The model's name, revision and backend."""
        ...

    async def generate(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: SamplingParams
    ) -> Generation:
        """Produce the next assistant turn of the conversation `messages`."""
        ...

    async def aclose(self) -> None:
        """Release resources (HTTP clients, models)."""
        ...


PolicyFn = Callable[[Sequence[Message], Sequence[ToolSpec]], "str | Message | Awaitable[str | Message]"]


class FunctionPolicy:
    """A policy backed by a Python function, for oracles, scripted tests and benchmarks.

    The function gets the conversation and the tools and returns the assistant's text or a
    `Message` (which may carry tool calls); it may be async.

    Example:
        >>> import asyncio
        >>> policy = FunctionPolicy(lambda messages, tools: "42")
        >>> asyncio.run(policy.generate([], [], SamplingParams())).text
        '42'
    """

    def __init__(self, fn: PolicyFn, name: str = "function") -> None:
        """Wrap `fn`; `name` is recorded as the model name."""
        self._fn = fn
        self._info = ModelInfo(name=name, backend="function")

    @property
    def model_info(self) -> ModelInfo:
        """The function's name as the model, backend 'function'."""
        return self._info

    async def generate(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: SamplingParams
    ) -> Generation:
        """Call the function and wrap its answer."""
        out = self._fn(messages, tools)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, Message):
            return Generation(text=out.content or "", tool_calls=out.tool_calls, finish_reason="stop")
        return Generation(text=str(out), finish_reason="stop")

    async def aclose(self) -> None:
        """Nothing to release."""
