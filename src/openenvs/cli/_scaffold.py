"""`openenvs new`: scaffold an environment family that passes `openenvs check` as generated.

Two targets: `scaffold` writes ``environments/NAME/`` and a registry.json entry into a project
(this repository, or one laid out like it); `scaffold_package` writes a standalone,
pip-installable package whose ``openenvs.environments`` entry point registers the env, for
contributors outside this repository.
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import ConfigError, RegistrationError
from .._spec import EnvSpec

__all__ = ["Scaffold", "find_root", "scaffold", "scaffold_package"]


@dataclass
class Scaffold:
    """What `scaffold` created."""

    env_id: str
    folder: Path
    registry: Path
    files: list[Path] = field(default_factory=list)


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` that holds registry.json (else `start` itself)."""
    here = (start or Path.cwd()).resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "registry.json").exists():
            return candidate
    return here


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_ENV_TEMPLATE = '''"""{title}: a single-turn environment scaffolded by `openenvs new`.

Replace the toy task (reverse a word) with yours: `get_task` builds task i from
``(config.seed, i)``, `score` judges an answer, `oracle` returns a correct answer.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from openenvs import EnvConfig, Score, SingleTurnEnv, Task

__all__ = ["{cls}Config", "{cls}Env"]

_WORDS = ["planet", "river", "garden", "silver", "rocket", "window", "forest", "candle", "bridge", "yellow"]


class {cls}Config(EnvConfig):
    """Config of `{env_id}`."""

    difficulty: int = Field(default=1, ge=1, le=3, description="Number of words to reverse (1-3).")


class {cls}Env(SingleTurnEnv[{cls}Config]):
    """Reverse the letters of the given words; reward 1.0 for the exact answer inside <answer></answer>."""

    Config = {cls}Config
    default_system_prompt: ClassVar[str | None] = "Answer inside <answer></answer>."

    def get_task(self, index: int) -> Task:
        """Task `index`: words drawn from the task's own RNG, a pure function of (seed, index)."""
        rng = self.task_rng(index)
        words = [rng.choice(_WORDS) for _ in range(self.config.difficulty)]
        return Task(
            prompt="Reverse the letters of: " + " ".join(words),
            answer=" ".join(w[::-1] for w in words),
            difficulty=self.config.difficulty,
        )

    def score(self, text: str, task: Task) -> Score:
        """1.0 when the text inside the last <answer> tag equals the reversed words."""
        start, end = text.rfind("<answer>"), text.rfind("</answer>")
        answer = text[start + len("<answer>") : end].strip() if 0 <= start < end else None
        correct = answer == task.answer
        return Score(reward=1.0 if correct else 0.0, correct=correct, info={{"extracted": answer}})

    def oracle(self) -> str | None:
        """A correct answer for the current episode."""
        return f"<answer>{{self.task.answer}}</answer>" if self.task else None
'''

_TEST_TEMPLATE = '''"""Tests for `{env_id}`."""

from __future__ import annotations

import pytest

import openenvs
from openenvs.testing import check_env


def test_conformance():
    check_env("{env_id}")


def test_oracle_scores_one_and_garbage_zero():
    env = openenvs.make("{env_id}", difficulty=2)
    env.reset(seed=3)
    assert env.step(env.oracle()).reward == 1.0
    env.reset(seed=3)
    assert env.step("no idea").reward == 0.0


def test_config_errors_name_the_field():
    with pytest.raises(openenvs.ConfigError, match="difficulty"):
        openenvs.make("{env_id}", difficulty=9)
'''

_README_TEMPLATE = """# {env_id}

{title}: reverse the letters of a few words (a scaffold; replace it with your task).

- Kind: single-turn. Reward: 1.0 for the exact answer inside `<answer></answer>`, else 0.0.
- Config: `difficulty` (1-3 words), `seed`, `system_prompt`.
- Check it: `openenvs check {env_id}` and `pytest {tests}`.
"""

_PYPROJECT_TEMPLATE = """[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title}: an openenvs environment ({env_id})."
readme = "README.md"
license = "{license}"
requires-python = ">=3.10"
dependencies = ["openenvs"]

[project.optional-dependencies]
test = ["pytest>=8"]

# openenvs reads this entry point group when its registry is first consulted: `specs()` returns
# the manifests, and an environment's module is imported only when it is made.
[project.entry-points."openenvs.environments"]
{name} = "{name}.specs:specs"

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_SPECS_TEMPLATE = '''"""The environments this package registers with openenvs (entry point group ``openenvs.environments``)."""

from __future__ import annotations

from openenvs import EnvSpec

__all__ = ["specs"]


def specs() -> list[EnvSpec]:
    """The manifests of this package's environments."""
    return [
        EnvSpec(
            id="{env_id}",
            entry_point="{name}.env:{cls}Env",
            description="{title} (scaffold): reverse the letters of a few words.",
            license="{license}",
            kind="single-turn",
            tags=["scaffold"],
            reward_range=(0.0, 1.0),
        )
    ]
