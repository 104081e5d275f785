"""Live weight sync from a trainer to a running vLLM server, over HTTP and the filesystem (no NCCL).

Two modes, both verified against vLLM CPU 0.32:

- ``lora``: the adapter is saved into a new folder (written under a temporary name, then
  renamed, so the server never reads a half-written adapter) and hot-loaded with
  ``POST /v1/load_lora_adapter {"lora_name", "lora_path", "load_inplace": true}``. The server
  needs ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``. About 0.03 s for a
  rank-16 SmolLM2 adapter; decoding through a LoRA is about half the base model's speed on CPU.
- ``weights``: the adapter is merged into a copy of the weights (or, for a full fine-tune, the
  weights are taken as they are), saved as safetensors and reloaded in place with
  ``POST /collective_rpc {"method": "reload_weights", "kwargs": {"weights_path": DIR}}``
  (``VLLM_SERVER_DEV_MODE=1``); decoding then runs at full base-model speed.

After either, ``POST /reset_prefix_cache`` drops cached prefixes computed with the old weights.
A failed sync raises `WeightSyncError`: training never continues on stale weights silently.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from .._errors import OpenEnvsError

__all__ = ["SyncMode", "WeightSync", "WeightSyncError", "merged_state_dict"]

logger = logging.getLogger(__name__)

SyncMode = Literal["lora", "weights"]


class WeightSyncError(OpenEnvsError):
    """Pushing the trainer's weights to the vLLM server failed; the run stops rather than train on stale weights."""


