"""Training bookkeeping: provenance next to every checkpoint, a time budget, and the end report (PNG + HTML)."""

from __future__ import annotations

import base64
import html
import json
import logging
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from .._api import spec

__all__ = ["ProvenanceCallback", "TimeBudgetCallback", "provenance", "write_report"]

logger = logging.getLogger(__name__)


def provenance(
    env_ids: Sequence[tuple[str, dict[str, Any]]], *, model: str, config: dict[str, Any], seed: int
) -> dict[str, Any]:
    """What a checkpoint needs to be reproduced: env fingerprints, model, trainer config, seed and versions."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "envs": [
            {"id": env_id, "kwargs": kwargs, "fingerprint": spec(env_id).with_kwargs(**kwargs).fingerprint}
            for env_id, kwargs in env_ids
        ],
        "model": model,
        "seed": seed,
        "config": config,
        "versions": {p: ver(p) for p in ("openenvs", "torch", "transformers", "trl", "peft")},
        "python": platform.python_version(),
    }


class ProvenanceCallback(TrainerCallback):  # type: ignore[misc]
    """Write ``openenvs_provenance.json`` into the output folder and into every checkpoint."""

    def __init__(self, record: dict[str, Any]) -> None:
        """Hold the record to write."""
        self.record = record

    def _write(self, folder: Path, state: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "openenvs_provenance.json").write_text(
            json.dumps({**self.record, "global_step": state.global_step}, indent=2, default=str)
        )

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Write the record into the output folder."""
        self._write(Path(args.output_dir), state)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Write the record into the checkpoint just saved."""
        self._write(Path(args.output_dir) / f"checkpoint-{state.global_step}", state)


class TimeBudgetCallback(TrainerCallback):  # type: ignore[misc]
    """Stop training cleanly once `seconds` of wall time have passed (checked after each step)."""

    def __init__(self, seconds: float) -> None:
        """Start the clock at training start."""
        self.seconds = seconds
        self.start = time.monotonic()
        self.stopped_at: int | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Start the clock."""
        self.start = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        """Ask the trainer to stop when the budget is spent."""
        if time.monotonic() - self.start >= self.seconds:
            self.stopped_at = state.global_step
            control.should_training_stop = True
            logger.warning("Time budget of %.0f s spent after %d steps; stopping.", self.seconds, state.global_step)
        return control


_CURVES = [
    ("Reward", ["reward", "rewards/correct_reward/mean", "rewards/format_reward/mean", "rewards/lenient_correct_reward/mean", "rewards/env_reward/mean"]),
    ("KL / entropy", ["kl", "entropy"]),
    ("Completion length (tokens)", ["completions/mean_length"]),
    ("Curriculum level", ["curriculum/level"]),
]


def write_report(
    out_dir: str | Path,
    log_history: Sequence[dict[str, Any]],
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    title: str = "openenvs training report",
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Plot reward, KL, length (and curriculum level) over steps; write ``report.png``, ``report.html``, ``report.json``.

    Args:
        out_dir: Folder to write into.
        log_history: ``trainer.state.log_history``.
        before: Held-out metrics before training (from :func:`~openenvs.trl.evaluate_rows`).
        after: The same after training.
        title: Page title.
        extra: More facts for the table (model, env, timings, provenance).

    Returns:
        Paths of the files written, by kind (``png`` is absent when matplotlib is missing).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = [e for e in log_history if "step" in e and any(k for k in e if k.startswith(("reward", "loss")))]
    paths: dict[str, Path] = {}
    png = _plot(out / "report.png", steps, title)
    if png is not None:
        paths["png"] = png
    summary = {"title": title, "before": before, "after": after, "extra": extra or {}, "log_history": list(log_history)}
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    paths["json"] = out / "report.json"
    (out / "report.html").write_text(_html(title, before, after, extra or {}, png))
    paths["html"] = out / "report.html"
    return paths


def _plot(path: Path, steps: Sequence[dict[str, Any]], title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed; the report has no plot (pip install 'openenvs[trl]').")
        return None
    panels = [(name, [k for k in keys if any(k in e for e in steps)]) for name, keys in _CURVES]
    panels = [(name, keys) for name, keys in panels if keys]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.4), squeeze=False)
    for ax, (name, keys) in zip(axes[0], panels, strict=False):
        for key in keys:
            xs = [e["step"] for e in steps if key in e]
            ys = [e[key] for e in steps if key in e]
            ax.plot(xs, ys, marker=".", label=key.replace("rewards/", "").replace("/mean", ""))
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _html(title: str, before: dict[str, Any] | None, after: dict[str, Any] | None, extra: dict[str, Any], png: Path | None) -> str:
    esc = html.escape
    rows = ""
    if before and after:
        for key in ("accuracy", "lenient_accuracy", "format", "reward"):
            if before.get(key) is not None and after.get(key) is not None:
                rows += f"<tr><td>{esc(key)}</td><td>{before[key]:.3f}</td><td>{after[key]:.3f}</td><td>{after[key] - before[key]:+.3f}</td></tr>"
    table = f"<table border=1 cellpadding=4><tr><th>held-out</th><th>before</th><th>after</th><th>change</th></tr>{rows}</table>" if rows else ""
    img = ""
    if png is not None:
        img = f'<img alt="curves" src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}">'
    samples = ""
    for label, result in (("before", before), ("after", after)):
        for s in (result or {}).get("samples", []):
            samples += f"<tr><td>{label}</td><td>{esc(str(s['prompt']))}</td><td><pre>{esc(str(s['answer']))}</pre></td></tr>"
    facts = "".join(f"<tr><td>{esc(str(k))}</td><td><pre>{esc(json.dumps(v, default=str, indent=1))}</pre></td></tr>" for k, v in extra.items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title></head><body>"
        f"<h1>{esc(title)}</h1>{table}{img}<h2>Samples</h2><table border=1 cellpadding=4>{samples}</table>"
        f"<h2>Run</h2><table border=1 cellpadding=4>{facts}</table></body></html>"
    )
