"""Checks that run inside .venv-openenv (OpenEnv's own venv): parity, check_env, feedback, lazy listing.

Prints one JSON object; tests/bridges/test_openenv.py runs it and asserts on it.
"""

from __future__ import annotations

import json
import random
import sys

import openenvs


def main() -> None:
    out: dict = {}
    ids = [s.id for s in openenvs.list_envs(namespace="openenv")]
    out["listed"] = ids
    out["openenv_imported_by_listing"] = "openenv" in sys.modules

    from openenvs.bridges.openenv import OpenEnvEnv, echo_environment
    from openenvs.testing import check_env

    # parity: a seeded message sequence through the bridge and through the echo Environment itself
    rng = random.Random(0)
    texts = ["".join(rng.choice("abc xyz") for _ in range(rng.randrange(0, 14))) for _ in range(4)]
    native = echo_environment()
    first = native.reset(seed=0)
    bridge = openenvs.make("openenv/echo-v0")
    obs, _ = bridge.reset(seed=0)
    rows = []
    for text in texts:
        n = native.step(sys.modules["openenvs_openenv_echo.models"].EchoAction(message=text))
        b = bridge.step(text)
        rows.append([n.reward, n.done, n.echoed_message, n.message_length, b.reward, b.terminated,
                     json.loads(b.observation.messages[0].content)])
    out["parity"] = rows
    out["first"] = [first.echoed_message, json.loads(obs.messages[0].content)]

    check_env("openenv/echo-v0", cross_process=False)  # the cross-process replay runs in test_openenv.py via the server
    out["check_env"] = "ok"


    env = OpenEnvEnv(environment="_openenv_counter:Counter", max_turns=6)
    obs, _ = env.reset(seed=1)
    bad = env.step("five")
    good = env.step('{"amount": 12}')
    out["json_action"] = [obs.messages[0].content, bad.observation.messages[0].content[:40], bad.reward,
                          good.observation.messages[0].content, good.reward, good.terminated]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
