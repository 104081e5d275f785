"""`openenvs reproduce`: replay a recorded run, across processes and folders, and name what differs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openenvs.repro import reproduce
from openenvs.rollout import FunctionPolicy, Runner, SamplingParams, make_episodes


def _answer(messages, tools):
    """A deterministic policy that is right on some tasks and wrong on others."""
    text = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
    return f"\\boxed{{{len(text) % 7}}}"


def _run(out: Path, env_ids, n=4, samples=1, env_kwargs=None):
    runner = Runner(FunctionPolicy(_answer), sampling=SamplingParams(temperature=0.0, max_tokens=16), out_dir=out,
                    parquet=False)
    result = runner.run(make_episodes(env_ids, n, samples=samples, env_kwargs=env_kwargs))
    assert result.trajectories and not result.errors
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "eval"
    _run(out, ["math/arithmetic-v1", "tools/calculator-v1", "code/stdio-v1"], n=3)
    return out


def _cli(*args, cwd):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "openenvs.cli", "reproduce", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def test_a_run_reproduces_in_another_process_and_folder(run_dir, tmp_path):
    assert (run_dir / "manifests.json").exists()
    copy = tmp_path / "elsewhere" / "copied-run"
    shutil.copytree(run_dir, copy)
    other_cwd = tmp_path / "cwd"
    other_cwd.mkdir()
    out = _cli(copy, cwd=other_cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reproduced: 9/9 episodes identical" in out.stdout
    report = reproduce(copy)
    assert report.ok and {s.env_id for s in report.summaries()} == {"math/arithmetic-v1", "tools/calculator-v1",
                                                                     "code/stdio-v1"}


def _edit_records(path: Path, edit) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(edit(row)) + "\n" for row in rows))


def test_a_forged_reward_is_caught_and_named(run_dir, tmp_path):
    copy = tmp_path / "forged"
    shutil.copytree(run_dir, copy)

    def forge(row):
        if row["env_id"] == "math/arithmetic-v1":
            row["steps"][0]["reward"] = 1.0 - row["steps"][0]["reward"]
        return row

    _edit_records(copy / "trajectories.jsonl", forge)
    out = _cli(copy, cwd=tmp_path)
    assert out.returncode == 1
    assert "NOT reproduced" in out.stdout and "reward" in out.stdout
    report = reproduce(copy)
    rows = {s.env_id: s for s in report.summaries()}
    assert rows["math/arithmetic-v1"].differing == 3 and rows["tools/calculator-v1"].identical == 3


def test_a_changed_kwarg_is_named_in_the_mismatch_report(tmp_path):
    out = tmp_path / "kw"
    _run(out, ["math/arithmetic-v1"], n=2, env_kwargs={"difficulty": 2})

    def bump(row):
        row["env_kwargs"] = json.dumps({"difficulty": 3})
        return row

    _edit_records(out / "trajectories.jsonl", bump)
    report = reproduce(out)
    assert not report.ok
    drift = report.summaries()[0].drift
    assert any(d.startswith("kwargs.difficulty: 2 -> 3") for d in drift), drift


def test_a_changed_data_file_is_named(tmp_path):
    data = tmp_path / "problems.jsonl"
    shutil.copy(Path(__import__("openenvs.envs.math_datasets.env").envs.math_datasets.env.__file__).parent
                / "data" / "gsm8k_sample.jsonl", data)
    out = tmp_path / "data-run"
    _run(out, ["math/gsm8k-v1"], n=2, env_kwargs={"path": str(data)})
    assert reproduce(out).ok
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:-1]) + "\n")  # one problem fewer: seeds map to other tasks
    report = reproduce(out)
    drift = report.summaries()[0].drift
    assert any(d.startswith("dataset.sha256:") for d in drift), drift
    assert not report.ok and report.summaries()[0].differing == 2


def test_a_changed_package_version_is_named_and_fails_only_with_strict(run_dir, tmp_path):
    copy = tmp_path / "versions"
    shutil.copytree(run_dir, copy)
    manifests = json.loads((copy / "manifests.json").read_text())
    for entry in manifests.values():
        entry["inputs"]["versions"]["openenvs"] = "0.0.1"
    (copy / "manifests.json").write_text(json.dumps(manifests))

    # the record names a fingerprint made under another openenvs version
    renamed = {("f" + fp[1:]): entry for fp, entry in manifests.items()}
    (copy / "manifests.json").write_text(json.dumps(renamed))
    _edit_records(copy / "trajectories.jsonl", lambda row: {**row, "fingerprint": "f" + row["fingerprint"][1:]})
    report = reproduce(copy)
    assert report.ok  # replay identical: drift only
    drift = report.summaries()[0].drift
    assert any(d.startswith("package openenvs: 0.0.1 -> ") for d in drift), drift
    out = _cli(copy, "--strict", cwd=tmp_path)
    assert out.returncode == 1 and "package openenvs" in out.stdout


def test_rescore_ignores_changed_feedback_but_not_rewards(run_dir, tmp_path):
    copy = tmp_path / "feedback"
    shutil.copytree(run_dir, copy)

    def reword(row):
        if row["env_id"] == "math/arithmetic-v1":
            row["messages"][1]["content"] = "a reworded prompt"
        return row

    _edit_records(copy / "trajectories.jsonl", reword)
    assert not reproduce(copy).ok
    assert reproduce(copy, rescore=True).ok


def test_nothing_to_reproduce_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No trajectories"):
        reproduce(tmp_path)


def test_training_rollouts_and_recorded_answers_reproduce(tmp_path):
    """Records with the training keys (step, policy_version) and answers recorded by `record_answers` replay."""
    from openenvs.repro._records import record_answers
    from openenvs.rollout import ModelInfo
    from openenvs.trl import make_rows

    rows = make_rows([("math/arithmetic-v1", {"difficulty": 2})], n=4, seed=3)
    answers = ["\\boxed{1}", "no idea", "\\boxed{-3}", "\\boxed{7}"]
    file = record_answers(tmp_path / "heldout", rows, answers, model=ModelInfo(name="m", backend="hf"), max_tokens=8)
    assert sum(1 for _ in file.open()) == 4
    report = reproduce(tmp_path)
    assert report.ok and report.summaries()[0].identical == 4
    rollouts = tmp_path / "rollouts"
    rollouts.mkdir()
    lines = [{**json.loads(line), "step": 1, "policy_version": 1} for line in file.read_text().splitlines()]
    (rollouts / "trajectories.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines))
    assert reproduce(rollouts).ok
