"""`VLLMPolicy`: vLLM's offline `LLM` engine in this process, when vllm is importable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._errors import MissingDependency
from ._local import LocalPolicy, weights_revision
from ._types import Generation, ModelInfo, SamplingParams, ToolFormat

__all__ = ["VLLMPolicy"]


class VLLMPolicy(LocalPolicy):
    """A policy on vLLM's offline engine (``vllm.LLM``), batching concurrent episodes.

    Prompts are rendered with the model's tokenizer exactly as `HFPolicy` renders them and passed
    to vLLM as token ids, so the recorded prompt ids are the ones the engine saw. Each request
    keeps its own sampling seed.

    Args:
        model: Model folder or name (default: the bundled SmolLM2-135M-Instruct).
        tool_format: How tools reach the model (see `ToolFormat`).
        max_batch_size: Most conversations handed to the engine at once.
        revision: Recorded weights revision (default: hub commit or content hash of the folder).
        cpu_kv_cache_gib: On the CPU build, the KV-cache size (``VLLM_CPU_KVCACHE_SPACE``) unless that
            variable is already set; without it vLLM-CPU reserves most of the machine's memory.
        **engine_kwargs: Passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``...).

    Example:
        >>> policy = VLLMPolicy(max_model_len=2048)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        tool_format: ToolFormat = "auto",
        max_batch_size: int = 256,
        revision: str | None = None,
        cpu_kv_cache_gib: int = 2,
        **engine_kwargs: Any,
    ) -> None:
        """Start the engine (loads the weights)."""
        super().__init__(tool_format=tool_format, max_batch_size=max_batch_size)
        try:
            import vllm
        except ImportError as exc:
            raise MissingDependency(
                "vllm", "vllm", "VLLMPolicy; on CPU use the server instead: openenvs serve-model"
            ) from exc
        if model is None:
            from ..models import default_model_dir

            model = default_model_dir()
        path = Path(model)
        if revision is None and path.is_dir():
            revision = weights_revision(path)
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            import os

            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cpu_kv_cache_gib))
        self.llm = vllm.LLM(model=str(model), **engine_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self._info = ModelInfo(
            name=str(model), revision=revision, backend="vllm", backend_version=f"vllm {vllm.__version__}"
        )

    def _batch_key(self, params: SamplingParams) -> Any:
        return None  # every request carries its own sampling parameters

    def _run_batch(self, prompts: list[list[int]], params: list[SamplingParams]) -> list[Generation]:
        import vllm

        sampling = [
            vllm.SamplingParams(
                temperature=p.temperature,
                top_p=p.top_p,
                max_tokens=p.max_tokens,
                seed=p.seed,
                stop=list(p.stop) or None,
                logprobs=0,
                **p.extra,
            )
            for p in params
        ]
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in prompts], sampling, use_tqdm=False)
        result = []
        for prompt, out in zip(prompts, outputs, strict=True):
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [float(step[tok].logprob) for step, tok in zip(completion.logprobs or [], ids, strict=False)]
            result.append(
                Generation(
                    text=completion.text,
                    prompt_token_ids=prompt,
                    completion_token_ids=ids,
                    logprobs=logprobs or None,
                    finish_reason=completion.finish_reason,
                    prompt_tokens=len(prompt),
                    completion_tokens=len(ids),
                )
            )
        return result
