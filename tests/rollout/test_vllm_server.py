"""OpenAIPolicy, the runner and `openenvs eval` against a real vLLM CPU server on 127.0.0.1.

The server (SmolLM2-135M-Instruct from the bundled GGUF) starts once per test session; see conftest.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx
import pytest

from _require import require_module
from openenvs import Message
from openenvs.rollout import OpenAIPolicy, Runner, SamplingParams, ServerError, make_episodes

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

CONVO = [
    Message(role="system", content="Answer briefly."),
    Message(role="user", content="What is 2 + 3? Put it in \\boxed{}."),
]
# Forces a Hermes tool call, so a 135M model takes the tool path deterministically (vLLM structured outputs).
CALL_REGEX = (
    r'<tool_call>\n\{"name": "calculate", "arguments": \{"expression": "[1-9][0-9]? [+*] [1-9][0-9]?"\}\}\n</tool_call>'
)


def test_token_ids_and_logprobs_are_what_the_server_returned(vllm_server, smollm2_dir):
    policy = OpenAIPolicy(vllm_server.base_url + "/v1", vllm_server.model_name)
    params = SamplingParams(temperature=0.8, max_tokens=24, seed=11)
    gen = asyncio.run(policy.generate(CONVO, [], params))
    raw = httpx.post(
        vllm_server.base_url + "/v1/chat/completions",
        json={
            "model": vllm_server.model_name,
            "messages": [m.to_dict() for m in CONVO],
            "temperature": 0.8, "max_tokens": 24, "seed": 11, "top_p": 1.0,
            "logprobs": True, "top_logprobs": 0, "return_token_ids": True,
        },
        timeout=300,
    ).json()  # fmt: skip
    choice = raw["choices"][0]
    assert gen.completion_token_ids == choice["token_ids"]
    assert gen.prompt_token_ids == raw["prompt_token_ids"]
    assert gen.logprobs == [c["logprob"] for c in choice["logprobs"]["content"]]
    assert gen.text == choice["message"]["content"]
    assert len(gen.completion_token_ids) == len(gen.logprobs) == gen.completion_tokens
    # the same prompt ids as HFPolicy/VLLMPolicy render locally: one conversation, one tokenization
    from transformers import AutoTokenizer

    from openenvs.rollout._local import LocalPolicy

    local = LocalPolicy()
    local.tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir))
    assert local.render(CONVO, []) == gen.prompt_token_ids
    assert local.tokenizer.decode(gen.completion_token_ids, skip_special_tokens=True) == gen.text
    info = policy.model_info
    assert info.backend == "openai" and info.backend_version == "vllm 0.32.0" and info.base_url == vllm_server.base_url
    asyncio.run(policy.aclose())


def test_server_logprobs_agree_with_transformers(vllm_server, smollm2_dir):
    torch = require_module("torch")
    from openenvs.rollout import HFPolicy

    policy = OpenAIPolicy(vllm_server.base_url, vllm_server.model_name)
    gen = asyncio.run(policy.generate(CONVO, [], SamplingParams(temperature=0.0, max_tokens=16)))
    hf = HFPolicy(smollm2_dir)
    ids = torch.tensor([gen.prompt_token_ids + gen.completion_token_ids])
    with torch.inference_mode():
        logits = hf.model(ids).logits[0, len(gen.prompt_token_ids) - 1 : -1]
    ref = torch.log_softmax(logits, -1).gather(1, torch.tensor(gen.completion_token_ids)[:, None]).squeeze(1)
    assert gen.logprobs == pytest.approx(ref.tolist(), abs=0.05)


def test_fallback_without_vllm_extras(vllm_server):
    """A server that rejects the extras still works; missing fields are None (simulated by a rejecting field)."""
    policy = OpenAIPolicy(vllm_server.base_url, vllm_server.model_name)
    policy._dropped.update({"return_token_ids", "logprobs", "top_logprobs"})
    gen = asyncio.run(policy.generate(CONVO, [], SamplingParams(temperature=0.0, max_tokens=8)))
    assert gen.completion_token_ids is None and gen.logprobs is None and gen.prompt_token_ids is None
    assert gen.completion_tokens > 0 and gen.prompt_tokens > 0 and gen.text


def test_unknown_model_and_dead_server_give_clear_errors(vllm_server):
    with pytest.raises(ServerError, match="HTTP 404"):
        asyncio.run(
            OpenAIPolicy(vllm_server.base_url, "no-such-model").generate(CONVO, [], SamplingParams(max_tokens=4))
        )
    dead = OpenAIPolicy("http://127.0.0.1:9", "m", max_retries=1)
    with pytest.raises(ServerError, match="Is the server running"):
        asyncio.run(dead.generate(CONVO, [], SamplingParams(max_tokens=4)))
    with pytest.raises(ValueError, match="http://"):
        OpenAIPolicy("127.0.0.1:8000", "m")


def test_multi_turn_tool_episode_completes(vllm_server, tmp_path):
    """calculator env: forced tool calls are parsed, executed and fed back over several turns."""
    policy = OpenAIPolicy(vllm_server.base_url, vllm_server.model_name)
    sampling = SamplingParams(temperature=0.0, max_tokens=48, extra={"structured_outputs": {"regex": CALL_REGEX}})
    result = Runner(policy, sampling=sampling, out_dir=tmp_path).run(
        make_episodes("tools/calculator-v1", 1, env_kwargs={"max_turns": 3})
    )
    assert result.errors == []
    (t,) = result.trajectories
    assert t.num_turns == 3 and t.truncated and len(t.rewards) == 3
    roles = [m["role"] for m in t.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]
    for message in t.messages:
        if message["role"] == "assistant":
            assert message["tool_calls"][0]["function"]["name"] == "calculate"
        if message["role"] == "tool":
            expr = json.loads(t.messages[t.messages.index(message) - 1]["tool_calls"][0]["function"]["arguments"])
            assert message["content"] == str(eval(expr["expression"]))  # noqa: S307 - regex-forced digits and + *
    for before, after in itertools.pairwise(t.steps):
        # each turn's prompt extends the last one: the model's own tokens are kept in the history
        assert after.prompt_token_ids[: len(before.prompt_token_ids)] == before.prompt_token_ids
        assert len(after.completion_token_ids) == len(after.logprobs) > 0


def test_eval_cli_end_to_end_and_resume(vllm_server, tmp_path, capsys):
    from openenvs.cli._main import main

    out = tmp_path / "eval"
    args = ["eval", "math/arithmetic-v1", "--base-url", vllm_server.base_url, "-n", "3", "--samples", "2",
            "--difficulty", "1,2", "--max-tokens", "48", "--concurrency", "8", "--out", str(out), "--no-progress"]  # fmt: skip
    main(args)
    text = capsys.readouterr().out
    assert "pass@2" in text and "math/arithmetic-v1" in text
    summary = json.loads((out / "summary.json").read_text())
    row = summary["envs"]["math/arithmetic-v1"]
    assert row["episodes"] == 12 and row["samples"] == 2 and 0.0 <= row["pass@1"] <= row["pass@2"] <= 1.0
    assert set(summary["difficulty"]["math/arithmetic-v1"]) == {"1", "2"}
    assert summary["model"]["name"] == vllm_server.model_name and summary["versions"]["vllm"] == "0.32.0"
    assert (out / "report.png").stat().st_size > 1000 and "<img" in (out / "report.html").read_text()
    lines = [json.loads(x) for x in (out / "trajectories.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and all(x["steps"][0]["completion_token_ids"] for x in lines)
    assert all(x["sampling"]["temperature"] == 1.0 for x in lines)
    main(args)  # rerun: everything is already there
    assert "resumed: 12 episodes" in capsys.readouterr().out
    assert len((out / "trajectories.jsonl").read_text().splitlines()) == 12
