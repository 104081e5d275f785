from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import openenvs
from openenvs import (
    ConfigError,
    DeprecatedEnv,
    EnvNotFound,
    EnvSpec,
    MissingDependency,
    RegistrationError,
    Registry,
    VersionNotFound,
)


def _spec(env_id: str, **extra) -> dict:
    base = {
        "id": env_id,
        "entry_point": "openenvs.envs.arithmetic.env:ArithmeticEnv",
        "description": "test",
        "license": "MIT",
    }
    return {**base, **extra}


def test_make_spec_and_list(fresh_registry):
    env = fresh_registry.make("math/arithmetic-v1", difficulty=2)
    assert env.spec.kwargs["difficulty"] == 2 and env.config.difficulty == 2
    assert fresh_registry.spec("math/arithmetic-v1").kwargs == {"difficulty": 1}
    assert "math/arithmetic-v1" in [s.id for s in fresh_registry.list(tags=["math"])]
    assert fresh_registry.list(tags=["math", "no-such-tag"]) == []


def test_unknown_id_suggests_close_matches(fresh_registry):
    with pytest.raises(EnvNotFound, match=r"Did you mean `math/arithmetic-v1`"):
        fresh_registry.make("math/arithmetc-v1")
    with pytest.raises(EnvNotFound, match=r"Did you mean `math/arithmetic-v1`"):
        fresh_registry.make("arithmetic")
    with pytest.raises(EnvNotFound, match="Malformed"):
        fresh_registry.make("Not An Id")


def test_unversioned_id_gives_latest_and_missing_version_lists_available(fresh_registry, caplog):
    fresh_registry.register(_spec("math/arithmetic-v3", kwargs={"difficulty": 3}))
    with caplog.at_level("INFO"):
        assert fresh_registry.spec("math/arithmetic").id == "math/arithmetic-v3"
    assert "latest" in caplog.text
    with pytest.raises(VersionNotFound, match=r"`math/arithmetic-v1`, `math/arithmetic-v3`"):
        fresh_registry.spec("math/arithmetic-v2")


def test_duplicate_registration_raises(fresh_registry):
    with pytest.raises(RegistrationError, match="already registered"):
        fresh_registry.register(_spec("math/arithmetic-v1"))


def test_deprecated_env_names_replacement(fresh_registry):
    fresh_registry.register(_spec("math/old-v1", deprecated_by="math/arithmetic-v1"))
    with pytest.raises(DeprecatedEnv, match="use `math/arithmetic-v1`"):
        fresh_registry.make("math/old-v1")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"id": "x/y-v1", "entry_point": "m:c", "license": "MIT"}, "description"),
        (_spec("x/y-v1", license="MITT"), "license"),
        (_spec("X/Bad"), "id"),
        (_spec("x/y-v1", entry_point="no_colon"), "entry_point"),
        (_spec("x/y-v1", reward_range=[1, 0]), "reward_range"),
    ],
)
def test_bad_manifest_names_file_and_field(tmp_path, entry, field):
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"envs": [entry]}))
    with pytest.raises(RegistrationError) as info:
        Registry(builtin=path, entry_points=False).list()
    assert str(path) in str(info.value) and field in str(info.value)


def test_spdx_error_suggests_fix():
    with pytest.raises(ValueError, match="Did you mean 'MIT'"):
        EnvSpec(**_spec("x/y-v1", license="MIT2"))
    assert EnvSpec(**_spec("x/y-v1", license="Apache-2.0 OR MIT")).license == "Apache-2.0 OR MIT"


def test_entry_point_that_does_not_import(fresh_registry):
    fresh_registry.register(_spec("x/broken-v1", entry_point="openenvs.envs.nope.env:Nope"))
    with pytest.raises(RegistrationError, match=r"openenvs\.envs\.nope"):
        fresh_registry.make("x/broken-v1")
    fresh_registry.register(_spec("x/broken-v2", entry_point="openenvs.envs.arithmetic.env:Nope"))
    with pytest.raises(RegistrationError, match="no attribute `Nope`"):
        fresh_registry.make("x/broken-v2")


