"""What the in-process policies (HFPolicy, VLLMPolicy) share: prompt rendering and micro-batching.

Episodes call ``generate`` one conversation at a time; the batcher gathers the calls that arrive
while the model is busy into one batch, so many concurrent episodes share each forward pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._types import Message, ToolSpec
from ._chat import render_text_tools, template_messages
from ._types import Generation, ModelInfo, SamplingParams, ToolFormat

__all__ = ["LocalPolicy", "weights_revision"]

logger = logging.getLogger(__name__)

_Pending = tuple[list[int], SamplingParams, "asyncio.Future[Generation]"]


def weights_revision(path: Path) -> str:
    """A revision for a local model folder: the hub commit of a snapshot, else a content hash.

    The hash covers config, tokenizer and weight files, so two folders with the same weights
    get the same revision wherever they live.
    """
    if path.parent.name == "snapshots" and len(path.name) == 40:
        return path.name
    from ..models import content_sha256

    return "sha256:" + content_sha256(path)[:16]


class LocalPolicy:
    """Base of policies that run a model in this process, from a Hugging Face tokenizer.

    Subclasses set ``self.tokenizer`` and ``self._info`` and implement ``_run_batch``, a blocking
    call run in a worker thread that turns prompt token ids into generations.
    """

    tokenizer: Any
    _info: ModelInfo

    def __init__(
        self, *, tool_format: ToolFormat = "auto", max_batch_size: int = 32, batch_wait_s: float = 0.005
    ) -> None:
        """Set up the batcher; `batch_wait_s` is how long the first request of a batch waits for company."""
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.tool_format = tool_format
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self._pending: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None

    @property
    def model_info(self) -> ModelInfo:
        """Model path or name, weights revision and backend."""
        return self._info

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[int]:
        """The prompt token ids of a conversation, through the tokenizer's chat template.

        Rendered to text and then tokenized without special tokens added, as vLLM's server
        does, so the same conversation gives the same ids in every backend.
        """
        if self.tool_format == "auto":  # the tools package's layout: template if it renders tools, else text
            from ..tools import render_prompt

            text = render_prompt(messages, tools, self.tokenizer)
        elif tools and self.tool_format == "text":
            text = self.tokenizer.apply_chat_template(
                render_text_tools(messages, tools), add_generation_prompt=True, tokenize=False
            )
        else:
            tool_dicts = [t.to_openai() for t in tools] or None
            text = self.tokenizer.apply_chat_template(
                template_messages(messages), tools=tool_dicts, add_generation_prompt=True, tokenize=False
            )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate_batch(self, prompts: Sequence[list[int]], params: Sequence[SamplingParams]) -> list[Generation]:
        """Generate for many prompts in one batch (blocking); one `SamplingParams` per prompt."""
        return self._run_batch(list(prompts), list(params))

    def _run_batch(self, prompts: list[list[int]], params: list[SamplingParams]) -> list[Generation]:
        raise NotImplementedError

    def _batch_key(self, params: SamplingParams) -> Any:
        """Requests whose keys are equal may share a batch (default: equal params but the seed)."""
        return params.model_copy(update={"seed": None})

    async def generate(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: SamplingParams
    ) -> Generation:
        """Queue one conversation; it is generated in the next batch."""
        prompt = self.render(messages, tools)
        future: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        self._pending.append((prompt, params, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(self.batch_wait_s)
            key = self._batch_key(self._pending[0][1])
            batch: list[_Pending] = []
            rest: list[_Pending] = []
            for item in self._pending:
                if len(batch) < self.max_batch_size and self._batch_key(item[1]) == key:
                    batch.append(item)
                else:
                    rest.append(item)
            self._pending = rest
            live = [item for item in batch if not item[2].done()]  # cancelled by an episode timeout
            if not live:
                continue
            try:
                results = await asyncio.to_thread(self._run_batch, [p for p, _, _ in live], [s for _, s, _ in live])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting episode
                for _, _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        """Stop the batcher (the model is freed with the policy object)."""
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._worker = None
