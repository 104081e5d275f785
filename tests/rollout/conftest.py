"""Fixtures for rollout tests: one real vLLM server per test session, and the bundled models."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from _require import require

REPO = Path(__file__).resolve().parents[2]
VLLM_VENV = Path(os.environ.get("OPENENVS_VLLM_VENV", REPO / ".venv-vllm"))


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory):
    """vLLM's OpenAI server on 127.0.0.1 serving SmolLM2-135M-Instruct, shared by every vLLM test (~60-160 s cold).

    Started ready for training too: runtime LoRA adapters (rank <= 16), dev-mode endpoints
    (weight reload, prefix-cache reset) and processed logprobs (those of the distribution
    sampled, after temperature). Tests that reload the base weights restore them.
    """
    from openenvs.rollout import VLLMServer

    if os.environ.get("OPENENVS_TEST_VLLM_URL"):  # reuse a server already running (while developing)
        yield SimpleNamespace(base_url=os.environ["OPENENVS_TEST_VLLM_URL"], model_name="smollm2", log_file=None)
        return
    require("vllm")
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    server = VLLMServer(
        venv=VLLM_VENV, install=False, max_model_len=2048, log_path=log, kv_cache_gib=1,
        enable_lora=True, max_lora_rank=16, max_loras=2, dev_mode=True, logprobs_mode="processed_logprobs",
    )  # fmt: skip
    server.start(timeout_s=900)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from openenvs.models import default_model_dir

    return default_model_dir()


@pytest.fixture(scope="session")
def tiny_dir() -> Path:
    from openenvs.models import tiny_model_dir

    return tiny_model_dir()
