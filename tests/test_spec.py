from __future__ import annotations

import json
import subprocess
import sys

import openenvs
from openenvs import DatasetInfo, EnvSpec, parse_env_id


def test_parse_env_id_grammar():
    assert parse_env_id("math/gsm8k-hard-v1") == ("math", "gsm8k-hard", 1)
    assert parse_env_id("gsm8k-v12") == (None, "gsm8k", 12)
    assert parse_env_id("math/gsm8k") == ("math", "gsm8k", None)


def test_fingerprint_is_stable_across_processes():
    here = openenvs.make("math/arithmetic-v1", difficulty=3).spec.fingerprint
    code = "import openenvs; print(openenvs.make('math/arithmetic-v1', difficulty=3).spec.fingerprint)"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there and len(here) == 16


def test_fingerprint_changes_with_kwargs_data_and_versions():
    spec = openenvs.spec("math/arithmetic-v1")
    assert spec.with_kwargs(difficulty=2).fingerprint != spec.fingerprint
    with_data = spec.model_copy(update={"dataset": DatasetInfo(name="x", sha256="a" * 64)})
    other_data = spec.model_copy(update={"dataset": DatasetInfo(name="x", sha256="b" * 64)})
    assert with_data.fingerprint != other_data.fingerprint
    with_pkg = spec.model_copy(update={"packages": ["pydantic"]})
    assert with_pkg.fingerprint != spec.fingerprint
    # prose does not change behaviour, so it does not change the fingerprint
    assert spec.model_copy(update={"description": "other words"}).fingerprint == spec.fingerprint


def test_spec_round_trips_json():
    spec = openenvs.spec("math/arithmetic-v1")
    again = EnvSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec and again.fingerprint == spec.fingerprint
    assert spec.namespace == "math" and spec.name == "arithmetic" and spec.version == 1


def test_registry_json_entries_are_valid_and_sorted_unique():
    from openenvs._registry import builtin_registry_path

    data = json.loads(builtin_registry_path().read_text())
    ids = [EnvSpec.model_validate(e).id for e in data["envs"]]
    assert len(ids) == len(set(ids))
