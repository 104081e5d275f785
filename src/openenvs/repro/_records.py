"""Finding the records of a run: trajectory files and the manifests the envs were made from.

A run folder (``openenvs eval --out``, ``openenvs train``, ``make demo``) holds one or more
``trajectories*.jsonl`` files, possibly in sub-folders (training rollouts, held-out evaluations),
and next to each a ``manifests.json``: for every env fingerprint in the file, the full manifest
and the package versions that were hashed into it. With them a mismatch can be explained field
by field instead of as two different hashes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .._spec import EnvSpec, package_version

__all__ = [
    "MANIFESTS_FILE",
    "find_trajectory_files",
    "fingerprint_inputs",
    "load_manifests",
    "read_records",
    "record_answers",
    "record_manifest",
]

MANIFESTS_FILE = "manifests.json"


def fingerprint_inputs(spec: EnvSpec) -> dict[str, Any]:
    """Exactly what `EnvSpec.fingerprint` hashes: the manifest minus prose, plus the package versions."""
    payload: dict[str, Any] = spec.model_dump(mode="json", exclude={"description", "tags", "sources"})
    payload["versions"] = {d: package_version(d) for d in ["openenvs", *sorted(spec.packages)]}
    return payload


def find_trajectory_files(path: str | Path) -> list[Path]:
    """The trajectory files of a run: `path` itself when it is a file, else every ``trajectories*.jsonl`` below it."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist; pass a trajectories .jsonl file or a run folder.")
    return sorted(p for p in path.rglob("trajectories*.jsonl") if p.is_file())


def load_manifests(trajectory_file: Path) -> dict[str, dict[str, Any]]:
    """The recorded manifests next to a trajectory file, by fingerprint (empty when none were recorded)."""
    file = trajectory_file.parent / MANIFESTS_FILE
    if not file.exists():
        return {}
    data = json.loads(file.read_text())
    return dict(data) if isinstance(data, dict) else {}


def record_manifest(out_dir: str | Path, spec: EnvSpec) -> None:
    """Add `spec`'s fingerprint inputs to ``out_dir/manifests.json`` (once per fingerprint)."""
    file = Path(out_dir) / MANIFESTS_FILE
    data: dict[str, Any] = json.loads(file.read_text()) if file.exists() else {}
    fingerprint = spec.fingerprint
    if fingerprint in data:
        return
    data[fingerprint] = {"id": spec.id, "inputs": fingerprint_inputs(spec), "manifest": spec.model_dump(mode="json")}
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(file)


def read_records(file: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The `Trajectory` records of a file, each with the extra keys it carries.

    Training rollouts add ``step`` and ``policy_version``; a torn last line is skipped.
    """
    from ..rollout import Trajectory

    known = set(Trajectory.model_fields)
    with file.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn write
            row = json.loads(line)
            extra = {k: row.pop(k) for k in list(row) if k not in known}
            yield Trajectory.model_validate(row), extra


def record_answers(
    out_dir: str | Path,
    rows: Sequence[dict[str, Any]],
    answers: Sequence[str],
    *,
    model: Any,
    max_tokens: int,
) -> Path:
    """Record greedy single-turn answers (e.g. a held-out evaluation) as trajectories that `reproduce` replays.

    Each row (``prompt``, ``env_id``, ``env_kwargs`` JSON, ``env_seed``, as `openenvs.trl.make_rows`
    writes them) is played again through its env with its answer, so the record holds exactly what
    the env returned. `model` is the `ModelInfo` of the model that answered.
    """
    import hashlib
    from datetime import datetime, timezone

    from .._api import make
    from ..rollout import SamplingRecord, StepRecord, Trajectory, TrajectoryStore
    from ..rollout._record import collect_versions, to_json

    store = TrajectoryStore(out_dir, parquet=False)
    store.open({"model": model.name, "revision": model.revision, "backend": model.backend,
                "sampling": {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens, "seed": None,
                             "stop": [], "extra": {}}, "max_turns": 1})
    envs: dict[str, Any] = {}
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        for row, answer in zip(rows, answers, strict=True):
            kwargs = json.loads(row["env_kwargs"]) if isinstance(row["env_kwargs"], str) else dict(row["env_kwargs"])
            key = row["env_id"] + to_json(kwargs)
            env = envs.get(key) or envs.setdefault(key, make(row["env_id"], **kwargs))
            obs, _ = env.reset(seed=int(row["env_seed"]))
            result = env.step(answer)
            info = result.info
            source = info.get("source") if isinstance(info.get("source"), dict) else {}
            blob = json.dumps([row["env_id"], kwargs, int(row["env_seed"]), 0], sort_keys=True, default=str)
            messages = [m.to_dict() for m in obs.messages] + [{"role": "assistant", "content": answer}]
            messages += [m.to_dict() for m in result.observation.messages]
            step = StepRecord(turn=0, text=answer, prompt_token_ids=None, completion_token_ids=None, logprobs=None,
                              finish_reason=None, prompt_tokens=0, completion_tokens=0, reward=float(result.reward),
                              terminated=bool(result.terminated), truncated=bool(result.truncated),
                              info=to_json(info), generate_s=0.0)
            store.add(Trajectory(
                id=hashlib.sha256(blob.encode()).hexdigest()[:20], env_id=row["env_id"], env_kwargs=to_json(kwargs),
                fingerprint=env.spec.fingerprint, seed=int(row["env_seed"]), sample=0, messages=messages,
                tools=to_json([t.to_openai() for t in obs.tools]), steps=[step], rewards=[step.reward],
                reward=step.reward, correct=info.get("correct"), difficulty=source.get("difficulty"), num_turns=1,
                terminated=step.terminated, truncated=step.truncated, prompt_tokens=0, completion_tokens=0,
                model=model, sampling=SamplingRecord(temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=None,
                                                     stop=[], extra="{}"),
                versions=collect_versions(model), started_at=started, wall_s=0.0,
            ))  # fmt: skip
            store.add_manifest(env.spec)
    finally:
        store.close()
        for env in envs.values():
            env.close()
    return Path(out_dir) / "trajectories.jsonl"
