"""The openenvs error hierarchy.

Every error the library raises on purpose derives from :class:`OpenEnvsError`,
and every message says what was wrong, the values involved and what to do::

    OpenEnvsError
    ├── RegistryError
    │   ├── EnvNotFound
    │   ├── VersionNotFound
    │   ├── DeprecatedEnv
    │   └── RegistrationError
    ├── ConfigError
    ├── ResetNeeded
    ├── MissingDependency
    └── SandboxError
        └── SandboxTimeout
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeprecatedEnv",
    "EnvNotFound",
    "MissingDependency",
    "OpenEnvsError",
    "RegistrationError",
    "RegistryError",
    "ResetNeeded",
    "SandboxError",
    "SandboxTimeout",
    "VersionNotFound",
]


class OpenEnvsError(Exception):
    """Base class of every error raised by openenvs."""


class RegistryError(OpenEnvsError):
    """A problem finding, loading or registering an environment."""


class EnvNotFound(RegistryError):
    """No environment is registered under the requested id."""


class VersionNotFound(RegistryError):
    """The environment exists, but not in the requested version."""


class DeprecatedEnv(RegistryError):
    """The requested version was replaced by a newer one."""


class RegistrationError(RegistryError):
    """A manifest is invalid, duplicated or its entry point does not import."""


class ConfigError(OpenEnvsError, ValueError):
    """Environment or trainer configuration is invalid."""


class ResetNeeded(OpenEnvsError, RuntimeError):
    """`step` was called before `reset`, or after the episode ended."""


class MissingDependency(OpenEnvsError, ImportError):
    """An optional dependency is not installed; the message gives the pip command."""

    def __init__(self, package: str, extra: str | None, purpose: str = "") -> None:
        """Build the message from the missing package and the extra that provides it (None: the package itself)."""
        why = f" (needed for {purpose})" if purpose else ""
        command = f"pip install 'openenvs[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"The package `{package}` is not installed{why}. Install it with: {command}")
        self.package = package
        self.extra = extra


class SandboxError(OpenEnvsError):
    """The sandbox could not run the code (not: the code failed)."""


class SandboxTimeout(SandboxError):
    """The sandboxed code exceeded its time limit."""
