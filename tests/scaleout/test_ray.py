"""RayEnvPool on a real local Ray: same episodes as in-process, check_env, errors, dead workers, `eval --ray`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import openenvs
from openenvs import EnvNotFound, ResetNeeded
from openenvs.rollout import FunctionPolicy, RayEnvPool, Runner, WorkerDied, make_episodes
from openenvs.testing import check_env

ARITH = "math/arithmetic-v1"
CALC = "tools/calculator-v1"


def comparable(trajectory):
    return (trajectory.id, trajectory.messages, trajectory.rewards, trajectory.correct, trajectory.fingerprint)


def kill_and_wait(ray, actor):
    """ray.kill is asynchronous: return once the actor is really gone."""
    ray.kill(actor)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            ray.get(actor.where.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.05)
    raise AssertionError("ray.kill did not kill the actor within 30 s")


@pytest.fixture(scope="module")
def pool(ray_local):
    """Two workers reserving no CPU, so that the eval test's own workers still fit on the 2-CPU Ray."""
    with RayEnvPool(2, worker_cpus=0) as p:
        yield p


def test_pool_episodes_equal_local_episodes(pool, oracle):
    episodes = make_episodes(ARITH, 8, env_kwargs={"difficulty": 3}) + make_episodes(CALC, 4)
    remote = Runner(FunctionPolicy(_policy(oracle)), concurrency=4, envs=pool).run(episodes)
    local = Runner(FunctionPolicy(_policy(oracle)), concurrency=4).run(episodes)
    assert remote.errors == [] and len(remote.trajectories) == 12
    assert [comparable(t) for t in remote.trajectories] == [comparable(t) for t in local.trajectories]
    assert all(t.reward == 1.0 for t in remote.trajectories if t.env_id == ARITH)
    assert any(t.tools != "[]" for t in remote.trajectories if t.env_id == CALC)  # tool specs made the trip
    stats = pool.stats()
    assert len(stats["workers"]) == 2 and stats["failures"] == []
    assert all(w["calls"] > 0 for w in stats["workers"])  # both workers served episodes
    assert os.getpid() not in {w["pid"] for w in stats["workers"]}  # and they are other processes
    assert all(w["open_envs"] == 0 for w in stats["workers"])  # the runner closed every env


def _policy(oracle):
    def act(messages, tools):
        return oracle(messages, tools) if not tools else "I cannot compute that."

    return act


def test_ray_env_passes_check_env(pool):
    check_env(pool.make(ARITH, difficulty=2))
    check_env(pool.make(CALC))


def test_env_errors_arrive_as_themselves(pool):
    with pytest.raises(EnvNotFound, match="arithmetik"):
        pool.make("math/arithmetik-v1")
    with pytest.raises(Exception) as local:
        openenvs.make(ARITH, no_such_option=1)
    env = pool.make(ARITH, no_such_option=1)
    with pytest.raises(type(local.value)) as remote:
        env.reset(seed=0)
    assert "no_such_option" in str(remote.value)
    env.close()
    env = pool.make(ARITH)
    with pytest.raises(ResetNeeded):
        env.step("1")
    env.reset(seed=0)
    env.step("1")
    with pytest.raises(ResetNeeded):
        env.step("1")
    env.close()


def test_a_killed_worker_fails_its_episodes_not_the_run(ray_local, pool, oracle):
    """ray.kill one actor mid-eval: its episodes fail as recorded errors and are retried on a live worker."""
    episodes = make_episodes(ARITH, 16, env_kwargs={"difficulty": 2})
    local = Runner(FunctionPolicy(oracle)).run(episodes)
    before, started = len(pool.failures), pool.stats()["started"]

    def killing_policy(state):
        def act(messages, tools):
            state["calls"] += 1
            if state["calls"] == 5:  # four episodes are open, two on each worker
                kill_and_wait(ray_local, pool.actors[0])  # blocks the event loop: no episode moves until it is dead
            return oracle(messages, tools)

        return act

    # without retries: the lost episodes are errors of this run, everything else finishes
    once = Runner(FunctionPolicy(killing_policy({"calls": 0})), concurrency=4, retries=0, envs=pool).run(episodes)
    assert once.errors, "killing a worker mid-eval should fail the episodes it held"
    assert len(once.errors) + len(once.trajectories) == 16
    assert all(e["status"] == "error" and e["message"].startswith("WorkerDied: Ray worker 0") for e in once.errors)
    assert {e["seed"] for e in once.errors}.isdisjoint(t.seed for t in once.trajectories)
    first_failures = pool.failures[before:]
    assert first_failures and {f["worker"] for f in first_failures} == {0}
    assert all("ActorDiedError" in f["error"] and f["env_id"] == ARITH for f in first_failures)
    assert len(pool.actors) == 2  # a replacement took the dead worker's place

    # with one retry (the Runner's default): the run loses nothing and matches the in-process run
    again = Runner(FunctionPolicy(killing_policy({"calls": 0})), concurrency=4, envs=pool).run(episodes)
    assert again.errors == [] and len(again.trajectories) == 16
    assert [comparable(t) for t in again.trajectories] == [comparable(t) for t in local.trajectories]
    assert len(pool.failures) > before + len(first_failures)  # the second kill was recorded too
    assert len(pool.actors) == 2 and pool.stats()["started"] == started + 2


def test_all_workers_dead_without_replacement_is_a_clear_error(ray_local):
    with RayEnvPool(1, worker_cpus=0, replace_dead=False) as pool:
        env = pool.make(ARITH)
        env.reset(seed=0)
        kill_and_wait(ray_local, pool.actors[0])
        with pytest.raises(WorkerDied, match="died during step"):
            env.step("1")
        with pytest.raises(WorkerDied, match="Every Ray env worker of this pool has died"):
            env.reset(seed=1)


@pytest.mark.slow
def test_eval_cli_joins_a_running_cluster(ray_local, tmp_path):
    """`openenvs eval --ray-address ADDR` from another process: the command a multi-node cluster runs."""
    from openenvs.models import tiny_model_dir

    address = ray_local.get_runtime_context().gcs_address
    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "openenvs", "eval", ARITH, "--ray-address", address, "--ray-workers", "2"]
    cmd += ["--model", str(tiny_model_dir()), "-n", "4", "--max-tokens", "4", "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "ray: 2 env workers on 1 node(s)" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["envs"][ARITH]["episodes"] == 4
    stats = json.loads((out / "ray.json").read_text())
    assert len(stats["workers"]) == 2 and stats["failures"] == []
    assert sum(w["calls"] for w in stats["workers"]) == 8  # 4 resets + 4 steps, all on the cluster's actors
    assert stats["nodes"] == [ray_local.get_runtime_context().get_node_id()]  # the cluster this test started
