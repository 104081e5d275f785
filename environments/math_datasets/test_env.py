from __future__ import annotations

import hashlib
import json
import re
from fractions import Fraction

import pytest

import openenvs
from _require import require_module
from openenvs import ConfigError
from openenvs.envs.math_datasets import env as dataset_env
from openenvs.envs.math_datasets.env import BUNDLED, MathDatasetEnv
from openenvs.verify import extract_boxed, math_equal

GSM_KW = {"question_field": "question", "answer_field": "answer", "answer_format": "gsm8k"}


def test_gsm8k_fixture_golds_match_the_worked_solutions():
    env = openenvs.make("math/gsm8k-sample-v1")
    rows = [json.loads(line) for line in (BUNDLED / "gsm8k_sample.jsonl").read_text().splitlines()]
    assert env.num_tasks() == len(rows) == 20
    for index, row in enumerate(rows):
        task = env.get_task(index)
        # independent check: the last <<expr=value>> step of the worked solution evaluates to the gold
        expr, value = re.findall(r"<<([^=]+)=([^>]+)>>", row["answer"])[-1]
        assert Fraction(value) == Fraction(eval(expr, {"__builtins__": {}}))  # fixture arithmetic is right  # noqa: S307
        if index != 13:  # the pizza problem rounds up after its last step
            assert Fraction(task.answer) == Fraction(value), row["question"]
        env.reset(options={"index": index})
        assert env.step(env.oracle()).reward == 1.0


def test_competition_fixture_answers_match_their_boxed_solutions():
    env = openenvs.make("math/competition-sample-v1")
    rows = [json.loads(line) for line in (BUNDLED / "competition_sample.jsonl").read_text().splitlines()]
    for index, row in enumerate(rows):
        assert math_equal(extract_boxed(row["solution"]), row["answer"]), row
        env.reset(options={"index": index})
        assert env.step(env.oracle()).reward == 1.0
        assert env.task.difficulty == row["level"]
    boxed = openenvs.make("math/competition-sample-v1", answer_field="solution", answer_format="boxed", levels=[5])
    assert boxed.num_tasks() == sum(r["level"] == 5 for r in rows)


def test_manifest_records_the_hash_of_the_loaded_data():
    env = openenvs.make("math/gsm8k-sample-v1")
    before = env.spec.fingerprint
    env.reset(seed=0)
    expected = hashlib.sha256((BUNDLED / "gsm8k_sample.jsonl").read_bytes()).hexdigest()
    assert env.spec.dataset.sha256 == expected and env.spec.dataset.license == "MIT"
    assert env.spec.fingerprint != before


def test_parquet_json_and_field_mapping(tmp_path):
    pq = require_module("pyarrow.parquet")
    import pyarrow as pa

    rows = [{"q": f"What is {i} + {i}?", "a": str(2 * i), "lvl": "Level 2"} for i in range(6)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    (tmp_path / "d.json").write_text(json.dumps(rows))
    for name in ("d.parquet", "d.json"):
        env = MathDatasetEnv(
            path=str(tmp_path / name), question_field="q", answer_field="a", level_field="lvl", limit=4
        )
        obs, _ = env.reset(seed=1)
        assert env.num_tasks() == 4 and env.task.difficulty == 2
        assert obs.messages[-1].content == rows[env.index]["q"]
        assert env.step(f"\\boxed{{{2 * env.index}}}").reward == 1.0
        assert env.dataset.sha256 == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()


def test_saved_datasets_folder(tmp_path):
    datasets = require_module("datasets")
    datasets.Dataset.from_list([{"question": "1+1?", "answer": "#### 2"}]).save_to_disk(str(tmp_path / "saved"))
    env = MathDatasetEnv(path=str(tmp_path / "saved"), **GSM_KW)
    env.reset(seed=0)
    assert env.task.answer == "2" and len(env.dataset.sha256) == 64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "needs data: pass path="),
        ({"path": "/nonexistent/q.jsonl"}, "does not exist"),
        ({"path": "bundled:gsm8k_sample.jsonl", "question_field": "problem"}, "no field `problem`"),
        ({"path": "bundled:gsm8k_sample.jsonl", "levels": [3], "level_field": "level"}, "no usable rows"),
    ],
)
def test_data_errors_say_how_to_fix(kwargs, match):
    env = MathDatasetEnv(**kwargs)
    with pytest.raises(ConfigError, match=match):
        env.reset(seed=0)


def test_missing_hub_dataset_offline_points_to_a_file(monkeypatch):
    # stand-in for "no network": CI has no route to the Hub, but a developer machine may
    monkeypatch.setattr(dataset_env, "_hub_reachable", lambda timeout=3.0: False)
    env = openenvs.make("math/gsm8k-v1")
    with pytest.raises(ConfigError, match=r"to_json\('data.jsonl'\).*path='data.jsonl'"):
        env.reset(seed=0)


def test_constructor_does_no_io_and_bad_template():
    MathDatasetEnv(path="/nonexistent/file.jsonl")  # nothing is read yet
    with pytest.raises(ConfigError, match="question"):
        MathDatasetEnv(path="x.jsonl", prompt_template="Solve it.")
