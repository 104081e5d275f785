"""Runs inside .venv-verifiers: verifiers' own eval runner (`run_eval`) on `to_verifiers(...)` of an openenvs env.

Args: the openenvs server URL (serving the env from the main venv), the env id, the model
server's OpenAI base URL, the model name, an output folder. Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


def main() -> None:
    url, env_id, model_url, model, out_dir = sys.argv[1:6]
    from verifiers.v1.cli.eval.runner import run_eval
    from verifiers.v1.clients import EvalClientConfig
    from verifiers.v1.configs.cli.eval import EvalConfig

    from openenvs.bridges.verifiers import env_config, to_verifiers

    env = to_verifiers(env_id, url=url, num_tasks=2)
    prompts = [task.data.prompt for task in env.taskset]
    os.environ["OPENENVS_VERIFIERS_TEST_KEY"] = "unused"
    config = EvalConfig(
        env=env_config(env_id, url=url, num_tasks=2, max_turns=2),
        model=model,
        client=EvalClientConfig(base_url=model_url, api_key_var="OPENENVS_VERIFIERS_TEST_KEY"),
        sampling={"max_tokens": 24, "temperature": 0.0},
        rich=None, push=False, output_dir=out_dir, max_concurrent=2,
    )  # fmt: skip
    episodes = asyncio.run(run_eval(config))
    rows = []
    for episode in episodes:
        for trace in episode.traces:
            rows.append({
                "ok": episode.ok and trace.ok, "errors": [e.message for e in [*episode.errors, *trace.errors]],
                "seed": episode.task.data.seed, "replies": [m.content for m in trace.assistant_messages],
                "rewards": {k: r.score for k, r in trace.rewards.items() if r is not None},
                "steps": trace.metrics.get("openenvs_steps"),
            })  # fmt: skip
    print(json.dumps({"env": type(env).__name__, "prompts": prompts, "episodes": rows}))


if __name__ == "__main__":
    main()
