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


def test_the_type_checking_imports_mirror_the_lazy_table():
    """`_LAZY` is the one list of public names; the TYPE_CHECKING imports (for type checkers) must agree with it."""
    import ast
    import importlib
    from pathlib import Path

    tree = ast.parse(Path(openenvs.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    static = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom), ast.unparse(node)
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name}: re-export as `{alias.name} as {alias.name}`"
            static[alias.name] = "." * node.level + (node.module or "")
    assert static == openenvs._LAZY
    assert openenvs.__all__ == sorted([*openenvs._LAZY, "__version__"])
    for name, module in openenvs._LAZY.items():
        assert getattr(openenvs, name) is getattr(importlib.import_module(module, "openenvs"), name), name
