"""Finding the records of a run: trajectory files and the manifests the envs were made from.

A run folder (``openenvs eval --out``, ``openenvs train``, ``make demo``) holds one or more
``trajectories*.jsonl`` files, possibly in sub-folders (training rollouts, held-out evaluations),
and next to each a ``manifests.json``: for every env fingerprint in the file, the full manifest
and the package versions that were hashed into it. With them a mismatch can be explained field
by field instead of as two different hashes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._spec import EnvSpec, package_version

__all__ = ["MANIFESTS_FILE", "find_trajectory_files", "fingerprint_inputs", "load_manifests", "record_manifest"]

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
