"""openenvs: one interface for LLM post-training environments.

    >>> import openenvs
    >>> env = openenvs.make("math/arithmetic-v1")
    >>> obs, info = env.reset(seed=0)

Names are loaded lazily, so ``import openenvs`` imports no environment, no pydantic model
machinery until used, and none of torch, transformers, TRL or vLLM.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # types
    "Action": "._types",
    "FunctionCall": "._types",
    "Message": "._types",
    "Observation": "._types",
    "StepResult": "._types",
    "ToolCall": "._types",
    "ToolSpec": "._types",
    # manifest
    "DatasetInfo": "._spec",
    "EnvSpec": "._spec",
    "Source": "._spec",
    "VerifierInfo": "._spec",
    "parse_env_id": "._spec",
    # env and helpers
    "Env": "._env",
    "action_text": "._env",
    # served envs
    "connect": ".server",
    "EnvConfig": "._shapes",
    "MultiTurnConfig": "._shapes",
    "MultiTurnEnv": "._shapes",
    "Score": "._shapes",
    "SingleTurnEnv": "._shapes",
    "Task": "._shapes",
    "Turn": "._shapes",
    "MathConfig": "._math_env",
    "MathEnv": "._math_env",
    # registry
    "EnvFactory": "._registry",
    "Registry": "._registry",
    "list_envs": "._api",
    "make": "._api",
    "register": "._api",
    "registry": "._api",
    "spec": "._api",
    # errors
    "ConfigError": "._errors",
    "DeprecatedEnv": "._errors",
    "EnvNotFound": "._errors",
    "MissingDependency": "._errors",
    "OpenEnvsError": "._errors",
    "RegistrationError": "._errors",
    "RegistryError": "._errors",
    "ResetNeeded": "._errors",
    "SandboxError": "._errors",
    "SandboxTimeout": "._errors",
    "VersionNotFound": "._errors",
}

__all__ = [
    "Action",
    "ConfigError",
    "DatasetInfo",
    "DeprecatedEnv",
    "Env",
    "EnvConfig",
    "EnvFactory",
    "EnvNotFound",
    "EnvSpec",
    "FunctionCall",
    "MathConfig",
    "MathEnv",
    "Message",
    "MissingDependency",
    "MultiTurnConfig",
    "MultiTurnEnv",
    "Observation",
    "OpenEnvsError",
    "RegistrationError",
    "Registry",
    "RegistryError",
    "ResetNeeded",
    "SandboxError",
    "SandboxTimeout",
    "Score",
    "SingleTurnEnv",
    "Source",
    "StepResult",
    "Task",
    "ToolCall",
    "ToolSpec",
    "Turn",
    "VerifierInfo",
    "VersionNotFound",
    "__version__",
    "action_text",
    "connect",
    "list_envs",
    "make",
    "parse_env_id",
    "register",
    "registry",
    "spec",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        try:  # subpackages: openenvs.testing, openenvs.verify, ...
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module 'openenvs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._api import list_envs, make, register, registry, spec
    from ._env import Env, action_text
    from ._errors import (
        ConfigError,
        DeprecatedEnv,
        EnvNotFound,
        MissingDependency,
        OpenEnvsError,
        RegistrationError,
        RegistryError,
        ResetNeeded,
        SandboxError,
        SandboxTimeout,
        VersionNotFound,
    )
    from ._math_env import MathConfig, MathEnv
    from ._registry import EnvFactory, Registry
    from ._shapes import EnvConfig, MultiTurnConfig, MultiTurnEnv, Score, SingleTurnEnv, Task, Turn
    from ._spec import DatasetInfo, EnvSpec, Source, VerifierInfo, parse_env_id
    from ._types import Action, FunctionCall, Message, Observation, StepResult, ToolCall, ToolSpec
    from .server import connect
