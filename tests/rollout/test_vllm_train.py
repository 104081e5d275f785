"""Training against the shared real vLLM CPU server: live weight sync (lora, weights), token-exact turns.

Tolerance: vLLM and transformers both run SmolLM2-135M in float32 on this CPU but with different
kernels (summation order, fused attention), so a token's log-prob differs by about 1e-3 and
rarely by more than 1e-2; ``ABS = 0.05`` leaves headroom. The optimizer step below moves the
log-probs of the fixed completion by far more (asserted), so agreement within ``ABS`` after a
sync cannot happen without it: the check "without the sync they would not agree" is asserted too.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from _require import require_module
from openenvs import Message
from openenvs.rollout import OpenAIPolicy, Runner, SamplingParams, make_episodes

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

torch = require_module("torch")
require_module("peft")

ABS = 0.05
TEMPERATURE = 0.7
CONVO = [
    Message(role="system", content="Answer briefly."),
    Message(role="user", content="Name a fruit."),
]
TARGET = " Banana banana banana banana banana."
CALL_REGEX = (
    r'<tool_call>\n\{"name": "calculate", "arguments": \{"expression": "[1-9][0-9]? [+*] [1-9][0-9]?"\}\}\n</tool_call>'
)


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm2_dir))


@pytest.fixture(scope="module")
def lora_model(smollm2_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
    return get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))


def _trainer_logps(model, prompt, completion, temperature=1.0):
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(completion)[:, None]).squeeze(1)


def _server_prompt_logps(base_url, model_name, prompt, completion):
    """vLLM's log-probs (temperature 1) of a fixed completion after a prompt, via prompt_logprobs."""
    import httpx

    body = {"model": model_name, "prompt": prompt + completion, "max_tokens": 1, "prompt_logprobs": 0, "temperature": 1.0}
    data = httpx.post(base_url + "/v1/completions", json=body, timeout=300).json()
    rows = data["choices"][0]["prompt_logprobs"][len(prompt) :]
    return torch.tensor([row[str(t)]["logprob"] for row, t in zip(rows, completion, strict=True)])


def _step(model, tokenizer, prompt):
    """One optimizer step: raise the likelihood of TARGET after the prompt (a real Adam step on the LoRA weights)."""
    target = tokenizer(TARGET, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + target])
    labels = torch.tensor([[-100] * len(prompt) + target])
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    optim.step()
    optim.zero_grad()
    model.eval()


def _generate(policy, params):
    return asyncio.run(policy.generate(CONVO, [], params))


def test_lora_sync_moves_vllm_to_the_trainers_weights(vllm_server, tokenizer, lora_model, tmp_path):
    from openenvs.trl import WeightSync

    sync = WeightSync(vllm_server.base_url, "lora", work_dir=tmp_path / "sync", adapter_name="test-lora")
    sync.push(lora_model, version=0)
    policy = OpenAIPolicy(vllm_server.base_url, sync.model_name, tokenizer=tokenizer)
    sampled = _generate(policy, SamplingParams(temperature=TEMPERATURE, max_tokens=16, seed=5))
    greedy_before = _generate(policy, SamplingParams(temperature=0.0, max_tokens=12))
    prompt, fixed = sampled.prompt_token_ids, sampled.completion_token_ids
    assert prompt == policy.context_ids(CONVO, []) and len(fixed) == len(sampled.logprobs) > 0

    # before the step: the server samples from the trainer's weights (processed logprobs at T=0.7)
    old_t = _trainer_logps(lora_model, prompt, fixed, TEMPERATURE)
    assert torch.tensor(sampled.logprobs) == pytest.approx(old_t, abs=ABS)
    before = _server_prompt_logps(vllm_server.base_url, sync.model_name, prompt, fixed)

    _step(lora_model, tokenizer, prompt)
    new_t1 = _trainer_logps(lora_model, prompt, fixed)
    assert (new_t1 - before).abs().mean() > 4 * ABS, "the step should move the fixed completion's log-probs"
    # no sync yet: the server still answers with the old weights, so it disagrees with the trainer
    stale = _server_prompt_logps(vllm_server.base_url, sync.model_name, prompt, fixed)
    assert (stale - new_t1).abs().max() > ABS

    seconds = sync.push(lora_model, version=1)
    assert seconds < 30 and sync.version == 1
    after = _server_prompt_logps(vllm_server.base_url, sync.model_name, prompt, fixed)
    assert (after - before).abs().mean() > 4 * ABS
    assert after == pytest.approx(new_t1, abs=ABS)

    # at temperature 0.7 the server's sampling logprobs are those of the trainer's new weights
    resampled = _generate(policy, SamplingParams(temperature=TEMPERATURE, max_tokens=16, seed=6))
    new_t = _trainer_logps(lora_model, resampled.prompt_token_ids, resampled.completion_token_ids, TEMPERATURE)
    assert torch.tensor(resampled.logprobs) == pytest.approx(new_t, abs=ABS)
    # the same prompt before and after the sync: greedy output changed
    greedy_after = _generate(policy, SamplingParams(temperature=0.0, max_tokens=12))
    assert greedy_after.completion_token_ids != greedy_before.completion_token_ids
    asyncio.run(policy.aclose())


