"""A served env plugs into what takes an env: eval --env-url, TRL's GRPO (rewards, environment_factory), PPO."""

from __future__ import annotations

import json
import time

import httpx
import pytest

import openenvs
from _require import require_module


@pytest.fixture
def routed():
    """Restore the local manifests that `use_remote` replaced."""
    saved: dict[str, openenvs.EnvSpec] = {}

    def route(url: str, ids: list[str]) -> None:
        from openenvs.server import use_remote

        for env_id in ids:
            saved.setdefault(env_id, openenvs.registry.spec(env_id))
        use_remote(url, ids)
        from openenvs.trl import default_scorer

        default_scorer().clear()  # envs an earlier test cached locally would otherwise keep scoring here

    yield route
    for env_id, spec in saved.items():
        openenvs.registry.unregister(env_id)
        openenvs.registry.register(spec)


def _steps(url: str, env_id: str) -> int:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(f'openenvs_calls_total{{op="step",env_id="{env_id}"}}'):
            return int(line.split()[-1])
    return 0


def test_eval_cli_with_env_url(server, tmp_path, capsys, routed):
    from openenvs.cli._main import main
    from openenvs.models import tiny_model_dir

    routed(server.url, ["math/arithmetic-v1"])  # the fixture restores the local manifest afterwards
    before = _steps(server.url, "math/arithmetic-v1")
    out = tmp_path / "eval"
    main(["eval", "math/arithmetic-v1", "--env-url", server.url, "--model", str(tiny_model_dir()), "-n", "3",
          "--max-tokens", "4", "--out", str(out), "--no-progress"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["envs"]["math/arithmetic-v1"]["episodes"] == 3
    assert _steps(server.url, "math/arithmetic-v1") - before == 3  # the episodes were played on the server


def _reload_builtin(env_id: str) -> openenvs.EnvSpec:
    fresh = openenvs.Registry()
    return fresh.spec(env_id)


def test_grpo_rewards_score_through_the_served_env(server, routed):
    require_module("trl")
    from openenvs.trl import correct_reward

    routed(server.url, ["math/arithmetic-v1"])
    before = _steps(server.url, "math/arithmetic-v1")
    local = _reload_builtin("math/arithmetic-v1")
    env = openenvs.Registry().make(local, difficulty=2)
    env.reset(seed=11)
    answer = env.task.answer
    cols = {"env_id": ["math/arithmetic-v1"] * 2, "env_kwargs": ['{"difficulty": 2}'] * 2, "env_seed": [11] * 2}
    completions = [[{"role": "assistant", "content": f"\\boxed{{{answer}}}"}], "\\boxed{-99999}"]
    assert correct_reward(completions=completions, **cols) == [1.0, 0.0]
    assert _steps(server.url, "math/arithmetic-v1") - before == 2


def test_grpo_environment_factory_on_a_served_tool_env_survives_reaping(make_server, routed):
    require_module("trl")
    from openenvs.trl import for_grpo, tool_answer_reward

    srv = make_server(18220, "tools/calculator-v1", "--idle-timeout", "1", "--workers", "1")
    routed(srv.url, ["tools/calculator-v1"])
    kwargs = for_grpo("tools/calculator-v1", n=4, seed=1)
    row = kwargs["train_dataset"][2]
    tools = kwargs["environment_factory"]()
    assert tools.reset(**row) is None
    time.sleep(2.0)  # longer than the idle timeout: the server reaps the session between "training steps"
    assert srv.health()["sessions"] == 0
    assert tools.reset(**row) is None  # a reset on the reaped session opens a new one
    local = openenvs.Registry().make(_reload_builtin("tools/calculator-v1"))
    local.reset(seed=row["seed"])
    oracle = local.oracle()
    while oracle is not None and getattr(oracle, "tool_calls", None):
        for call in oracle.tool_calls:
            out = getattr(tools, call.name)(**json.loads(call.function.arguments))
            assert isinstance(out, str) and not out.startswith("Error")
        local.step(oracle)
        oracle = local.oracle()
    answer = oracle if isinstance(oracle, str) else (oracle.content or "")
    tool_answer_reward(completions=[[{"role": "assistant", "content": answer}]], environments=[tools])
    assert tools.get_reward() == 1.0


def test_ppo_rollouts_play_a_served_env(server, tmp_path):
    require_module("trl")
    from transformers import AutoTokenizer

    from openenvs.models import tiny_model_dir
    from openenvs.trl import PPOConfig, PPOTrainer

    before = _steps(server.url, "test/echo-v1")
    args = PPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, num_mini_batches=1, max_completion_length=4,
                     max_episode_length=64, report_to="none", disable_tqdm=True, use_cpu=True, seed=0)
    trainer = PPOTrainer(model=str(tiny_model_dir()), args=args, env=lambda: openenvs.connect(server.url, "test/echo-v1"),
                         processing_class=AutoTokenizer.from_pretrained(tiny_model_dir()))
    episodes = trainer.rollout([0, 1])
    assert len(episodes) == 2 and all(e.terminated for e in episodes)
    assert _steps(server.url, "test/echo-v1") - before == 2
