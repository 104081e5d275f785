"""Old home of the bundled-model loaders; they are public now as :mod:`openenvs.models`."""

from __future__ import annotations

from .models import cache_dir, default_model_dir, smollm2_gguf_path, tiny_model_dir

__all__ = ["cache_dir", "default_model_dir", "smollm2_gguf_path", "tiny_model_dir"]