def test_weights_sync_reloads_merged_weights(vllm_server, tokenizer, lora_model, smollm2_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from openenvs.trl import WeightSync

    base_name = vllm_server.model_name
    policy = OpenAIPolicy(vllm_server.base_url, base_name, tokenizer=tokenizer)
    params = SamplingParams(temperature=TEMPERATURE, max_tokens=16, seed=9)
    original = _generate(policy, params)
    sync = WeightSync(vllm_server.base_url, "weights", work_dir=tmp_path / "sync")
    assert sync.model_name == base_name  # discovered from /v1/models
    try:
        sync.push(lora_model, version=1)  # the LoRA merged into the weights: the base model now is the policy
        merged = _generate(policy, params)
        assert merged.completion_token_ids != original.completion_token_ids
        ref = _trainer_logps(lora_model, merged.prompt_token_ids, merged.completion_token_ids, TEMPERATURE)
        assert torch.tensor(merged.logprobs) == pytest.approx(ref, abs=ABS)
    finally:  # other tests share this server: put the original weights back
        plain = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
        sync.push(plain, version=2)
    assert _generate(policy, params).completion_token_ids == original.completion_token_ids
    asyncio.run(policy.aclose())


def test_three_turn_tool_episode_is_token_exact(vllm_server, tokenizer):
    """Every turn's prompt on the server is exactly the trainer's context: prompt ids + completion ids so far."""
    from openenvs.trl._rollouts import to_training_sample

    policy = OpenAIPolicy(vllm_server.base_url, vllm_server.model_name, tokenizer=tokenizer)
    sampling = SamplingParams(temperature=TEMPERATURE, max_tokens=48, seed=3,
                              extra={"structured_outputs": {"regex": CALL_REGEX}})  # fmt: skip
    result = Runner(policy, sampling=sampling).run(make_episodes("tools/calculator-v1", 1, env_kwargs={"max_turns": 3}))
    assert result.errors == []
    (traj,) = result.trajectories
    assert traj.num_turns == 3 and policy.rerendered == 0
    sample = to_training_sample(traj, max_completion_length=4096)
    context = sample["prompt_ids"] + sample["completion_ids"]
    offset = len(sample["prompt_ids"])
    for step in traj.steps:  # step.prompt_token_ids: what vLLM reports it conditioned on
        assert step.prompt_token_ids == context[:offset]
        n = len(step.completion_token_ids)
        assert context[offset : offset + n] == step.completion_token_ids
        assert sample["env_mask"][offset - len(sample["prompt_ids"]) :][:n] == [1] * n
        offset += n
        nxt = traj.steps[step.turn + 1].prompt_token_ids if step.turn + 1 < len(traj.steps) else None
        if nxt is not None:  # the env's reply (masked out) is what the next prompt adds
            env_len = len(nxt) - offset
            assert env_len > 0 and sample["env_mask"][offset - len(sample["prompt_ids"]) :][:env_len] == [0] * env_len
            assert "tool" in tokenizer.decode(nxt[offset:])
            offset += env_len
    # tool results are in the context the model saw, and the sampled text is the model's own
    text = tokenizer.decode(context)
    for message in traj.messages:
        if message["role"] == "tool":
            assert message["content"] in text
    assert sum(sample["env_mask"]) == sum(len(s.completion_token_ids) for s in traj.steps)
    asyncio.run(policy.aclose())


def test_failed_sync_stops_with_a_clear_error(vllm_server, tokenizer, lora_model, tmp_path):
    from openenvs.trl import WeightSync, WeightSyncError

    bad = WeightSync("http://127.0.0.1:9", "lora", work_dir=tmp_path / "a", log_path="/x/server.log")
    with pytest.raises(WeightSyncError, match=r"is the server alive\?.*Server log: /x/server.log"):
        bad.push(lora_model, version=1)
    with pytest.raises(WeightSyncError, match="needs a LoRA"):  # a full fine-tune cannot hot-load an adapter
        WeightSync(vllm_server.base_url, "lora", work_dir=tmp_path / "b").push(torch.nn.Linear(2, 2), version=1)


def _recipe(tmp_path, **trainer):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        json.dumps({
            "algorithm": "grpo", "model": "smollm2", "envs": [{"id": "math/arithmetic-v1", "kwargs": {"difficulty": 1}}],
            "n": 16, "seed": 0, "threads": 1, "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
            "trainer": {"max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 2,
                        "max_completion_length": 12, "learning_rate": 1e-3, "lr_scheduler_type": "constant",
                        "beta": 0.0, "temperature": 0.9, "logging_steps": 1, "save_strategy": "no", **trainer},
        })
    )  # fmt: skip
    return str(recipe)