'''

_PACKAGE_README_EXTRA = """
## Install and check

```bash
pip install -e .          # registers {env_id} through the `openenvs.environments` entry point
openenvs list --namespace {namespace}
openenvs check {env_id}
pytest
```
"""


def _check_names(name: str, namespace: str) -> str:
    """Validate NAME and the namespace; return the env id ``namespace/name-v1``."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ConfigError(f"Environment family name {name!r} must be a lower-case Python identifier, e.g. `word_sort`.")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.]*", namespace):
        raise ConfigError(f"Namespace {namespace!r} must be lower case letters, digits, `_` or `.`, e.g. `custom`.")
    return f"{namespace}/{name.replace('_', '-')}-v1"


def scaffold(name: str, *, namespace: str = "custom", root: str | Path | None = None, license: str = "MIT") -> Scaffold:
    """Create ``environments/<name>/`` under the project root and add its registry.json entry."""
    env_id = _check_names(name, namespace)
    base = Path(root).resolve() if root else find_root()
    folder = base / "environments" / name
    if folder.exists():
        raise ConfigError(f"{folder} already exists; choose another NAME or remove the folder.")
    cls = _camel(name)
    # In the openenvs source tree, environments/ installs as `openenvs.envs`; elsewhere it is the project's own package.
    package = "openenvs.envs" if (base / "src" / "openenvs" / "envs").exists() else "environments"
    spec = EnvSpec(
        id=env_id,
        entry_point=f"{package}.{name}.env:{cls}Env",
        description=f"{_camel(name)} (scaffold): reverse the letters of a few words.",
        license=license,
        kind="single-turn",
        tags=["scaffold"],
        reward_range=(0.0, 1.0),
    )
    registry_path = base / "registry.json"
    data = json.loads(registry_path.read_text()) if registry_path.exists() else {"envs": [], "providers": []}
    if any(entry.get("id") == env_id for entry in data.get("envs", [])):
        raise RegistrationError(f"{registry_path} already has `{env_id}`; choose another NAME or namespace.")
    fmt = {"env_id": env_id, "cls": cls, "title": _camel(name), "name": name, "tests": f"environments/{name}"}
    folder.mkdir(parents=True)
    package_init = base / "environments" / "__init__.py"
    result = Scaffold(env_id=env_id, folder=folder, registry=registry_path)
    if not package_init.exists():
        package_init.write_text('"""Environment families of this project."""\n')
        result.files.append(package_init)
    for filename, text in [
        ("__init__.py", f'"""{_camel(name)} environments."""\n'),
        ("env.py", _ENV_TEMPLATE.format(**fmt)),
        ("test_env.py", _TEST_TEMPLATE.format(**fmt)),
        ("README.md", _README_TEMPLATE.format(**fmt)),
    ]:
        (folder / filename).write_text(text)
        result.files.append(folder / filename)
    data.setdefault("envs", []).append(spec.to_json_dict())
    registry_path.write_text(json.dumps(data, indent=2) + "\n")
    return result


def scaffold_package(
    name: str, folder: str | Path, *, namespace: str = "custom", license: str = "MIT"
) -> Scaffold:
    """Create a standalone, pip-installable package in `folder` that registers ``namespace/name-v1``.

    The package (``src/<name>/``: env, ``specs()``; ``tests/``; README; pyproject with the
    ``openenvs.environments`` entry point and the license) passes ``openenvs check`` and its own
    tests once installed with ``pip install -e <folder>``.
    """
    env_id = _check_names(name, namespace)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+-]*", license):
        raise ConfigError(f"License {license!r} must be an SPDX identifier such as `MIT` or `Apache-2.0`.")
    root = Path(folder).resolve()
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} already exists and is not empty; choose another --package folder.")
    fmt = {
        "env_id": env_id,
        "cls": _camel(name),
        "title": _camel(name),
        "name": name,
        "dist": name.replace("_", "-"),
        "license": license,
        "namespace": namespace,
        "tests": "tests",
    }
    readme = _README_TEMPLATE.format(**fmt) + _PACKAGE_README_EXTRA.format(**fmt)
    files = {
        "pyproject.toml": _PYPROJECT_TEMPLATE.format(**fmt),
        "README.md": readme,
        f"src/{name}/__init__.py": f'"""{_camel(name)}: openenvs environments ({env_id})."""\n',
        f"src/{name}/env.py": _ENV_TEMPLATE.format(**fmt),
        f"src/{name}/specs.py": _SPECS_TEMPLATE.format(**fmt),
        f"src/{name}/py.typed": "",
        "tests/test_env.py": _TEST_TEMPLATE.format(**fmt),
    }
    result = Scaffold(env_id=env_id, folder=root, registry=root / "pyproject.toml")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        result.files.append(path)
    return result
