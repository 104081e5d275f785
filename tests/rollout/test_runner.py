"""The rollout runner with scripted policies: trajectories, provenance, files, resume, timeouts, tools."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

import openenvs
from _require import require_module
from openenvs import ConfigError, Message, ToolCall
from openenvs.rollout import (
    FunctionPolicy,
    Runner,
    SamplingParams,
    load_trajectories,
    make_episodes,
    pass_at_k,
    render_text_tools,
    summarize,
    write_report,
)

ARITH = "math/arithmetic-v1"


def solve(messages, tools):
    """An oracle for math/arithmetic-v1: evaluate the expression in the prompt (digits and + - * only)."""
    expr = re.search(r"What is (.+)\?", messages[-1].content).group(1)
    assert re.fullmatch(r"[\d +*-]+", expr)
    return f"The answer is \\boxed{{{eval(expr)}}}."  # noqa: S307 - digits and operators only, checked above


def test_oracle_episodes_carry_full_provenance(tmp_path):
    sampling = SamplingParams(temperature=0.7, max_tokens=32, seed=5)
    result = Runner(FunctionPolicy(solve, name="oracle"), sampling=sampling, out_dir=tmp_path).run(
        make_episodes(ARITH, 6, env_kwargs={"difficulty": 3})
    )
    assert result.errors == [] and len(result.trajectories) == 6
    expected_fp = openenvs.make(ARITH, difficulty=3).spec.fingerprint
    for i, t in enumerate(result.trajectories):
        assert t.reward == 1.0 and t.correct is True and t.rewards == [1.0]
        assert t.seed == i and t.difficulty == 3 and json.loads(t.env_kwargs) == {"difficulty": 3}
        assert t.fingerprint == expected_fp
        assert t.model.name == "oracle" and t.model.backend == "function"
        assert t.sampling.temperature == 0.7 and t.sampling.max_tokens == 32 and t.sampling.seed is not None
        assert t.versions.openenvs == openenvs.__version__ and t.versions.python
        assert [m["role"] for m in t.messages] == ["system", "user", "assistant"]
        assert t.terminated and not t.truncated and t.num_turns == 1
    # each episode gets its own, reproducible sampling seed
    seeds = [t.sampling.seed for t in result.trajectories]
    assert len(set(seeds)) == 6
    again = Runner(FunctionPolicy(solve, name="oracle"), sampling=sampling).run(
        make_episodes(ARITH, 6, env_kwargs={"difficulty": 3})
    )
    assert [t.sampling.seed for t in again.trajectories] == seeds
    assert [t.messages for t in again.trajectories] == [t.messages for t in result.trajectories]


def test_files_load_with_datasets_and_resume_skips_finished(tmp_path):
    datasets = require_module("datasets")
    policy = FunctionPolicy(solve, name="oracle")
    first = Runner(policy, out_dir=tmp_path).run(make_episodes(ARITH, 4))
    assert first.skipped == 0
    calls = []

    def counting(messages, tools):
        calls.append(1)
        return solve(messages, tools)

    second = Runner(FunctionPolicy(counting, name="oracle"), out_dir=tmp_path).run(make_episodes(ARITH, 7))
    assert second.skipped == 4 and len(calls) == 3
    assert [t.seed for t in second.trajectories] == list(range(7))
    assert len(load_trajectories(tmp_path)) == 7
    js = datasets.load_dataset("json", data_files=str(tmp_path / "trajectories.jsonl"), split="train")
    pq = datasets.load_dataset("parquet", data_files=str(tmp_path / "parquet" / "*.parquet"), split="train")
    assert js.num_rows == pq.num_rows == 7
    assert sorted(pq["seed"]) == list(range(7))
    assert pq[0]["steps"][0]["reward"] == 1.0 and pq[0]["model"]["name"] == "oracle"
    assert set(js.column_names) == set(pq.column_names)


def test_torn_last_line_is_repaired_and_parquet_catches_up(tmp_path):
    pa = require_module("pyarrow.parquet")
    Runner(FunctionPolicy(solve), out_dir=tmp_path, parquet=False).run(make_episodes(ARITH, 3))
    with (tmp_path / "trajectories.jsonl").open("a") as fh:
        fh.write('{"id": "torn", "env_id": "math/ari')  # a crash mid-write
    result = Runner(FunctionPolicy(solve), out_dir=tmp_path).run(make_episodes(ARITH, 4))
    assert result.skipped == 3 and len(result.trajectories) == 4
    lines = (tmp_path / "trajectories.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["env_id"] == ARITH for line in lines)
    rows = sum(pa.read_table(p).num_rows for p in (tmp_path / "parquet").glob("part-*.parquet"))
    assert rows == 4  # the 3 JSONL-only records were written into Parquet on resume


def test_resume_with_other_model_or_sampling_is_refused(tmp_path):
    Runner(FunctionPolicy(solve, name="a"), out_dir=tmp_path).run(make_episodes(ARITH, 1))
    with pytest.raises(ConfigError, match="different model"):
        Runner(FunctionPolicy(solve, name="b"), out_dir=tmp_path).run(make_episodes(ARITH, 1))
    with pytest.raises(ConfigError, match="sampling"):
        Runner(FunctionPolicy(solve, name="a"), sampling=SamplingParams(temperature=0.1), out_dir=tmp_path).run(
            make_episodes(ARITH, 1)
        )


def test_timeouts_and_failures_are_recorded_and_retried_on_rerun(tmp_path):
    async def slow(messages, tools):
        await asyncio.sleep(30)
        return "too late"

    result = Runner(FunctionPolicy(slow, name="p"), out_dir=tmp_path, episode_timeout_s=0.2, retries=0).run(
        make_episodes(ARITH, 2)
    )
    assert result.trajectories == [] and [e["status"] for e in result.errors] == ["timeout", "timeout"]
    assert len((tmp_path / "errors.jsonl").read_text().splitlines()) == 2
    rerun = Runner(FunctionPolicy(solve, name="p"), out_dir=tmp_path).run(make_episodes(ARITH, 2))
    assert rerun.skipped == 0 and len(rerun.trajectories) == 2 and rerun.errors == []


def test_a_failed_try_is_retried():
    state = {"calls": 0}

    def flaky(messages, tools):
        state["calls"] += 1
        if state["calls"] == 1:
            raise ConnectionError("server went away")
        return solve(messages, tools)

    result = Runner(FunctionPolicy(flaky), retries=1, concurrency=1).run(make_episodes(ARITH, 2))
    assert len(result.trajectories) == 2 and result.errors == [] and state["calls"] == 3


def test_concurrency_is_bounded():
    live = {"now": 0, "peak": 0}

    async def tracked(messages, tools):
        live["now"] += 1
        live["peak"] = max(live["peak"], live["now"])
        await asyncio.sleep(0.01)
        live["now"] -= 1
        return solve(messages, tools)

    result = Runner(FunctionPolicy(tracked), concurrency=5).run(make_episodes(ARITH, 40))
    assert len(result.trajectories) == 40 and live["peak"] == 5


def test_multi_turn_tool_episode_parses_text_calls(tmp_path):
    """calculator: a <tool_call> in plain text is parsed, run by the env, and its result fed back."""
    seen: list[list[Message]] = []

    def agent(messages, tools):
        seen.append(list(messages))
        assert [t.name for t in tools] == ["calculate"]
        if messages[-1].role != "tool":
            return 'Let me compute. <tool_call>{"name": "calculate", "arguments": {"expression": "6 * 7"}}</tool_call>'
        return f"So it is \\boxed{{{messages[-1].content}}}."

    result = Runner(FunctionPolicy(agent), out_dir=tmp_path).run(make_episodes("tools/calculator-v1", 1))
    (t,) = result.trajectories
    roles = [m["role"] for m in t.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    tool_msg = next(m for m in t.messages if m["role"] == "tool")
    assert tool_msg["content"] == "42"
    call = next(m for m in t.messages if m.get("tool_calls"))
    assert call["tool_calls"][0]["function"]["name"] == "calculate"
    assert call["content"].startswith("Let me compute.")  # the model's own text is kept
    assert t.num_turns == 2 and len(t.rewards) == 2 and t.terminated
    assert json.loads(t.tools)[0]["function"]["name"] == "calculate"


def test_tool_parser_none_keeps_plain_text():
    def agent(messages, tools):
        return '<tool_call>{"name": "calculate", "arguments": {"expression": "1+1"}}</tool_call>'

    result = Runner(FunctionPolicy(agent), tool_parser="none").run(
        make_episodes("tools/calculator-v1", 1, env_kwargs={"max_turns": 2})
    )
    (t,) = result.trajectories
    assert all("tool_calls" not in m for m in t.messages if m["role"] == "assistant")


def test_structured_tool_calls_from_policy_are_used_directly():
    def agent(messages, tools):
        if messages[-1].role != "tool":
            return Message(
                role="assistant", content=None, tool_calls=[ToolCall.create("calculate", {"expression": "2+2"})]
            )
        return f"\\boxed{{{messages[-1].content}}}"

    (t,) = Runner(FunctionPolicy(agent)).run(make_episodes("tools/calculator-v1", 1)).trajectories
    assert next(m for m in t.messages if m["role"] == "tool")["content"] == "4"


def test_render_text_tools_keeps_model_text_and_describes_tools():
    call = ToolCall.create("calculate", {"expression": "1+2"})
    spec = openenvs.ToolSpec(name="calculate", description="Evaluate.")
    out = render_text_tools(
        [
            Message(role="system", content="Be brief."),
            Message(role="user", content="1+2?"),
            Message(role="assistant", content=None, tool_calls=[call]),
            Message(role="tool", content="3", tool_call_id="call_0", name="calculate"),
        ],
        [spec],
    )
    assert out[0]["content"].startswith("Be brief.") and '"calculate"' in out[0]["content"]
    assert "tool_calls" not in out[2] and '"name": "calculate"' in out[2]["content"]
    assert out[3]["role"] == "tool" and out[3]["content"] == "3"
    raw = 'ok <tool_call>{"name": "calculate", "arguments": {"expression": "1+2"}}</tool_call>'
    kept = render_text_tools([Message(role="assistant", content=raw, tool_calls=[call])], [])
    assert kept == [{"role": "assistant", "content": raw}]


def test_pass_at_k_and_summary(tmp_path):
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(2, 3, 1)

    # seeds 0,2 always right; odd seeds right only on sample 0
    def policy(messages, tools):
        return solve(messages, tools)

    trajs = Runner(FunctionPolicy(policy)).run(make_episodes(ARITH, 4, samples=2)).trajectories
    for t in trajs:
        if t.seed % 2 and t.sample == 1:
            t.correct, t.reward = False, 0.0
    for level in (1, 2):
        trajs += (
            Runner(FunctionPolicy(policy))
            .run(make_episodes(ARITH, 2, samples=2, env_kwargs={"difficulty": level + 1}))
            .trajectories
        )
    summary = summarize(trajs)
    row = summary["envs"][ARITH]
    assert row["episodes"] == 16 and row["samples"] == 2
    assert row["pass@1"] == pytest.approx((2 * 1.0 + 2 * 0.5 + 4 * 1.0) / 8)
    assert row["pass@2"] == pytest.approx(1.0)
    assert set(summary["difficulty"][ARITH]) == {1, 2, 3}
    assert summary["difficulty"][ARITH][1]["accuracy"] == pytest.approx(6 / 8)
    paths = write_report(trajs, tmp_path, wall_s=1.5)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert "pass@2" in page and ARITH in page and "data:image/png;base64," in page and "fingerprints" in page
    assert json.loads(paths["summary"].read_text())["envs"][ARITH]["episodes"] == 16


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        Runner(FunctionPolicy(solve), concurrency=0)
    with pytest.raises(ValueError, match="n and samples must be >= 1"):
        make_episodes(ARITH, 0)
    with pytest.raises(ConfigError, match="tool_parser"):
        Runner(FunctionPolicy(solve), tool_parser="hermes")  # type: ignore[arg-type]
    bad = Runner(FunctionPolicy(solve), retries=0).run(make_episodes(ARITH, 1, env_kwargs={"difficulty": 9}))
    assert bad.trajectories == [] and "difficulty" in bad.errors[0]["message"]