def test_missing_optional_dependency_names_the_extra(fresh_registry, tmp_path, monkeypatch):
    (tmp_path / "needs_dep.py").write_text("import some_missing_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh_registry.register(_spec("x/dep-v1", entry_point="needs_dep:Env", extras=["math"]))
    with pytest.raises(MissingDependency, match=r"pip install 'openenvs\[math\]'"):
        fresh_registry.make("x/dep-v1")


def test_config_typo_is_a_config_error(fresh_registry):
    with pytest.raises(ConfigError, match="did you mean `difficulty`"):
        fresh_registry.make("math/arithmetic-v1", dificulty=2)
    with pytest.raises(ConfigError, match="difficulty"):
        fresh_registry.make("math/arithmetic-v1", difficulty=99)


def test_factory_must_return_env(fresh_registry):
    fresh_registry.register(_spec("x/notenv-v1", entry_point="json:dumps"))
    with pytest.raises((RegistrationError, TypeError)):
        fresh_registry.make("x/notenv-v1")


def test_providers_load_lazily(tmp_path, monkeypatch):
    (tmp_path / "lazy_provider.py").write_text(
        "import openenvs\nCALLS = []\n"
        "def specs():\n"
        "    CALLS.append(1)\n"
        "    return [openenvs.EnvSpec(id='lazy/one-v0', entry_point='openenvs.envs.arithmetic.env:ArithmeticEnv',"
        " description='d', license='MIT')]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"envs": [], "providers": [{"namespace": "lazy", "entry_point": "lazy_provider:specs"}]}))
    reg = Registry(builtin=path, entry_points=False)
    assert reg.ids() == ["lazy/one-v0"]
    import lazy_provider

    reg2 = Registry(builtin=path, entry_points=False)
    calls = len(lazy_provider.CALLS)
    reg2.register(_spec("other/x-v1"))
    assert len(lazy_provider.CALLS) == calls, "provider ran before its namespace was used"
    assert reg2.make("lazy/one-v0") is not None
    assert len(lazy_provider.CALLS) == calls + 1


def test_extra_registry_files_from_environment(tmp_path):
    path = tmp_path / "extra.json"
    path.write_text(json.dumps({"envs": [_spec("extra/arith-v1", kwargs={"difficulty": 4})]}))
    code = "import openenvs; print(openenvs.make('extra/arith-v1').config.difficulty)"
    out = subprocess.run([sys.executable, "-c", code], env={"OPENENVS_REGISTRY": str(path), "PATH": ""},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"


def test_import_is_light():
    code = (
        "import sys, openenvs; openenvs.spec('math/arithmetic-v1');"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'vllm', 'openenvs.envs.arithmetic.env', 'gymnasium', 'datasets')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_default_registry_shortcuts():
    assert openenvs.spec("math/arithmetic-v1").id == "math/arithmetic-v1"
    assert any(s.id == "math/arithmetic-v1" for s in openenvs.list_envs(tags=["arithmetic"]))


def test_broken_provider_is_skipped_in_listing_but_named_when_used(tmp_path, monkeypatch, caplog):
    (tmp_path / "bad_provider.py").write_text("def specs():\n    raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "registry.json"
    entry = _spec("math/arithmetic-v1")
    path.write_text(json.dumps({"envs": [entry], "providers": [{"namespace": "bad", "entry_point": "bad_provider:specs"}]}))
    with caplog.at_level("WARNING"):
        assert [s.id for s in Registry(builtin=path, entry_points=False).list()] == ["math/arithmetic-v1"]
    assert "bad_provider:specs" in caplog.text
    with pytest.raises(RegistrationError, match=r"provider `bad_provider:specs`.*boom"):
        Registry(builtin=path, entry_points=False).make("bad/thing-v0")


def test_first_use_from_many_threads_at_once():
    from concurrent.futures import ThreadPoolExecutor

    for _ in range(5):
        reg = Registry(entry_points=False)
        with ThreadPoolExecutor(8) as pool:
            specs = list(pool.map(lambda _, r=reg: r.spec("math/arithmetic-v1").id, range(16)))
        assert specs == ["math/arithmetic-v1"] * 16


def test_old_environments_paths_still_load_with_a_future_warning(fresh_registry):
    fresh_registry.register(_spec("old/arith-v1", entry_point="environments.arithmetic.env:ArithmeticEnv"))
    with pytest.warns(FutureWarning, match=r"openenvs\.envs\.arithmetic\.env"):
        env = fresh_registry.make("old/arith-v1")
    from openenvs.envs.arithmetic.env import ArithmeticEnv

    assert type(env) is ArithmeticEnv


def test_moved_names_keep_their_old_imports():
    import openenvs
    import openenvs.models
    import openenvs.tools
    import openenvs.verify
    from openenvs import _models

    assert openenvs.verify.MathEnv is openenvs.MathEnv and openenvs.verify.MathConfig is openenvs.MathConfig
    assert openenvs.tools.environment_factory is __import__("openenvs.trl._factory").trl._factory.environment_factory
    assert _models.tiny_model_dir is openenvs.models.tiny_model_dir


def _provider_registry(tmp_path, monkeypatch, source: str, extras: list[str]) -> str:
    (tmp_path / "needs_dep_provider.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "registry.json"
    provider = {"namespace": "dep", "entry_point": "needs_dep_provider:specs", "extras": extras}
    path.write_text(json.dumps({"envs": [_spec("math/arithmetic-v1")], "providers": [provider]}))
    return str(path)


def test_provider_with_a_missing_dependency_raises_missing_dependency_with_the_pip_command(tmp_path, monkeypatch):
    path = _provider_registry(tmp_path, monkeypatch, "import openenvs_no_such_dep\n\ndef specs():\n    return []\n", ["math"])
    pattern = r"`openenvs_no_such_dep` is not installed \(needed for the `dep/\*` environments\).*pip install 'openenvs\[math\]'"
    with pytest.raises(MissingDependency, match=pattern):
        Registry(builtin=path, entry_points=False).make("dep/thing-v1")
    with pytest.raises(MissingDependency, match=pattern):
        Registry(builtin=path, entry_points=False).spec("dep/thing")
    listed = Registry(builtin=path, entry_points=False)
    assert [s.id for s in listed.list()] == ["math/arithmetic-v1"]  # listing still works
    assert list(listed.unavailable()) == ["dep"] and "pip install 'openenvs[math]'" in listed.unavailable()["dep"]
    with pytest.raises(MissingDependency, match=pattern):  # and so does make() after the listing consumed the provider
        listed.make("dep/thing-v1")
    assert "dep/thing-v1" not in listed


def test_provider_importing_its_dependency_late_without_extras_names_the_package(tmp_path, monkeypatch):
    source = "def specs():\n    import openenvs_no_such_dep_late\n    return []\n"
    path = _provider_registry(tmp_path, monkeypatch, source, [])
    with pytest.raises(MissingDependency, match=r"`openenvs_no_such_dep_late`.*pip install openenvs_no_such_dep_late"):
        Registry(builtin=path, entry_points=False).make("dep/thing-v1")
    assert Registry(builtin=path, entry_points=False).unavailable().keys() == {"dep"}
    assert Registry(entry_points=False).unavailable() == {}  # the built-in providers all load here


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{oops", "is not valid JSON"),
        ('["not", "an", "object"]', 'must be an object with an "envs" list'),
        ('{"envs": [], "providers": [{"namespace": "x"}]}', "each provider needs `namespace` and `entry_point`"),
        ('{"envs": [{"id": "bad id"}]}', "Invalid manifest for `bad id`"),
    ],
)
def test_bad_registry_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "registry.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RegistrationError, match=re.escape(message)):
        Registry(builtin=False, entry_points=False).load_file(path)


def test_registry_counts_membership_and_unregisters(fresh_registry):
    assert "math/arithmetic-v1" in fresh_registry and "math/arithmetic" in fresh_registry
    assert "math/nope-v1" not in fresh_registry and "not an id!" not in fresh_registry
    assert len(fresh_registry) == len(fresh_registry.ids()) > 0
    fresh_registry.unregister("math/arithmetic-v1")
    assert "math/arithmetic-v1" not in fresh_registry
