from __future__ import annotations

import openenvs

DESIGN_NAMES = {
    "make", "spec", "list_envs", "register", "Env", "EnvSpec", "Message", "ToolCall", "ToolSpec", "Observation",
    "StepResult", "SingleTurnEnv", "MultiTurnEnv", "Registry", "OpenEnvsError", "RegistryError", "EnvNotFound",
    "VersionNotFound", "DeprecatedEnv", "RegistrationError", "ConfigError", "ResetNeeded", "MissingDependency",
    "SandboxError", "SandboxTimeout", "connect",
}


def test_all_lists_the_public_api_and_every_name_resolves():
    assert DESIGN_NAMES <= set(openenvs.__all__)
    for name in openenvs.__all__:
        assert getattr(openenvs, name) is not None


def test_error_hierarchy():
    assert issubclass(openenvs.EnvNotFound, openenvs.RegistryError)
    assert issubclass(openenvs.RegistryError, openenvs.OpenEnvsError)
    assert issubclass(openenvs.SandboxTimeout, openenvs.SandboxError)


def test_unknown_attribute_raises_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        openenvs.does_not_exist  # noqa: B018
