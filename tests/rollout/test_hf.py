"""HFPolicy on the tiny random model (same tokenizer and template as SmolLM2): batching, logprobs, templates."""

from __future__ import annotations

import asyncio
import importlib.util
import json

import pytest

from _require import require_module
from openenvs import Message, ToolSpec
from openenvs.rollout import HFPolicy, Runner, SamplingParams, make_episodes

torch = require_module("torch")
require_module("transformers")

GREEDY = SamplingParams(temperature=0.0, max_tokens=12)


@pytest.fixture(scope="module")
def policy(tiny_dir):
    return HFPolicy(tiny_dir, max_batch_size=8)


def conversation(text: str) -> list[Message]:
    return [Message(role="system", content="Answer briefly."), Message(role="user", content=text)]


def reference_logprobs(policy: HFPolicy, prompt: list[int], completion: list[int]) -> list[float]:
    """Logprobs of `completion` after `prompt`, from one plain forward pass (no generate, no padding)."""
    ids = torch.tensor([prompt + completion])
    with torch.inference_mode():
        logits = policy.model(ids).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(completion)[:, None]).squeeze(1).tolist()


def test_batched_generation_matches_unbatched_and_logprobs_are_exact(policy):
    convs = [
        conversation("Hi"),
        conversation("What is 12 + 30? Think it through step by step."),
        conversation("Okay then, go"),
    ]
    prompts = [policy.render(c, []) for c in convs]
    assert len({len(p) for p in prompts}) == 3  # different lengths: the batch is left-padded
    batched = policy.generate_batch(prompts, [GREEDY] * 3)
    for prompt, gen in zip(prompts, batched, strict=True):
        assert gen.prompt_token_ids == prompt
        assert len(gen.completion_token_ids) == len(gen.logprobs) == gen.completion_tokens > 0
        assert gen.logprobs == pytest.approx(reference_logprobs(policy, prompt, gen.completion_token_ids), abs=2e-3)
        (alone,) = policy.generate_batch([prompt], [GREEDY])
        assert alone.completion_token_ids == gen.completion_token_ids
        assert gen.text == policy.tokenizer.decode(gen.completion_token_ids, skip_special_tokens=True)
        if gen.finish_reason == "length":
            assert len(gen.completion_token_ids) == GREEDY.max_tokens
        else:
            assert gen.finish_reason == "stop" and gen.completion_token_ids[-1] in policy._eos


def test_sampled_logprobs_are_of_the_raw_distribution(policy):
    params = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=10, seed=3)
    prompt = policy.render(conversation("Tell me a story"), [])
    (gen,) = policy.generate_batch([prompt], [params])
    assert gen.logprobs == pytest.approx(reference_logprobs(policy, prompt, gen.completion_token_ids), abs=2e-3)
    (same,) = policy.generate_batch([prompt], [params])
    assert same.completion_token_ids == gen.completion_token_ids  # seeded


def test_concurrent_generate_calls_are_batched(policy):
    sizes: list[int] = []
    run_batch = policy._run_batch

    def spy(prompts, params):
        sizes.append(len(prompts))
        return run_batch(prompts, params)

    policy._run_batch = spy
    try:

        async def many():
            return await asyncio.gather(*(policy.generate(conversation(f"n={i}"), [], GREEDY) for i in range(6)))

        gens = asyncio.run(many())
    finally:
        del policy._run_batch
    assert len(gens) == 6 and sum(sizes) == 6 and max(sizes) > 1


def test_tools_are_described_when_the_template_ignores_them(policy):
    tool = ToolSpec(name="lookup_weather", description="Weather for a city.")
    text = policy.tokenizer.decode(policy.render(conversation("Weather in Paris?"), [tool]))
    assert "<tools>" in text and "lookup_weather" in text and text.endswith("<|im_start|>assistant\n")


def test_tool_aware_template_gets_tools_structurally(tiny_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    tok.chat_template = (
        "{% if tools %}<|im_start|>system\nTOOLS:{% for t in tools %} {{ t.function.name }}{% endfor %}<|im_end|>\n{% endif %}"
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    policy = HFPolicy(tiny_dir, tokenizer=tok)
    text = tok.decode(policy.render(conversation("hi"), [ToolSpec(name="lookup_weather")]))
    assert "TOOLS: lookup_weather" in text and "<tools>" not in text


def test_runner_with_hf_policy_records_tokens_and_logprobs(tiny_dir, tmp_path):
    policy = HFPolicy(tiny_dir, max_batch_size=4)
    result = Runner(
        policy, sampling=SamplingParams(temperature=1.0, max_tokens=8, seed=0), concurrency=4, out_dir=tmp_path
    ).run(make_episodes("math/arithmetic-v1", 4))
    assert result.errors == [] and len(result.trajectories) == 4
    for t in result.trajectories:
        (step,) = t.steps
        assert len(step.completion_token_ids) == len(step.logprobs) == t.completion_tokens
        assert (
            step.prompt_token_ids[-3:]
            == policy.tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"][-3:]
        )
        assert t.model.backend == "hf" and t.model.revision.startswith("sha256:") and t.versions.torch
        assert t.messages[-1]["content"] == step.text


def test_loaded_model_needs_its_tokenizer(policy):
    with pytest.raises(ValueError, match="tokenizer"):
        HFPolicy(policy.model)


def test_eval_cli_with_a_local_model(tiny_dir, tmp_path, capsys):
    from openenvs.cli._main import main

    out = tmp_path / "eval"
    main(
        [
            "eval",
            "math/arithmetic-v1",
            "--model",
            str(tiny_dir),
            "-n",
            "3",
            "--max-tokens",
            "6",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert "math/arithmetic-v1" in text and "mean reward" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["envs"]["math/arithmetic-v1"]["episodes"] == 3 and summary["model"]["backend"] == "hf"
    assert summary["sampling"]["temperature"] == 0.0  # one sample: greedy by default
    assert (out / "report.html").exists() and (out / "report.png").exists()


def test_eval_cli_rejects_bad_input(tmp_path, capsys):
    from openenvs.cli._main import main

    for args, message in [
        (["eval", "math/arithmetic-v9"], "has no version 9"),
        (["eval", "math/arithmetic-v1", "--kwargs", "{oops"], "--kwargs must be a JSON object"),
        (["eval", "math/arithmetic-v1", "--difficulty", "a,b"], "comma-separated integers"),
        (["eval", "math/arithmetic-v1", "--model", "smollm2"], "not a folder"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main([*args, "--out", str(tmp_path / "x")])
        assert exc.value.code == 1
        assert message in capsys.readouterr().err


def test_vllm_offline_policy():
    """VLLMPolicy where vllm is importable (GPU machines; here vLLM lives in .venv-vllm, checked by hand)."""
    # Not a missing component: the setup installs vLLM in .venv-vllm (tested through the server), never in
    # .venv, so this in-process path runs only where a user installed vllm themselves (GPU machines).
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed in this venv by design (the CPU build lives in .venv-vllm)")
    from openenvs.models import default_model_dir
    from openenvs.rollout import VLLMPolicy

    policy = VLLMPolicy(default_model_dir(), max_model_len=1024, enforce_eager=True)
    result = Runner(policy, sampling=SamplingParams(temperature=0.0, max_tokens=16)).run(
        make_episodes("math/arithmetic-v1", 4)
    )
    assert result.errors == []
    for t in result.trajectories:
        (step,) = t.steps
        assert len(step.completion_token_ids) == len(step.logprobs) == t.completion_tokens > 0
        assert t.model.backend == "vllm"
