"""OpenEnv ``Environment`` subclasses run in-process as openenvs envs.

    >>> from openenvs.bridges.openenv import OpenEnvEnv
    >>> env = OpenEnvEnv(environment="echo")               # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)                      # doctest: +SKIP
    >>> env.step("hello").reward                           # doctest: +SKIP
    0.5

OpenEnv (PyPI ``openenv`` 0.10) pins fastmcp 3 and with it mcp 1.x, which fights our ``tools``
extra, so it lives in a venv of its own (``.venv-openenv``, built by scripts/setup.d/60-openenv.sh).
This module runs wherever OpenEnv imports: inside that venv directly, and from the main venv
across the process boundary of ``openenvs serve`` / ``openenvs.connect``. Where OpenEnv is not
installed, `specs` lists nothing.

How OpenEnv maps (its ``Environment.reset(seed) -> Observation`` and ``step(Action) -> Observation``):

- **Action <- text.** The model's text fills one field of the env's ``Action`` model:
  ``text_field``, or by default the only required ``str`` field (the echo env's ``message``).
  An Action with no such field is parsed from the text as JSON. Text that does not validate is
  not sent: the validation error goes back to the model as a user message (reward 0).
- **Observation -> text.** The fields an Observation adds to OpenEnv's base (``done``,
  ``reward``, ``metadata`` aside) become one user message: the value itself when it is the one
  ``str`` field, otherwise those fields as JSON.
- **Reward / end.** ``observation.reward`` (None counts as 0.0) and ``observation.done`` (as
  ``terminated``); ``observation.metadata`` goes to ``info["metadata"]``. OpenEnv has no
  truncation: ``max_turns`` truncates.
- **Not mapped:** ``state`` (read it from ``env.openenv_env.state``), OpenEnv's transforms and
  rubrics (they run inside the wrapped env, as they would in OpenEnv's server), MCP tool envs
  (``MCPEnvironment``: their tools are not exposed as openenvs tools), and the async
  ``reset_async``/``step_async`` (the sync methods are called).

``environment="echo"`` builds the echo env from OpenEnv's own ``openenv init`` template (the
only ``Environment`` the package ships that runs offline: its Harbor and harness envs need
sandboxes and agent CLIs); any other value is ``"module:attr"`` of an ``Environment`` subclass
or a factory returning an instance.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import threading
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import Field

from .._env import Env, action_text
from .._errors import ConfigError, MissingDependency
from .._registry import load_entry_point
from .._shapes import EnvConfig, build_config
from .._spec import EnvSpec, Source, VerifierInfo, package_version
from .._types import Action, Message, Observation, StepResult
from ._chat import user_observation

__all__ = ["OpenEnvConfig", "OpenEnvEnv", "echo_environment", "specs"]

UPSTREAM_URL = "https://github.com/meta-pytorch/OpenEnv"
_BASE_FIELDS = {"done", "reward", "metadata"}


def specs() -> list[EnvSpec]:
    """Manifests of the ``openenv/*`` ids; none where OpenEnv is not installed (it needs its own venv)."""
    if importlib.util.find_spec("openenv") is None:
        return []
    version = package_version("openenv")
    return [
        EnvSpec(
            id="openenv/echo-v0",
            entry_point="openenvs.bridges.openenv:OpenEnvEnv",
            description=(
                f"OpenEnv's echo env (its `openenv init` template, openenv {version}) run in-process: the reply is "
                "echoed back, reward min(0.1 x length, 1)."
            ),
            license="BSD-3-Clause",
            kind="multi-turn",
            tags=["openenv", "demo", "fixed-opening"],
            reward_range=(0.0, 1.0),
            chance_reward=4.0,  # a demo that pays reply length: any 10-character reply tops each of its 4 turns
            sources=[Source(kind="upstream", title=f"OpenEnv {version}", url=UPSTREAM_URL, license="BSD-3-Clause")],
            verifier=VerifierInfo(name="openenv:echo", version=version),
            extras=["openenv"],
            packages=["openenv"],
            kwargs={"environment": "echo", "max_turns": 4},
        )
    ]


_echo_lock = threading.Lock()


def echo_environment() -> Any:
    """A fresh echo ``Environment``, built from OpenEnv's own ``openenv init`` template files.

    The template's placeholders are filled as ``openenv init echo_env`` fills them, and its two
    modules (``models`` and ``server/echo_env_environment``) are loaded as the package
    ``openenvs_openenv_echo``; nothing is written to disk.
    """
    with _echo_lock:
        module = sys.modules.get("openenvs_openenv_echo.server.echo_env_environment")
        if module is None:
            module = _load_echo_template()
    return module.EchoEnvironment()


def _load_echo_template() -> types.ModuleType:
    try:
        import openenv.cli.templates as templates
    except ImportError as exc:
        raise MissingDependency("openenv", "openenv", purpose="OpenEnv environments (use .venv-openenv)") from exc
    root = Path(templates.__file__).parent / "openenv_env"
    names = {"__ENV_NAME__": "echo_env", "__ENV_CLASS_NAME__": "Echo", "__ENV_TITLE_NAME__": "Echo"}

    def load(name: str, path: Path, package: str) -> types.ModuleType:
        source = path.read_text()
        for placeholder, value in names.items():
            source = source.replace(placeholder, value)
        module = types.ModuleType(name)
        module.__file__, module.__package__ = str(path), package
        sys.modules[name] = module
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - OpenEnv's own template code
        return module

    for package in ("openenvs_openenv_echo", "openenvs_openenv_echo.server"):
        pkg = types.ModuleType(package)
        pkg.__path__ = []
        sys.modules[package] = pkg
    load("openenvs_openenv_echo.models", root / "models.py", "openenvs_openenv_echo")
    return load(
        "openenvs_openenv_echo.server.echo_env_environment",
        root / "server" / "__ENV_NAME___environment.py",
        "openenvs_openenv_echo.server",
    )


class OpenEnvConfig(EnvConfig):
    """Config of a bridged OpenEnv environment."""

    environment: str = Field(
        description="'echo' (OpenEnv's template env) or 'module:attr' of an Environment subclass or factory."
    )
    action: str | None = Field(
        default=None,
        description="'module:attr' of the Action model; None reads it from the env's step() annotation.",
    )
    text_field: str | None = Field(
        default=None, description="Action field that receives the model's text; None: the only required str field."
    )
    max_turns: int | None = Field(default=None, ge=1, description="Truncate after this many turns.")


class OpenEnvEnv(Env):
    """An OpenEnv ``Environment`` driven in-process; see the module docstring for the mapping."""

    oracle = None  # OpenEnv envs carry no gold action

    def __init__(self, **kwargs: Any) -> None:
        """Validate the config; the OpenEnv env is built at the first reset."""
        self.config = build_config(OpenEnvConfig, kwargs, f"OpenEnv env {kwargs.get('environment', '?')!r}")
        self.max_turns = self.config.max_turns
        self._env: Any = None
        self._action_cls: Any = None

    @property
    def openenv_env(self) -> Any:
        """The wrapped OpenEnv ``Environment`` (built on first use)."""
        if self._env is None:
            if self.config.environment == "echo":
                self._env = echo_environment()
            else:
                target = load_entry_point(self.config.environment, extras=["openenv"])
                self._env = target()
            self._action_cls = self._find_action_cls()
        return self._env

    def _find_action_cls(self) -> Any:
        if self.config.action is not None:
            return load_entry_point(self.config.action, extras=["openenv"])
        step = type(self._env).step
        try:
            action_cls = typing.get_type_hints(step).get("action")
        except (NameError, TypeError):  # an annotation that does not resolve at module level
            action_cls = step.__annotations__.get("action")
        if not isinstance(action_cls, type):
            raise ConfigError(
                f"Cannot tell the Action model of {type(self._env).__name__}: its step() has no Action annotation. "
                "Pass action='module:ActionClass'."
            )
        return action_cls

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Observation, dict[str, Any]]:
        """Reset the OpenEnv env with this seed; its first observation is the user message."""
        super().reset(seed=seed)
        observation = self.openenv_env.reset(seed=seed, **(options or {}))
        messages = [Message(role="system", content=self.config.system_prompt)] if self.config.system_prompt else []
        messages.append(Message(role="user", content=_render(observation)))
        return Observation(messages=messages), {"metadata": _plain(observation.metadata), "source": self._source()}

    def step(self, action: Action) -> StepResult:
        """Turn the text into the env's Action and step it; an Action that does not validate becomes feedback."""
        from pydantic import ValidationError

        text = action_text(action)
        try:
            openenv_action = self._to_action(text)
        except (ValidationError, ValueError) as exc:
            feedback = user_observation(f"Invalid action for {self._action_cls.__name__}: {exc}")
            info = {"correct": None, "source": self._source(), "invalid_action": str(exc)}
            return StepResult(feedback, 0.0, False, False, info)
        observation = self.openenv_env.step(openenv_action)
        reward = float(observation.reward) if observation.reward is not None else 0.0
        info = {"correct": None, "source": self._source(), "metadata": _plain(observation.metadata)}
        return StepResult(user_observation(_render(observation)), reward, bool(observation.done), False, info)

    def _to_action(self, text: str) -> Any:
        fields = self._action_cls.model_fields
        name = self.config.text_field
        if name is None:
            name = _text_field(self._action_cls)
        if name is None:
            return self._action_cls.model_validate_json(text)
        if name not in fields:
            raise ConfigError(f"{self._action_cls.__name__} has no field {name!r}; fields: {', '.join(fields)}.")
        return self._action_cls(**{name: text})

    def close(self) -> None:
        """Close the OpenEnv env when it defines ``close``."""
        if self._env is not None and callable(getattr(self._env, "close", None)):
            self._env.close()
        self._env = None

    def _source(self) -> dict[str, Any]:
        return {"env_id": self.spec.id if self.spec else self.config.environment, "index": self.seed, "difficulty": None}


def _render(observation: Any) -> str:
    """The text of an OpenEnv Observation: its one extra str field, or its extra fields as JSON."""
    data = observation.model_dump(exclude=_BASE_FIELDS)
    if len(data) == 1 and isinstance(value := next(iter(data.values())), str):
        return value
    return json.dumps(data, sort_keys=True, default=str)


@functools.cache
def _text_field(action_cls: type) -> str | None:
    """The Action's only required ``str`` field, or None (then the text is parsed as JSON)."""
    fields = action_cls.model_fields  # type: ignore[attr-defined]
    strings = [n for n, f in fields.items() if f.is_required() and f.annotation is str]
    return strings[0] if len(strings) == 1 else None


def _plain(value: Any) -> Any:
    """OpenEnv metadata as plain JSON values (a copy)."""
    if not value:
        return {}
    if all(isinstance(v, (str, int, float, bool, type(None))) for v in value.values()):
        return dict(value)
    return json.loads(json.dumps(value, default=str))