def merged_state_dict(model: Any) -> dict[str, Any]:
    """The weights of `model` in the base model's names, LoRA adapters merged, without touching `model`.

    For a PEFT model each LoRA layer contributes ``W + scale * B @ A`` (peft's ``get_delta_weight``);
    a plain model's state dict is returned as is (detached, contiguous). Tied output embeddings are
    left out (the loader ties them again).
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    out: dict[str, Any] = {}
    with torch.no_grad():
        merged: dict[str, Any] = {}
        for name, module in base.named_modules():
            base_layer = getattr(module, "base_layer", None)
            if base_layer is not None and hasattr(module, "get_delta_weight"):
                weight = base_layer.weight.detach().clone()
                for adapter in getattr(module, "active_adapters", []):
                    if adapter in getattr(module, "lora_A", {}):
                        weight += module.get_delta_weight(adapter).to(weight.dtype)
                merged[f"{name}.weight"] = weight
        for key, value in base.state_dict().items():
            if "lora_" in key:
                continue
            key = key.replace(".base_layer.", ".")
            out[key] = merged.get(key, value).detach().contiguous()
    if getattr(base.config, "tie_word_embeddings", False):
        out.pop("lm_head.weight", None)
    return out


class WeightSync:
    """Push a trainer's current weights to a vLLM server after each optimizer step.

    Args:
        base_url: The server root, e.g. ``http://127.0.0.1:18100``.
        mode: ``lora`` (hot-load the adapter) or ``weights`` (merge and reload the full weights).
        work_dir: Where the adapters or weights are written; the server must read the same path
            (one machine, or a shared disk).
        adapter_name: The adapter's name on the server (``lora`` mode); requests then use it as ``model``.
            Default: ``policy-`` and a hash of `work_dir`, so runs sharing one server keep apart.
        base_model_name: The served model's name (``weights`` mode requests use it); None asks
            the server (``/v1/models``, the entry without a parent).
        keep: Versions kept on disk (older ones are deleted).
        timeout_s: Timeout of each request.
        log_path: The server's log, named in errors.

    Example:
        >>> sync = WeightSync("http://127.0.0.1:18100", "lora", work_dir="runs/x/sync")  # doctest: +SKIP
        >>> sync.push(trainer.model, version=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        mode: SyncMode,
        *,
        work_dir: str | Path,
        adapter_name: str | None = None,
        base_model_name: str | None = None,
        keep: int = 2,
        timeout_s: float = 300.0,
        log_path: str | Path | None = None,
    ) -> None:
        """Configure the sync; nothing is sent until `push`."""
        if mode not in ("lora", "weights"):
            raise OpenEnvsError(f"sync mode must be 'lora' or 'weights', not {mode!r}.")
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.mode: SyncMode = mode
        self.work_dir = Path(work_dir).absolute()
        self.adapter_name = adapter_name or "policy-" + hashlib.sha256(str(self.work_dir).encode()).hexdigest()[:8]
        self.base_model_name = base_model_name
        self.keep = max(1, keep)
        self.timeout_s = timeout_s
        self.log_path = log_path
        self.version: int | None = None
        self.seconds: list[float] = []

    @property
    def model_name(self) -> str:
        """The ``model`` that requests must name to sample from the synced weights."""
        if self.mode == "lora":
            return self.adapter_name
        if self.base_model_name is None:
            self.base_model_name = self._served_base()
        return self.base_model_name

    def _served_base(self) -> str:
        import httpx

        try:
            models = httpx.get(self.base_url + "/v1/models", timeout=30).json()["data"]
            return str(next(m["id"] for m in models if not m.get("parent")))
        except Exception as exc:
            raise WeightSyncError(f"Cannot list the models served at {self.base_url}/v1/models: {exc}") from exc

    def push(self, model: Any, version: int) -> float:
        """Save `model`'s weights as `version` and load them into the server; returns the seconds taken.

        Raises:
            WeightSyncError: Saving, loading or the prefix-cache reset failed.
        """
        t0 = time.perf_counter()
        folder = self.work_dir / f"v{version:06d}"
        staging = self.work_dir / f".v{version:06d}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            if self.mode == "lora":
                if not hasattr(model, "peft_config"):
                    raise WeightSyncError(
                        "sync mode 'lora' needs a LoRA (PEFT) model; add `lora:` to the recipe or use --sync weights."
                    )
                model.save_pretrained(str(staging))
            else:
                from safetensors.torch import save_file

                save_file(merged_state_dict(model), str(staging / "model.safetensors"))
            staging.rename(folder)
        except WeightSyncError:
            raise
        except Exception as exc:
            raise WeightSyncError(f"Could not save the weights of version {version} to {folder}: {exc}") from exc
        if self.mode == "lora":
            body = {"lora_name": self.adapter_name, "lora_path": str(folder), "load_inplace": True}
            self._post("/v1/load_lora_adapter", body, what="hot-load the LoRA adapter")
        else:
            body2 = {"method": "reload_weights", "kwargs": {"weights_path": str(folder)}}
            self._post("/collective_rpc", body2, what="reload the weights")
        self._post("/reset_prefix_cache", None, what="reset the prefix cache")
        self.version = version
        self._prune()
        seconds = time.perf_counter() - t0
        self.seconds.append(seconds)
        logger.info("synced version %d to %s (%s) in %.2fs", version, self.base_url, self.mode, seconds)
        return seconds

    def _post(self, path: str, body: dict[str, Any] | None, *, what: str) -> None:
        import httpx

        hint = {
            "/v1/load_lora_adapter": "start the server with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True "
            "(`openenvs serve-model --enable-lora`)",
            "/collective_rpc": "start the server with VLLM_SERVER_DEV_MODE=1 (`openenvs serve-model --dev-mode`)",
            "/reset_prefix_cache": "start the server with VLLM_SERVER_DEV_MODE=1 (`openenvs serve-model --dev-mode`)",
        }[path]
        log = f" Server log: {self.log_path}." if self.log_path else ""
        try:
            response = httpx.post(self.base_url + path, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise WeightSyncError(
                f"Could not {what} at {self.base_url}{path} ({type(exc).__name__}: {exc}); is the server alive?{log}"
            ) from exc
        if response.status_code != 200:
            raise WeightSyncError(
                f"vLLM refused to {what}: {path} answered HTTP {response.status_code}: {response.text[:500]}. "
                f"For this endpoint, {hint}.{log}"
            )

    def _prune(self) -> None:
        versions = sorted(p for p in self.work_dir.glob("v*") if p.is_dir())
        for old in versions[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