def _rows(out):
    return [json.loads(line) for line in (out / "rollouts" / "trajectories.jsonl").read_text().splitlines()]


def test_training_trajectories_record_step_and_policy_version(vllm_server, tmp_path, capsys):
    """`openenvs train --rollouts vllm --vllm-url`: GRPO + LoRA sync on the shared server, 2 steps."""
    from openenvs.cli._main import main

    out = tmp_path / "run"
    main(["train", _recipe(tmp_path), "--rollouts", "vllm", "--vllm-url", vllm_server.base_url, "-o", str(out)])
    text = capsys.readouterr().out
    assert "rollouts: vllm, sync: lora" in text and "Done: 2 steps" in text
    rows = _rows(out)
    assert [(r["step"], r["policy_version"]) for r in rows] == [(1, 0)] * 4 + [(2, 1)] * 4
    assert all(r["steps"][0]["completion_token_ids"] and r["env_id"] == "math/arithmetic-v1" for r in rows)
    assert sorted(r["sample"] for r in rows[:4]) == [0, 0, 1, 1]  # two prompts, two generations each
    logged = [h for h in json.loads((out / "report.json").read_text())["log_history"] if "is/ratio_mean" in h]
    assert len(logged) == 2  # importance correction and timings logged every step
    for h in logged:
        assert 0.0 < h["is/ratio_mean"] <= h["is/ratio_max"] and 0.0 <= h["is/truncated_share"] <= 1.0
        assert h["timing/rollout_s"] > 0 and h["timing/sync_s"] > 0 and h["timing/staleness"] == 0


def test_async_rollouts_are_one_step_stale(vllm_server, tmp_path):
    """--async-rollouts 1: step k's batch was sampled while step k-1 trained, by policy version k-2."""
    from openenvs.cli._main import main

    out = tmp_path / "run"
    main(["train", _recipe(tmp_path, max_steps=3), "--rollouts", "vllm", "--vllm-url", vllm_server.base_url,
          "--async-rollouts", "1", "-o", str(out)])  # fmt: skip
    versions = {(r["step"], r["policy_version"]) for r in _rows(out)}
    assert versions == {(1, 0), (2, 0), (3, 1)}
    logged = [h for h in json.loads((out / "report.json").read_text())["log_history"] if "timing/staleness" in h]
    assert [h["timing/staleness"] for h in logged] == [0, 1, 1]


