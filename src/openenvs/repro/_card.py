"""Run cards: ``card.md`` and ``card.json`` in every eval and train run folder.

A card says what was run (command line, recipe, envs with fingerprints and manifests, model,
sampling, seeds, hardware, versions, wall time), what came out (the metrics table, the plots) and
the licenses of the data. It is written for failed and interrupted runs too, with how far they
got: negative results are results. ``openenvs card DIR`` rebuilds it from the folder's files.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["read_card", "write_card"]

_PLOTS = ("report.png", "report.html")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _hardware() -> dict[str, Any]:
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return {
        "platform": f"{platform.system()}-{platform.machine()}",
        "cpu_count": os.cpu_count(),
        "memory_gib": memory,
        "gpu": gpu,
        "python": platform.python_version(),
    }


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.endswith(b"\n"))


def _envs(run_dir: Path) -> list[dict[str, Any]]:
    envs: list[dict[str, Any]] = []
    for file in sorted(run_dir.rglob("manifests.json")):
        for fingerprint, entry in (_load(file) or {}).items():
            if not any(e["fingerprint"] == fingerprint for e in envs):
                envs.append({"id": entry.get("id"), "fingerprint": fingerprint, "manifest": entry.get("manifest")})
    return envs


def write_card(
    run_dir: str | Path,
    *,
    kind: str | None = None,
    command: list[str] | None = None,
    status: str | None = None,
    wall_s: float | None = None,
    started_at: str | None = None,
    recipe: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write (or rebuild) ``card.json`` and ``card.md`` in `run_dir`; arguments left out keep their recorded values.

    Args:
        run_dir: The run folder.
        kind: ``eval`` or ``train``.
        command: The command line that started the run.
        status: ``finished``, ``failed: <why>`` or ``interrupted``.
        wall_s: Wall time of the run so far.
        started_at: ISO start time.
        recipe: The training recipe, for train runs.
        metrics: Rows of the results table (default: the run folder's summary.json).
    """
    from ._licenses import license_report

    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    old = _load(folder / "card.json") or {}
    run = _load(folder / "run.json") or {}
    summary = _load(folder / "summary.json") or _load(folder / "report.json") or {}
    envs = _envs(folder)
    trajectories = sum(_count_lines(p) for p in folder.rglob("trajectories*.jsonl"))
    errors = sum(_count_lines(p) for p in folder.rglob("errors.jsonl"))
    licenses: dict[str, Any] | None = None
    ids = sorted({e["id"] for e in envs if e.get("id")}) or [
        str(e.get("id")) for e in (recipe or old.get("recipe") or {}).get("envs", []) if isinstance(e, dict)
    ]
    if ids:
        try:
            report = license_report(ids)
            licenses = {"flags": report.flags, "entries": [e.model_dump(mode="json") for e in report.entries]}
        except Exception as exc:  # noqa: BLE001 - a card is written even when an env is gone
            licenses = {"error": str(exc)}
    card = {
        "kind": kind or old.get("kind") or ("train" if recipe else "eval"),
        "status": status or old.get("status") or "unknown",
        "command": shlex.join(command) if command is not None else old.get("command"),
        "started_at": started_at or old.get("started_at") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": wall_s if wall_s is not None else old.get("wall_s"),
        "recipe": recipe if recipe is not None else old.get("recipe"),
        "model": summary.get("model") or run.get("model") or (recipe or old.get("recipe") or {}).get("model"),
        "sampling": summary.get("sampling") or run.get("sampling"),
        "envs": envs,
        "progress": {"trajectories": trajectories, "errors": errors},
        "metrics": metrics or summary.get("envs") or summary.get("metrics") or old.get("metrics"),
        "plots": [p for p in _PLOTS if (folder / p).exists()],
        "versions": summary.get("versions"),
        "hardware": _hardware(),
        "licenses": licenses,
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "card.md").write_text(_markdown(card))
    return folder / "card.md"


def read_card(run_dir: str | Path) -> dict[str, Any]:
    """The ``card.json`` of a run folder."""
    data = _load(Path(run_dir) / "card.json")
    if data is None:
        raise FileNotFoundError(f"{run_dir} has no card.json; write one with `openenvs card {run_dir}`.")
    return dict(data)


def _markdown(card: dict[str, Any]) -> str:
    lines = [f"# Run card: {card['kind']} ({card['status']})", ""]
    lines += [f"- Command: `{card['command']}`" if card["command"] else "- Command: not recorded"]
    lines += [f"- Started: {card['started_at'] or '?'}; wall time: {_seconds(card['wall_s'])}"]
    model = card.get("model")
    name = model.get("name") if isinstance(model, dict) else model
    lines += [f"- Model: {name or '?'}", f"- Sampling: `{json.dumps(card.get('sampling'), sort_keys=True)}`"]
    hw = card["hardware"]
    lines += [f"- Hardware: {hw['platform']}, {hw['cpu_count']} CPUs, {hw['memory_gib']} GiB, GPU: {hw['gpu'] or 'none'}"]
    progress = card["progress"]
    lines += [f"- Progress: {progress['trajectories']} episodes recorded, {progress['errors']} failed", ""]
    lines += ["## Environments", "", "| env | kwargs | fingerprint |", "|---|---|---|"]
    lines += [
        f"| {e['id']} | `{json.dumps((e.get('manifest') or {}).get('kwargs', {}), sort_keys=True)}` | {e['fingerprint']} |"
        for e in card["envs"]
    ] or ["| (none recorded) | | |"]
    lines += ["", "## Results", ""]
    metrics = card.get("metrics")
    if isinstance(metrics, dict) and metrics:
        keys = sorted({k for row in metrics.values() if isinstance(row, dict) for k in row if k in _METRIC_KEYS})
        lines += ["| env | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for env_id, row in metrics.items():
            if isinstance(row, dict):
                lines.append(f"| {env_id} | " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
    else:
        lines.append("No metrics were recorded (the run did not get that far).")
    lines += [""] + [f"![{p}]({p})" if p.endswith(".png") else f"[{p}]({p})" for p in card["plots"]]
    lines += ["", "## Data licenses", ""]
    licenses = card.get("licenses") or {}
    if "entries" in licenses:
        lines += ["| env | part | name | license | flags |", "|---|---|---|---|---|"]
        for e in licenses["entries"]:
            lines.append(f"| {e['env_id']} | {e['part']} | {e['name']} | {e['license'] or 'unknown'} | "
                         f"{', '.join(e['flags']) or '-'} |")
        lines.append(f"\nMixture flags: {', '.join(licenses['flags']) or 'none'}.")
    else:
        lines.append(licenses.get("error", "No envs recorded."))
    return "\n".join(lines) + "\n"


_METRIC_KEYS = {"n", "episodes", "mean_reward", "reward", "accuracy", "lenient_accuracy", "format", "pass@1", "mean_turns"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def _seconds(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "?"
