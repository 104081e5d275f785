"""`export`: recorded trajectories as training data for TRL's SFT, DPO and GRPO trainers.

- ``sft``: one row per episode, ``{"messages": [...]}`` (the whole conversation, tools included
  as a JSON column), the format `trl sft` reads; ``min_reward`` keeps only good episodes.
- ``dpo``: for each task (env, kwargs, seed) attempted more than once with different rewards,
  the best and the worst attempt as ``{"prompt", "chosen", "rejected"}`` conversational rows.
- ``grpo-dataset``: the tasks' opening messages as ``prompt`` plus the columns the openenvs reward
  functions read (``env_id``, ``env_kwargs``, ``env_seed``), so ``trl grpo --dataset_name DIR
  --reward_funcs openenvs.trl.correct_reward`` trains on the env with no Python written.

Every row keeps its provenance (env id, fingerprint, seed, model, sampling, versions) as a JSON
string in a ``provenance`` column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from ._records import find_trajectory_files, read_records

__all__ = ["ExportFormat", "export_trajectories"]

ExportFormat = Literal["sft", "dpo", "grpo-dataset"]


def _provenance(record: Any) -> str:
    return json.dumps(
        {
            "trajectory_id": record.id,
            "env_id": record.env_id,
            "env_kwargs": json.loads(record.env_kwargs or "{}"),
            "fingerprint": record.fingerprint,
            "seed": record.seed,
            "sample": record.sample,
            "reward": record.reward,
            "model": record.model.model_dump(mode="json"),
            "sampling": record.sampling.model_dump(mode="json"),
            "versions": record.versions.model_dump(mode="json"),
        },
        sort_keys=True,
    )


def _opening(record: Any) -> list[dict[str, Any]]:
    first = next((i for i, m in enumerate(record.messages) if m.get("role") == "assistant"), len(record.messages))
    return [_clean(m) for m in record.messages[:first]]


def _clean(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if v is not None}


def _records(path: str | Path) -> list[Any]:
    out: list[Any] = []
    for file in find_trajectory_files(path):
        out.extend(record for record, _ in read_records(file))
    if not out:
        raise FileNotFoundError(f"No trajectories under {path}; pass a run folder made by `openenvs eval` or `train`.")
    return out


def _sft(records: list[Any], min_reward: float | None) -> list[dict[str, Any]]:
    return [
        {"messages": [_clean(m) for m in r.messages], "tools": r.tools, "provenance": _provenance(r)}
        for r in records
        if min_reward is None or r.reward >= min_reward
    ]


def _dpo(records: list[Any]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, int], list[Any]] = {}
    for r in records:
        groups.setdefault((r.env_id, r.env_kwargs, r.seed), []).append(r)
    rows = []
    for attempts in groups.values():
        best = max(attempts, key=lambda r: (r.reward, -r.sample))
        worst = min(attempts, key=lambda r: (r.reward, r.sample))
        if best.reward <= worst.reward:
            continue  # no preference to learn from
        prompt = _opening(best)
        rows.append(
            {
                "prompt": prompt,
                "chosen": [_clean(m) for m in best.messages[len(prompt) :]],
                "rejected": [_clean(m) for m in worst.messages[len(prompt) :]],
                "provenance": json.dumps({"chosen": json.loads(_provenance(best)), "rejected": json.loads(_provenance(worst))}),
            }
        )
    return rows


def _grpo(records: list[Any]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str, int]] = set()
    rows = []
    for r in records:
        key = (r.env_id, r.env_kwargs, r.seed)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "prompt": _opening(r),
                "env_id": r.env_id,
                "env_kwargs": r.env_kwargs,
                "env_seed": r.seed,
                "provenance": _provenance(r),
            }
        )
    return rows


def export_trajectories(
    path: str | Path, out: str | Path, *, format: ExportFormat, min_reward: float | None = None
) -> Path:
    """Write the trajectories under `path` to ``out/train.jsonl`` in `format`; return that file.

    `out` is a folder that ``datasets.load_dataset(out)`` (and TRL's ``--dataset_name out``) reads.
    """
    records = _records(path)
    if format == "sft":
        rows = _sft(records, min_reward)
    elif format == "dpo":
        rows = _dpo(records)
    elif format == "grpo-dataset":
        rows = _grpo(records)
    else:
        raise ValueError(f"--format must be sft, dpo or grpo-dataset; got {format!r}")
    if not rows:
        hint = "each task needs 2+ samples with different rewards (eval --samples 4)" if format == "dpo" else "lower --min-reward"
        raise ValueError(f"No {format} rows could be made from {path}: {hint}.")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "train.jsonl"
    with file.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    return file