def test_resume_sees_the_same_prompts_and_seeds(vllm_server, tmp_path):
    """Stop after step 2 of 4, resume: steps 3-4 draw the prompts, samples and seeds of an uninterrupted run."""
    from openenvs.cli._main import main

    def key(rows, step):
        return sorted((r["seed"], r["sample"], r["sampling"]["seed"], r["policy_version"]) for r in rows if r["step"] == step)

    full, split = tmp_path / "full", tmp_path / "split"
    recipe = _recipe(tmp_path, save_strategy="steps", save_steps=2)
    url = ["--rollouts", "vllm", "--vllm-url", vllm_server.base_url]
    main(["train", recipe, *url, "--max-steps", "4", "-o", str(full)])
    main(["train", recipe, *url, "--max-steps", "2", "-o", str(split)])
    assert (split / "checkpoint-2").is_dir() and {r["step"] for r in _rows(split)} == {1, 2}
    main(["train", recipe, *url, "--max-steps", "4", "--resume", str(split)])
    a, b = _rows(full), _rows(split)
    assert {r["step"] for r in b} == {1, 2, 3, 4}
    for step in (1, 2, 3, 4):
        assert key(a, step) == key(b, step)
    assert key(b, 3)[0][3] == 2 and key(b, 4)[0][3] == 3  # policy versions continue


def test_dead_server_is_a_clear_error_naming_its_log(tmp_path, tokenizer):
    """The server process dying mid-run stops training with an error that names the server's log."""
    import subprocess
    import sys

    from openenvs import OpenEnvsError
    from openenvs.rollout import VLLMServer
    from openenvs.trl import ServerRollouts, WeightSync

    log = tmp_path / "server.log"
    log.write_text("INFO ...\nRuntimeError: out of memory in the KV cache\n")
    server = VLLMServer(port=18199, log_path=log, install=False)
    server.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])  # a server process that has exited
    server.process.wait()
    with pytest.raises(OpenEnvsError, match=r"died \(exit code 3\); its log is .*server.log(.|\n)*out of memory"):
        server.check_alive()
    sync = WeightSync(server.base_url, "lora", work_dir=tmp_path / "sync", log_path=log)
    rollouts = ServerRollouts({}, base_url=server.base_url, tokenizer=tokenizer, sync=sync, server=server)
    with pytest.raises(OpenEnvsError, match="its log is"):
        rollouts.push(torch.nn.Linear(2, 2), step=1)
    rollouts.close()
    server.process = None


def test_ctrl_c_leaves_no_server(tmp_path):
    """`openenvs train --rollouts vllm` without --vllm-url starts its own server; Ctrl-C stops both."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from _require import require

    require("vllm")
    out = tmp_path / "run"
    log = out / "vllm-server.log"
    cmd = [sys.executable, "-m", "openenvs.cli", "train", _recipe(tmp_path, max_steps=3), "--rollouts", "vllm", "-o", str(out)]
    console = (tmp_path / "console.txt").open("w")
    proc = subprocess.Popen(cmd, stdout=console, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip

    def server_pids():
        found = subprocess.run(["pgrep", "-f", "vllm.entrypoints.openai.api_server"], capture_output=True, text=True)
        mine = []
        for pid in found.stdout.split():
            try:
                if str(log) in os.readlink(f"/proc/{pid}/fd/1"):
                    mine.append(pid)
            except OSError:
                pass
        return mine

    try:
        deadline = time.monotonic() + 600
        while "vLLM is up" not in (tmp_path / "console.txt").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "console.txt").read_text()[-3000:]
            time.sleep(1)
        assert server_pids(), "the server it started should be running"
        time.sleep(5)  # into the first rollout
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) != 0
        time.sleep(1)
        assert server_pids() == []
    finally:
        if proc.poll() is None:
            proc.kill()
        console.close()
