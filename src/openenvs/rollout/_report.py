"""Eval summaries (mean reward, pass@k, per difficulty) and the PNG + HTML report."""

from __future__ import annotations

import base64
import html
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._record import Trajectory

__all__ = ["pass_at_k", "summarize", "write_report"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate from `n` samples of which `c` are correct (Chen et al., 2021).

    Example:
        >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
        (0.25, 1.0, 0.0)
    """
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1 (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def _group_stats(trajs: Sequence[Trajectory]) -> dict[str, Any]:
    rewards = [t.reward for t in trajs]
    judged = [t.correct for t in trajs if t.correct is not None]
    by_task: dict[tuple[str, int], list[Trajectory]] = defaultdict(list)
    for t in trajs:
        by_task[(t.env_kwargs, t.seed)].append(t)
    k = min(len(v) for v in by_task.values())
    row: dict[str, Any] = {
        "episodes": len(trajs),
        "tasks": len(by_task),
        "mean_reward": sum(rewards) / len(rewards),
        "std_reward": (sum((r - sum(rewards) / len(rewards)) ** 2 for r in rewards) / len(rewards)) ** 0.5,
        "accuracy": sum(judged) / len(judged) if judged else None,
        "mean_turns": sum(t.num_turns for t in trajs) / len(trajs),
        "mean_completion_tokens": sum(t.completion_tokens for t in trajs) / len(trajs),
        "completion_tokens": sum(t.completion_tokens for t in trajs),
        "prompt_tokens": sum(t.prompt_tokens for t in trajs),
        "episode_wall_s": sum(t.wall_s for t in trajs) / len(trajs),
        "samples": k,
    }
    if judged:
        for kk in sorted({1, k}):
            row[f"pass@{kk}"] = sum(
                pass_at_k(len(v), sum(bool(t.correct) for t in v), kk) for v in by_task.values()
            ) / len(by_task)
    return row


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, Any]:
    """Summary rows per environment and per (environment, difficulty).

    Returns:
        ``{"envs": {env_id: stats}, "difficulty": {env_id: {level: stats}}, "fingerprints": {...},
        "model": {...}}`` where stats hold episodes, mean/std reward, accuracy, pass@1 and pass@k
        (k = samples per task), mean turns and tokens.
    """
    by_env: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        by_env[t.env_id].append(t)
    out: dict[str, Any] = {"envs": {}, "difficulty": {}, "fingerprints": {}}
    for env_id, trajs in by_env.items():
        out["envs"][env_id] = _group_stats(trajs)
        out["fingerprints"][env_id] = sorted({t.fingerprint for t in trajs})
        levels: dict[int, list[Trajectory]] = defaultdict(list)
        for t in trajs:
            if t.difficulty is not None:
                levels[t.difficulty].append(t)
        if levels:
            out["difficulty"][env_id] = {level: _group_stats(levels[level]) for level in sorted(levels)}
    if trajectories:
        first = trajectories[0]
        out["model"] = first.model.model_dump()
        out["sampling"] = first.sampling.model_dump(exclude={"seed"})
        out["versions"] = first.versions.model_dump()
    return out


def _plot(trajectories: Sequence[Trajectory], summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    by_env: dict[str, list[float]] = defaultdict(list)
    for t in trajectories:
        by_env[t.env_id].append(t.reward)
    values = [r for rs in by_env.values() for r in rs]
    low, high = min(0.0, min(values)), max(1.0, max(values))
    left.hist(list(by_env.values()), bins=10, range=(low, high), label=list(by_env))
    left.set_title("Reward distribution")
    left.set_xlabel("episode reward")
    left.set_ylabel("episodes")
    left.legend(fontsize=7)
    width = 0.8 / max(1, len(summary["envs"]))
    ticks: set[int] = set()
    for i, env_id in enumerate(summary["envs"]):
        levels = summary["difficulty"].get(env_id) or {0: summary["envs"][env_id]}
        xs = [level + (i - (len(summary["envs"]) - 1) / 2) * width for level in levels]
        ys = [row["accuracy"] if row["accuracy"] is not None else row["mean_reward"] for row in levels.values()]
        bars = right.bar(xs, ys, width=width, label=env_id)
        right.bar_label(bars, labels=[f"{y:.2f}" for y in ys], fontsize=7)
        ticks.update(levels)
    right.set_xticks(sorted(ticks))
    right.set_title("Accuracy by difficulty")
    right.set_xlabel("difficulty level")
    right.set_ylabel("accuracy (mean reward if no verdict)")
    right.set_ylim(0, 1.1)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


_COLUMNS = ["episodes", "mean_reward", "accuracy", "pass@1", "mean_turns", "mean_completion_tokens", "episode_wall_s"]


def _html_table(rows: dict[str, dict[str, Any]], first: str) -> str:
    cols = list(_COLUMNS)
    extra = sorted({c for r in rows.values() for c in r if c.startswith("pass@") and c != "pass@1"})
    cols[4:4] = extra
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [first, *cols])
    body = "".join(
        "<tr>" + f"<td>{html.escape(str(name))}</td>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>"
        for name, r in rows.items()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(
    trajectories: Sequence[Trajectory],
    out_dir: str | Path,
    *,
    wall_s: float | None = None,
    title: str = "openenvs eval",
) -> dict[str, Path]:
    """Write summary.json, report.png (reward distribution, accuracy by difficulty) and report.html.

    Returns:
        The paths written, by kind: ``{"summary": ..., "png": ..., "html": ...}``.
    """
    if not trajectories:
        raise ValueError("no finished trajectories to report on; check errors.jsonl in the output folder")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(trajectories)
    summary["wall_s"] = wall_s
    paths = {"summary": out / "summary.json", "png": out / "report.png", "html": out / "report.html"}
    paths["summary"].write_text(json.dumps(summary, indent=2, default=str) + "\n")
    _plot(trajectories, summary, paths["png"])
    image = base64.b64encode(paths["png"].read_bytes()).decode()
    sections = [f"<h2>Environments</h2>{_html_table(summary['envs'], 'env')}"]
    for env_id, levels in summary["difficulty"].items():
        if len(levels) > 1:
            sections.append(f"<h2>{html.escape(env_id)} by difficulty</h2>{_html_table(levels, 'difficulty')}")
    example = trajectories[0]
    convo = "".join(
        f"<p><b>{html.escape(m['role'])}</b>: {html.escape(str(m.get('content') or m.get('tool_calls')))}</p>"
        for m in example.messages
    )
    provenance = {
        "model": summary["model"],
        "sampling": summary["sampling"],
        "versions": summary["versions"],
        "fingerprints": summary["fingerprints"],
        "wall_s": wall_s,
    }
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}
pre{{background:#f6f6f6;padding:1em;overflow:auto}}</style></head><body>
<h1>{html.escape(title)}</h1>{"".join(sections)}
<h2>Plots</h2><img src="data:image/png;base64,{image}" alt="reward distribution and accuracy by difficulty">
<h2>Provenance</h2><pre>{html.escape(json.dumps(provenance, indent=2, default=str))}</pre>
<h2>Example episode ({html.escape(example.env_id)}, seed {example.seed}, reward {example.reward:.3f})</h2>{convo}
</body></html>
"""
    paths["html"].write_text(page)
    return paths
