"""The code environments on the Docker backend, against the real engine.

Each honest answer carries a guard that fails it outside the Docker backend's container (where
the code runs as uid 65534 in ``/work``; the local backend uses another uid and a temporary dir),
so a full reward proves the code ran in Docker and was graded right there.
"""

from __future__ import annotations

import textwrap

import pytest

import openenvs
from openenvs.verify import extract_code

CODE_IDS = ["code/python-tests-v1", "code/stdio-v1", "code/python-tests-retry-v1", "code/humaneval-v1"]
_GUARD = "import os as _os\nif (_os.getuid(), _os.getcwd()) != (65534, '/work'):\n    raise SystemExit('not in the container')\n"


def _guarded(env_id: str, oracle: str) -> str:
    code = extract_code(oracle)
    if env_id == "code/humaneval-v1":  # the answer is the body of the prompt's function
        return f"```python\n{textwrap.indent(_GUARD, '    ')}{code}\n```"
    return f"```python\n{_GUARD}{code}\n```"


pytestmark = pytest.mark.docker


@pytest.mark.parametrize("env_id", CODE_IDS)
def test_code_env_grades_on_docker(env_id: str, docker_image: str) -> None:
    env = openenvs.make(env_id, sandbox_backend="docker")
    try:
        for index in (0, 1):
            env.reset(options={"index": index})
            oracle = env.oracle()
            assert oracle is not None
            result = env.step(_guarded(env_id, oracle))
            assert result.reward == 1.0, (env_id, index, result.info)
            env.reset(options={"index": index})
            empty = env.step("")
            assert empty.reward == 0.0, (env_id, index, empty.info)
    finally:
        env.close()


def test_guard_fails_outside_docker() -> None:
    """The same guarded answer scores 0 on the local backend: the guard is what proves the backend."""
    env = openenvs.make("code/python-tests-v1", sandbox_backend="local")
    try:
        env.reset(options={"index": 0})
        oracle = env.oracle()
        assert oracle is not None
        assert env.step(_guarded("code/python-tests-v1", oracle)).reward == 0.0
    finally:
        env.close()
