"""Checks that run inside .venv-verifiers (verifiers' own venv): lazy listing, parity with verifiers' scoring, check_env.

Prints one JSON object; tests/bridges/test_verifiers.py runs it and asserts on it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys

import openenvs


def build_taskset():
    """A taskset written in the test with verifiers' public classes: infinite, two weighted rewards and a metric."""
    import verifiers.v1 as vf

    class SumData(vf.TaskData):
        a: int
        b: int

    class SumTask(vf.Task[SumData, vf.State, vf.TaskConfig]):
        @vf.reward(weight=0.8)
        async def correct(self, trace) -> float:
            return float(trace.last_reply.strip() == str(self.data.a + self.data.b))

        @vf.reward(weight=0.2)
        async def brief(self, trace) -> float:
            return float(len(trace.last_reply) <= 4)

        @vf.metric
        async def digits(self, trace) -> float:
            return float(sum(c.isdigit() for c in trace.last_reply))

    class SumTaskset(vf.Taskset[SumTask, vf.TasksetConfig]):
        INFINITE = True

        def load(self):
            for i in itertools.count():
                rng = random.Random(i)
                a, b = rng.randint(1, 99), rng.randint(1, 99)
                yield SumTask(SumData(idx=i, prompt=f"What is {a} + {b}?", a=a, b=b), self.config.task)

    return SumTaskset(vf.TasksetConfig(system_prompt=None))


def native_score(task, reply: str) -> tuple[float, dict, dict]:
    """Score `reply` on `task` the way verifiers does it, with a trace built here from verifiers' classes."""
    import verifiers.v1 as vf
    from verifiers.v1.trace import AgentInfo, TraceTask

    nodes = [vf.MessageNode(message=vf.UserMessage(content=task.data.prompt_text))]
    nodes.append(vf.MessageNode(parent=0, message=vf.AssistantMessage(content=reply), sampled=True))
    trace = vf.Trace(task=TraceTask(type=type(task).__name__, data=task.data), agent=AgentInfo(config=vf.AgentConfig()),
                     nodes=nodes)  # fmt: skip
    asyncio.run(task.score(trace))
    rewards = {k: [r.score, r.weight] for k, r in trace.rewards.items()}
    return trace.reward, rewards, dict(trace.metrics)


def main() -> None:
    out: dict = {}
    out["listed"] = [s.id for s in openenvs.list_envs(namespace="verifiers")]
    out["verifiers_imported_by_listing"] = "verifiers" in sys.modules

    from openenvs.bridges.verifiers import from_verifiers, reverse_text_taskset
    from openenvs.testing import check_env

    rows = []
    cases = [("test-sum", build_taskset(), 12), ("reverse-text", reverse_text_taskset(), None)]
    for name, taskset, num_tasks in cases:
        tasks = list(itertools.islice(iter(taskset), num_tasks or 64))
        env = (
            from_verifiers(taskset, num_tasks=num_tasks)
            if name == "test-sum"
            else openenvs.make("verifiers/reverse-text-v0")
        )
        rng = random.Random(name)
        for seed in range(8):
            task = tasks[seed % len(tasks)]
            answer = str(task.data.a + task.data.b) if name == "test-sum" else task.data.answer
            reply = rng.choice([answer, answer + " ", "I think " + answer, answer[::-1], "", "42"])
            obs, _ = env.reset(seed=seed)
            result = env.step(reply)
            reward, rewards, metrics = native_score(task, reply)
            bridged_rewards = {k: [v["score"], v["weight"]] for k, v in result.info["rewards"].items()}
            rows.append({
                "case": name, "seed": seed, "prompt_same": obs.messages[-1].content == task.data.prompt_text,
                "native": [reward, rewards, metrics], "bridged": [result.reward, bridged_rewards, result.info["metrics"]],
                "terminated": result.terminated,
            })  # fmt: skip
    out["parity"] = rows

    try:
        from_verifiers(build_taskset()).reset(seed=0)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out["infinite_error"] = f"{type(exc).__name__}: {exc}"

    check_env("verifiers/reverse-text-v0", cross_process=False)  # the cross-process replay runs via the server
    out["check_env"] = "ok"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
