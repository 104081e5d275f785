"""`openenvs eval` (run envs against a model, summarize, report) and `openenvs serve-model` (vLLM on CPU)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

__all__ = ["eval_cmd", "register", "serve_model_cmd"]


def _console() -> Any:
    import sys

    from rich.console import Console

    # piped output (logs, CI) gets a wide table instead of rich's 80-column default
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _first_served_model(base_url: str) -> str:
    import httpx

    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        data = httpx.get(root + "/v1/models", timeout=30).json()
        return str(data["data"][0]["id"])
    except Exception as exc:  # noqa: BLE001 - turned into an actionable message
        raise ValueError(f"Could not list the models served at {root}/v1/models ({exc}); pass --model NAME.") from exc


def _policy(model: str | None, base_url: str | None, backend: str, api_key: str | None, threads: int) -> Any:
    from ..rollout import HFPolicy, OpenAIPolicy, VLLMPolicy

    if base_url:
        return OpenAIPolicy(base_url, model or _first_served_model(base_url), api_key=api_key)
    if backend == "vllm":
        return VLLMPolicy(model)
    if backend != "hf":
        raise ValueError(f"--backend must be 'hf' or 'vllm', got {backend!r}")
    return HFPolicy(model, num_threads=threads or None)


def _episodes(
    env_ids: list[str], n: int, samples: int, seed: int, kwargs: dict[str, Any], difficulty: str | None
) -> list[Any]:
    from ..rollout import make_episodes

    if not difficulty:
        return make_episodes(env_ids, n, samples=samples, seed=seed, env_kwargs=kwargs)
    try:
        levels = [int(x) for x in difficulty.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--difficulty takes comma-separated integers such as 1,2,3; got {difficulty!r}") from None
    return [
        e
        for level in levels
        for e in make_episodes(env_ids, n, samples=samples, seed=seed, env_kwargs={**kwargs, "difficulty": level})
    ]


def _print_summary(summary: dict[str, Any], wall_s: float, out: Path) -> None:
    from rich.table import Table

    samples = max((row["samples"] for row in summary["envs"].values()), default=1)
    cols = ["env", "difficulty", "episodes", "mean reward", "accuracy", "pass@1"]
    if samples > 1:
        cols.append(f"pass@{samples}")
    cols += ["turns", "tokens/ep", "s/ep"]
    table = Table(*cols, title=f"openenvs eval — {summary.get('model', {}).get('name', '?')}")

    def cells(env: str, level: str, row: dict[str, Any]) -> list[str]:
        def f(v: Any) -> str:
            return "-" if v is None else f"{v:.3f}"

        values = [env, level, str(row["episodes"]), f(row["mean_reward"]), f(row["accuracy"]), f(row.get("pass@1"))]
        if samples > 1:
            values.append(f(row.get(f"pass@{samples}")))
        return [
            *values,
            f"{row['mean_turns']:.1f}",
            f"{row['mean_completion_tokens']:.0f}",
            f"{row['episode_wall_s']:.2f}",
        ]

    for env_id, row in summary["envs"].items():
        levels = summary["difficulty"].get(env_id, {})
        table.add_row(*cells(env_id, "all" if len(levels) > 1 else ",".join(map(str, levels)) or "-", row))
        if len(levels) > 1:
            for level, lrow in levels.items():
                table.add_row(*cells("", str(level), lrow))
    console = _console()
    console.print(table)
    tokens = sum(r["completion_tokens"] for r in summary["envs"].values())
    console.print(f"wall time {wall_s:.1f}s, {tokens} completion tokens ({tokens / max(wall_s, 1e-9):.1f} tok/s)")
    console.print(f"trajectories: {out / 'trajectories.jsonl'}  report: {out / 'report.html'}")


def _ray_pool(address: str | None, workers: int) -> Any:
    from ..rollout import RayEnvPool

    return RayEnvPool(workers or None, address=address, init_kwargs={"log_to_driver": False})


def _write_ray_stats(pool: Any, out_dir: Path) -> None:
    """Where the envs ran and which calls were lost to dead workers, as ``ray.json`` next to the trajectories."""
    try:
        stats = pool.stats()
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "ray.json").write_text(json.dumps(stats, indent=2, default=str) + "\n")
        lost = len(stats["failures"])
        nodes = len(stats["nodes"])
        _console().print(
            f"ray: {len(stats['workers'])} env workers on {nodes} node(s)"
            + (f"; {lost} env calls lost to dead workers (episodes retried, see ray.json)" if lost else "")
        )
    finally:
        pool.close()


def eval_cmd(
    env_ids: list[str] = typer.Argument(..., help="Environment ids, e.g. math/arithmetic-v1."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model folder/name (local) or served model name (with --base-url). Default: bundled SmolLM2-135M-Instruct.",
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000 (vLLM)."
    ),
    backend: str = typer.Option(
        "hf", "--backend", help="Local backend without --base-url: hf (transformers) or vllm (offline engine)."
    ),
    n: int = typer.Option(16, "-n", help="Tasks per environment (seeds seed..seed+n-1)."),
    samples: int = typer.Option(1, "--samples", "-k", help="Attempts per task; pass@k is reported when > 1."),
    concurrency: int = typer.Option(16, "--concurrency", "-c", help="Episodes in flight at once."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default runs/eval-<time>); rerun with the same folder to resume."
    ),
    temperature: float | None = typer.Option(
        None, "--temperature", help="Sampling temperature (default 0 for one sample, 1.0 for several)."
    ),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling mass."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Most tokens generated per turn."),
    seed: int = typer.Option(0, "--seed", help="First env seed; also seeds sampling."),
    difficulty: str | None = typer.Option(
        None, "--difficulty", help="Sweep levels, e.g. 1,2,3 (envs with a `difficulty` setting)."
    ),
    kwargs: str = typer.Option(
        "{}", "--kwargs", help="Env keyword arguments as JSON, e.g. '{\"format_reward\": 0.1}'."
    ),
    max_turns: int = typer.Option(32, "--max-turns", help="Safety cap on turns per episode."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds before an episode is abandoned."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="OPENAI_API_KEY", help="Bearer token for the server."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    env_url: str | None = typer.Option(
        None, "--env-url", help="Play the envs on an `openenvs serve` server at this URL instead of in-process."
    ),
    env_token_file: str | None = typer.Option(
        None, "--env-token-file", help="File holding the bearer token of the --env-url server."
    ),
    threads: int = typer.Option(
        1,
        "--threads",
        help="Torch CPU threads for the local hf backend; 0 keeps torch's default (1 is robust on busy CPUs).",
    ),
    ray: bool = typer.Option(False, "--ray", help="Run the envs on Ray actors (see docs/scale-out.md)."),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to join (e.g. auto, 10.0.0.1:6379; implies --ray); default $RAY_ADDRESS, else a local Ray.",
    ),
    ray_workers: int = typer.Option(0, "--ray-workers", help="Env worker actors with --ray (0: one per cluster CPU)."),
) -> None:
    """Run environments against a model and write trajectories, a summary and a report (PNG + HTML)."""
    from ..rollout import Runner, SamplingParams

    if model and base_url is None and not Path(model).exists() and "/" not in model:
        raise ValueError(
            f"--model {model!r} is not a folder; pass a local model folder, or --base-url for a served model."
        )
    try:
        env_kwargs = json.loads(kwargs)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--kwargs must be a JSON object such as '{{\"difficulty\": 2}}' ({exc})") from None
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--kwargs must be a JSON object, got {kwargs!r}")
    if env_url is not None:  # every make(id) below now opens a session on the server
        from ..server import use_remote
        from ..server._serve import read_token

        use_remote(env_url, env_ids, token=read_token(env_token_file) if env_token_file else None)
    episodes = _episodes(env_ids, n, samples, seed, env_kwargs, difficulty)
    from .._api import spec

    for env_id in env_ids:
        spec(env_id)  # fail fast, with a did-you-mean, before loading a model
    temp = temperature if temperature is not None else (0.0 if samples == 1 else 1.0)
    sampling = SamplingParams(temperature=temp, top_p=top_p, max_tokens=max_tokens, seed=seed)
    out_dir = out or Path("runs") / f"eval-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    policy = _policy(model, base_url, backend, api_key, threads)
    pool = _ray_pool(ray_address, ray_workers) if ray or ray_address else None
    runner = Runner(
        policy,
        sampling=sampling,
        concurrency=concurrency,
        episode_timeout_s=timeout,
        max_turns=max_turns,
        out_dir=out_dir,
        progress=progress,
        envs=pool,
    )
    t0 = time.perf_counter()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    from ..repro._card import write_card

    status = "interrupted"
    try:
        try:
            result = runner.run(episodes)
        finally:
            if pool is not None:
                _write_ray_stats(pool, out_dir)
        wall = time.perf_counter() - t0
        _finish(result, out_dir, wall, env_ids)
        status = "finished" if not result.errors else f"finished; {len(result.errors)} episodes failed"
    except Exception as exc:
        status = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:  # a card for failed and interrupted runs too, saying how far they got
        write_card(out_dir, kind="eval", command=["openenvs", *sys.argv[1:]], status=status,
                   wall_s=time.perf_counter() - t0, started_at=started)
    if result.errors and not result.trajectories:
        raise typer.Exit(1)


def _finish(result: Any, out_dir: Path, wall: float, env_ids: list[str]) -> None:
    from ..rollout import summarize, write_report

    console = _console()
    if result.skipped:
        console.print(f"resumed: {result.skipped} episodes were already finished in {out_dir}")
    if result.errors:
        console.print(
            f"[yellow]{len(result.errors)} episodes failed[/] (see {out_dir / 'errors.jsonl'}); rerun to retry them"
        )
    write_report(result.trajectories, out_dir, wall_s=wall, title=f"openenvs eval: {', '.join(env_ids)}")
    _print_summary(summarize(result.trajectories), wall, out_dir)


def serve_model_cmd(
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model folder (default: bundled SmolLM2-135M-Instruct)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port."),
    name: str | None = typer.Option(None, "--name", help="Served model name (default: smollm2, or the folder name)."),
    max_model_len: int = typer.Option(4096, "--max-model-len", help="Context length (smaller saves memory)."),
    venv: Path | None = typer.Option(None, "--venv", help="The vLLM venv (default .venv-vllm or $OPENENVS_VLLM_VENV)."),
    install_only: bool = typer.Option(False, "--install-only", help="Build the vLLM venv and exit."),
    training: bool = typer.Option(
        False, "--training", help="Ready for `openenvs train --vllm-url`: --enable-lora --dev-mode --logprobs-mode processed_logprobs."
    ),
    enable_lora: bool = typer.Option(False, "--enable-lora", help="Accept LoRA adapters loaded at run time (hot-load sync)."),
    max_lora_rank: int = typer.Option(16, "--max-lora-rank", help="Largest LoRA rank accepted."),
    max_loras: int = typer.Option(2, "--max-loras", help="LoRA adapters held at once."),
    dev_mode: bool = typer.Option(
        False, "--dev-mode", help="VLLM_SERVER_DEV_MODE=1: /collective_rpc (weight reload) and /reset_prefix_cache; loopback only."
    ),
    logprobs_mode: str | None = typer.Option(
        None, "--logprobs-mode", help="raw_logprobs (vLLM's default, before temperature), processed_logprobs (what was sampled), raw_logits, processed_logits."
    ),
    kv_cache_gib: int = typer.Option(2, "--kv-cache-gib", help="CPU KV-cache size in GiB (VLLM_CPU_KVCACHE_SPACE)."),
    preload: bool = typer.Option(True, "--preload/--no-preload", help="LD_PRELOAD tcmalloc and the venv's libiomp5 (+40% decode speed)."),
) -> None:
    """Build the vLLM CPU venv if needed and serve a model with vLLM's OpenAI-compatible server."""
    from ..rollout import VLLMServer, ensure_vllm_venv

    if install_only:
        typer.echo(f"vLLM venv ready: {ensure_vllm_venv(venv).parent.parent}")
        return
    if training:
        enable_lora, dev_mode, logprobs_mode = True, True, logprobs_mode or "processed_logprobs"
    modes = {"raw_logprobs", "processed_logprobs", "raw_logits", "processed_logits"}
    if logprobs_mode is not None and logprobs_mode not in modes:
        raise typer.BadParameter(f"--logprobs-mode must be one of {sorted(modes)}, not {logprobs_mode!r}.")
    if dev_mode and host not in {"127.0.0.1", "localhost", "::1"}:
        typer.echo(f"warning: --dev-mode exposes unauthenticated weight-reload endpoints on {host}", err=True)
    server = VLLMServer(
        model, host=host, port=port, served_model_name=name, venv=venv, max_model_len=max_model_len,
        kv_cache_gib=kv_cache_gib, enable_lora=enable_lora, max_lora_rank=max_lora_rank, max_loras=max_loras,
        dev_mode=dev_mode, logprobs_mode=logprobs_mode, preload=preload,
    )  # fmt: skip
    with server:
        typer.echo(f"serving {server.model_path} as {server.model_name!r} at {server.base_url} (Ctrl-C stops it)")
        typer.echo(f"try: openenvs eval math/arithmetic-v1 --base-url {server.base_url} --model {server.model_name}")
        try:
            while server.process is not None and server.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


def register(app: typer.Typer) -> None:
    """Add `eval` and `serve-model` to `app`."""
    app.command("eval")(eval_cmd)
    app.command("serve-model")(serve_model_cmd)
