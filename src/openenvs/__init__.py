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

_LAZY: dict[str, str] = {  # public name -> the module that defines it
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

# `_LAZY` is the one list of the public names; `__all__` derives from it, and the TYPE_CHECKING
# imports below (what type checkers read) must import exactly these names from these modules
# (tests/test_public_api.py checks that they agree).
__all__ = sorted([*_LAZY, "__version__"])


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
    from ._api import (
        list_envs as list_envs,
    )
    from ._api import (
        make as make,
    )
    from ._api import (
        register as register,
    )
    from ._api import (
        registry as registry,
    )
    from ._api import (
        spec as spec,
    )
    from ._env import (
        Env as Env,
    )
    from ._env import (
        action_text as action_text,
    )
    from ._errors import (
        ConfigError as ConfigError,
    )
    from ._errors import (
        DeprecatedEnv as DeprecatedEnv,
    )
    from ._errors import (
        EnvNotFound as EnvNotFound,
    )
    from ._errors import (
        MissingDependency as MissingDependency,
    )
    from ._errors import (
        OpenEnvsError as OpenEnvsError,
    )
    from ._errors import (
        RegistrationError as RegistrationError,
    )
    from ._errors import (
        RegistryError as RegistryError,
    )
    from ._errors import (
        ResetNeeded as ResetNeeded,
    )
    from ._errors import (
        SandboxError as SandboxError,
    )
    from ._errors import (
        SandboxTimeout as SandboxTimeout,
    )
    from ._errors import (
        VersionNotFound as VersionNotFound,
    )
    from ._math_env import (
        MathConfig as MathConfig,
    )
    from ._math_env import (
        MathEnv as MathEnv,
    )
    from ._registry import (
        EnvFactory as EnvFactory,
    )
    from ._registry import (
        Registry as Registry,
    )
    from ._shapes import (
        EnvConfig as EnvConfig,
    )
    from ._shapes import (
        MultiTurnConfig as MultiTurnConfig,
    )
    from ._shapes import (
        MultiTurnEnv as MultiTurnEnv,
    )
    from ._shapes import (
        Score as Score,
    )
    from ._shapes import (
        SingleTurnEnv as SingleTurnEnv,
    )
    from ._shapes import (
        Task as Task,
    )
    from ._shapes import (
        Turn as Turn,
    )
    from ._spec import (
        DatasetInfo as DatasetInfo,
    )
    from ._spec import (
        EnvSpec as EnvSpec,
    )
    from ._spec import (
        Source as Source,
    )
    from ._spec import (
        VerifierInfo as VerifierInfo,
    )
    from ._spec import (
        parse_env_id as parse_env_id,
    )
    from ._types import (
        Action as Action,
    )
    from ._types import (
        FunctionCall as FunctionCall,
    )
    from ._types import (
        Message as Message,
    )
    from ._types import (
        Observation as Observation,
    )
    from ._types import (
        StepResult as StepResult,
    )
    from ._types import (
        ToolCall as ToolCall,
    )
    from ._types import (
        ToolSpec as ToolSpec,
    )
    from .server import (
        connect as connect,
    )
