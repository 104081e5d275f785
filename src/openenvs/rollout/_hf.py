"""`HFPolicy`: a local transformers model with batched generation and per-token logprobs."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from .._errors import MissingDependency
from ._local import LocalPolicy, weights_revision
from ._types import Generation, ModelInfo, SamplingParams, ToolFormat

__all__ = ["HFPolicy"]

logger = logging.getLogger(__name__)


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(exc.name or "transformers", "trl", "HFPolicy (local transformers models)") from exc
    return torch


class HFPolicy(LocalPolicy):
    """A policy running a transformers causal LM in this process.

    Concurrent ``generate`` calls are gathered into left-padded batches. Logprobs are those of the
    model's raw distribution (before temperature and top-p), as vLLM reports them by default, so
    trajectories from both backends can be compared and trained on alike.

    Args:
        model: A model folder or hub name (loaded from local files only), a loaded
            ``PreTrainedModel``, or None for the bundled default (SmolLM2-135M-Instruct).
        tokenizer: A tokenizer to use with a loaded model (default: loaded from `model`).
        device: ``cpu``, ``cuda`` ...; default: CUDA when available.
        dtype: Torch dtype name; default float32 on CPU, bfloat16 on GPU.
        tool_format: How tools reach the model (see `ToolFormat`).
        max_batch_size: Most conversations in one forward batch.
        revision: Recorded weights revision (default: the hub commit or a content hash of the folder).
        num_threads: Torch CPU threads while generating (restored afterwards); None keeps torch's
            setting. On a busy CPU, 1 avoids OpenMP oversubscription, which can slow decoding 10x or more.

    Example:
        >>> policy = HFPolicy()  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Path | Any | None = None,
        *,
        tokenizer: Any | None = None,
        device: str | None = None,
        dtype: str | None = None,
        tool_format: ToolFormat = "auto",
        max_batch_size: int = 32,
        revision: str | None = None,
        num_threads: int | None = None,
    ) -> None:
        """Load the model and tokenizer (from local files; nothing is downloaded)."""
        super().__init__(tool_format=tool_format, max_batch_size=max_batch_size)
        torch = _import_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model: Any
        origin: str | None = None
        if model is None:
            from ..models import default_model_dir

            model = default_model_dir()
        if isinstance(model, (str, Path)):
            name = str(model)
            path = Path(model)
            torch_dtype = (
                getattr(torch, dtype) if dtype else (torch.float32 if self.device == "cpu" else torch.bfloat16)
            )
            self.model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype, local_files_only=True)
            self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(name, local_files_only=True)
            if revision is None and path.is_dir():
                revision = weights_revision(path)
            if path.is_dir():
                from ..models import model_origin

                origin = json.dumps(model_origin(path), sort_keys=True)
        else:
            self.model = model
            name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
            if tokenizer is None:
                raise ValueError("HFPolicy(model=<loaded model>) needs tokenizer=<its tokenizer> as well.")
            self.tokenizer = tokenizer
        self.model.to(self.device).eval()
        import transformers

        self._info = ModelInfo(
            name=name,
            revision=revision,
            backend="hf",
            backend_version=f"transformers {transformers.__version__}",
            origin=origin,
        )
        eos = self.model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos]
        if self.tokenizer.eos_token_id is not None:
            eos_ids = [*eos_ids, self.tokenizer.eos_token_id]
        self._eos = {int(e) for e in eos_ids if e is not None}
        self._pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self._eos)
        self._lock = threading.Lock()
        self.num_threads = num_threads

    def _run_batch(self, prompts: list[list[int]], params: list[SamplingParams]) -> list[Generation]:
        torch = _import_torch()
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

        p = params[0]
        width = max(len(ids) for ids in prompts)
        input_ids = torch.full((len(prompts), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        recorder = _LogprobRecorder()
        processors: list[Any] = [recorder]
        if not p.greedy:  # warpers after the recorder, so it sees the raw distribution
            if p.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(p.temperature))
            if p.top_p < 1.0:
                processors.append(TopPLogitsWarper(p.top_p))
        kwargs: dict[str, Any] = {
            "max_new_tokens": p.max_tokens,
            "do_sample": not p.greedy,
            "temperature": None,
            "top_p": None,
            "top_k": None,
            "pad_token_id": self._pad,
            "eos_token_id": sorted(self._eos),
            "logits_processor": LogitsProcessorList(processors),
            "return_dict_in_generate": True,
        }
        if p.stop:
            kwargs.update(stop_strings=list(p.stop), tokenizer=self.tokenizer)
        with self._lock, torch.inference_mode():
            threads = torch.get_num_threads()
            if self.num_threads:
                torch.set_num_threads(self.num_threads)
            try:
                if p.seed is not None:
                    torch.manual_seed(p.seed)
                out = self.model.generate(
                    input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device), **kwargs
                )
            finally:
                torch.set_num_threads(threads)
        new = out.sequences[:, width:].cpu()
        logprobs = recorder.finish(new).cpu()
        return [
            self._to_generation(prompts[row], new[row].tolist(), logprobs[row].tolist(), p)
            for row in range(len(prompts))
        ]

    def _to_generation(self, prompt: list[int], ids: list[int], logprobs: list[float], p: SamplingParams) -> Generation:
        end = next((i + 1 for i, tok in enumerate(ids) if tok in self._eos), None)
        text = self.tokenizer.decode(ids[:end], skip_special_tokens=True)
        finish = "stop" if end is not None else "length"
        if end is None and p.stop and any(s in text for s in p.stop):
            cut = min(text.index(s) + len(s) for s in p.stop if s in text)
            stop_end = next(
                (
                    i + 1
                    for i in range(len(ids))
                    if len(self.tokenizer.decode(ids[: i + 1], skip_special_tokens=True)) >= cut
                ),
                len(ids),
            )
            end, finish = stop_end, "stop"
        ids = ids[:end] if end is not None else ids
        if end is None:  # ran to max_tokens; drop padding of rows that stopped (pad != eos)
            while ids and ids[-1] == self._pad and self._pad not in self._eos:
                ids.pop()
        return Generation(
            text=self.tokenizer.decode(ids, skip_special_tokens=True),
            prompt_token_ids=prompt,
            completion_token_ids=ids,
            logprobs=logprobs[: len(ids)],
            finish_reason=finish,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
        )


class _LogprobRecorder:
    """A logits processor that keeps the log-probability of each sampled token, in O(batch x vocab).

    At step t it sees the token chosen at step t-1 (the last column of ``input_ids``) and reads its
    logprob from the distribution it stored at t-1; `finish` reads the final step's.
    """

    def __init__(self) -> None:
        self._prev: Any = None
        self._out: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._prev is not None:
            self._out.append(self._prev.gather(1, input_ids[:, -1:].to(self._prev.device)).squeeze(1))
        self._prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, new_tokens: Any) -> Any:
        """Logprobs (batch x generated) of `new_tokens`, the generated columns of the output."""
        import torch

        if self._prev is not None and new_tokens.shape[1] > len(self._out):
            last = new_tokens[:, len(self._out) : len(self._out) + 1].to(self._prev.device)
            self._out.append(self._prev.gather(1, last).squeeze(1))
        if not self._out:
            return torch.zeros((new_tokens.shape[0], 0))
        return torch.stack(self._out, dim=1)
