"""The environment registry: built-in manifests, package entry points and run-time registrations.

Sources, all read lazily on first use:

1. ``registry.json`` (built-in environments): ``{"envs": [EnvSpec...], "providers": [...]}``.
   A provider is ``{"namespace": "rg", "entry_point": "module:specs", "extras": [...]}``: a
   function returning a list of `EnvSpec`, called only when an id in its namespace is asked for
   or when all environments are listed (so optional dependencies load only when needed).
   A provider whose dependency is missing makes its namespace *unavailable*: `make` and `spec`
   of an id in it raise `MissingDependency` with the pip command, and `Registry.unavailable`
   (shown by ``openenvs list``) names the namespace and the reason.
   Extra registry files listed in ``$OPENENVS_REGISTRY`` (os.pathsep-separated) load after it.
2. The entry-point group ``openenvs.environments``: each entry point names a callable returning
   a list of `EnvSpec` (or the list itself).
3. ``register(spec)`` at run time.

Environment modules are imported only by `make`.
"""

from __future__ import annotations

import builtins
import difflib
import importlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from ._env import Env
from ._errors import DeprecatedEnv, EnvNotFound, MissingDependency, RegistrationError, VersionNotFound
from ._spec import EnvSpec, parse_env_id

__all__ = ["ENTRY_POINT_GROUP", "EnvFactory", "Registry", "builtin_registry_path", "load_entry_point"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "openenvs.environments"


class EnvFactory(Protocol):
    """Anything `make` can call with keyword arguments to build an `Env` (usually an `Env` subclass)."""

    def __call__(self, **kwargs: Any) -> Env: ...  # noqa: D102


def builtin_registry_path() -> Path:
    """Where the built-in registry.json lives (inside the wheel, or at the source checkout's root)."""
    packaged = Path(__file__).with_name("registry.json")
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[2] / "registry.json"


_OLD_ENVS_PACKAGE = "environments."
_ENVS_PACKAGE = "openenvs.envs."
_REMOVAL = "0.3.0"


def _renamed_module(module_name: str) -> str:
    """Map the pre-0.2 top-level ``environments.<family>`` paths to ``openenvs.envs.<family>`` (with a FutureWarning).

    Only families that openenvs ships are redirected; a project's own ``environments`` package is left alone.
    """
    if not module_name.startswith(_OLD_ENVS_PACKAGE):
        return module_name
    family = module_name[len(_OLD_ENVS_PACKAGE) :].split(".", 1)[0]
    bundled = Path(__file__).resolve().parent / "envs" / family
    if not bundled.is_dir():
        return module_name
    new = _ENVS_PACKAGE + module_name[len(_OLD_ENVS_PACKAGE) :]
    warnings.warn(
        f"The module path `{module_name}` is deprecated and will stop working in openenvs {_REMOVAL}: "
        f"the built-in environments install as `openenvs.envs`; use `{new}`.",
        FutureWarning,
        stacklevel=3,
    )
    return new


def load_entry_point(entry_point: str, *, env_id: str | None = None, extras: Iterable[str] = ()) -> Any:
    """Import ``module:attr`` and return the attribute, with an error that names the fix."""
    module_name, _, attr = entry_point.partition(":")
    module_name = _renamed_module(module_name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        extra = next(iter(extras), None)
        if extra and not module_name.startswith(missing):
            raise MissingDependency(missing, extra, purpose=env_id or entry_point) from exc
        what = f"environment `{env_id}`" if env_id else "entry point"
        raise RegistrationError(
            f"The {what} points to `{entry_point}`, but module `{missing}` cannot be imported ({exc}). "
            "Check the manifest's `entry_point`, or install the package that provides it."
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise RegistrationError(
                f"Entry point `{entry_point}`: module `{module_name}` has no attribute `{attr}`. "
                "Fix the `entry_point` field of the manifest."
            ) from None
    return obj


def _missing_for_namespace(exc: ImportError, namespace: str, extra: str | None) -> MissingDependency:
    """The `MissingDependency` that says which package the environments of `namespace` need."""
    purpose = f"the `{namespace}/*` environments"
    if isinstance(exc, MissingDependency):
        error = MissingDependency(exc.package, exc.extra or extra, purpose=purpose)
    else:
        error = MissingDependency(exc.name or str(exc), extra, purpose=purpose)
    error.__cause__ = exc
    return error


def _validate_spec(data: Any, origin: str) -> EnvSpec:
    if isinstance(data, EnvSpec):
        return data
    try:
        return EnvSpec.model_validate(data)
    except ValidationError as exc:
        env_id = data.get("id", "?") if isinstance(data, dict) else "?"
        problems = "; ".join(
            f"field `{'.'.join(str(p) for p in e['loc'])}`: {e['msg']}" for e in exc.errors()
        )
        raise RegistrationError(f"Invalid manifest for `{env_id}` in {origin}: {problems}.") from None


class Registry:
    """A set of environment manifests with `register`, `make`, `spec` and `list`.

    There is one default instance (``openenvs.registry``); tests and tools may build their own.
    Duplicate ids raise `RegistrationError` rather than overwrite.
    """

    def __init__(self, *, builtin: Path | None | bool = True, entry_points: bool = True) -> None:
        """Create a registry; `builtin` is a registry.json path (True: the packaged one, False: none)."""
        self._specs: dict[str, EnvSpec] = {}
        self._providers: dict[str, dict[str, Any]] = {}
        self._unavailable: dict[str, MissingDependency] = {}  # namespace -> why its provider cannot load
        self._builtin = builtin_registry_path() if builtin is True else (builtin or None)
        self._use_entry_points = entry_points
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()  # first use may come from several threads at once

    # -- loading -----------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:  # re-entrant: a plugin that calls register() while loading gets through
            if self._loaded or self._loading:
                return
            self._loading = True
            try:
                self._load_sources()
                self._loaded = True
            finally:
                self._loading = False

    def _load_sources(self) -> None:
        if self._builtin is not None:
            self.load_file(self._builtin)
            for extra in filter(None, os.environ.get("OPENENVS_REGISTRY", "").split(os.pathsep)):
                self.load_file(extra)
        if self._use_entry_points:
            self._load_entry_points()

    def load_file(self, path: str | Path) -> None:
        """Register every manifest (and provider) in a registry.json file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RegistrationError(f"Registry file {path} does not exist.") from None
        except json.JSONDecodeError as exc:
            raise RegistrationError(f"Registry file {path} is not valid JSON: {exc}.") from None
        if not isinstance(data, dict) or not isinstance(data.get("envs"), list):
            raise RegistrationError(f'Registry file {path} must be an object with an "envs" list.')
        for entry in data["envs"]:
            self._add(_validate_spec(entry, str(path)), origin=str(path))
        for provider in data.get("providers", []):
            if not isinstance(provider, dict) or not {"namespace", "entry_point"} <= provider.keys():
                raise RegistrationError(f"Registry file {path}: each provider needs `namespace` and `entry_point`.")
            self._providers[provider["namespace"]] = dict(provider)

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep.dist, "name", None) or "?"
            origin = f"package `{dist}` (entry point `{ep.name} = {ep.value}`)"
            try:
                obj = ep.load()
                specs = obj() if callable(obj) else obj
            except Exception as exc:  # a broken plugin must not break the registry
                raise RegistrationError(f"Could not load environments from {origin}: {exc!r}.") from exc
            if not isinstance(specs, Iterable) or isinstance(specs, (str, bytes, dict)):
                raise RegistrationError(f"{origin} must return a list of EnvSpec, got {type(specs).__name__}.")
            for entry in specs:
                self._add(_validate_spec(entry, origin), origin=origin)

    def _load_provider(self, namespace: str, strict: bool = True) -> None:
        """Call the provider of `namespace`; a failure raises if `strict`, else is logged and skipped."""
        with self._lock:
            self._load_provider_locked(namespace, strict)

    def _load_provider_locked(self, namespace: str, strict: bool) -> None:
        provider = self._providers.pop(namespace, None)
        if provider is None:
            return
        extras = provider.get("extras", [])
        try:
            factory = load_entry_point(provider["entry_point"], extras=extras)
            specs = factory()
        except ImportError as exc:  # MissingDependency included
            missing = _missing_for_namespace(exc, namespace, next(iter(extras), None))
            self._unavailable[namespace] = missing
            if strict:
                raise missing from exc
            # Listing goes on without them; `unavailable()` (and `openenvs list`) report the namespace.
            logger.info("Environments in namespace `%s` are unavailable: %s", namespace, missing)
            return
        except Exception as exc:
            error = RegistrationError(
                f"The provider `{provider['entry_point']}` of namespace `{namespace}` failed: {exc!r}. "
                "Fix the provider function (it must return a list of EnvSpec)."
            )
            if strict:
                raise error from exc
            logger.warning("%s", error)
            return
        for entry in specs:
            spec = _validate_spec(entry, f"provider `{provider['entry_point']}`")
            if spec.id not in self._specs:
                self._specs[spec.id] = spec

    def unavailable(self) -> dict[str, str]:
        """Namespaces whose provider could not load (a dependency is missing), each with the reason and pip command."""
        self._ensure_loaded()
        self._load_all_providers()
        return {namespace: str(error) for namespace, error in sorted(self._unavailable.items())}

    def _load_all_providers(self) -> None:
        for namespace in list(self._providers):
            self._load_provider(namespace, strict=False)

    def _add(self, spec: EnvSpec, origin: str) -> None:
        if spec.id in self._specs:
            raise RegistrationError(
                f"Environment `{spec.id}` is already registered; {origin} registers it again. "
                "Ids are unique: bump the version (-vN) or choose another namespace."
            )
        self._specs[spec.id] = spec

    # -- public API --------------------------------------------------------------------------
    def register(self, spec: EnvSpec | dict[str, Any]) -> EnvSpec:
        """Add a manifest at run time; a duplicate id raises `RegistrationError`."""
        self._ensure_loaded()
        validated = _validate_spec(spec, "register()")
        self._add(validated, origin="register()")
        return validated

    def unregister(self, env_id: str) -> None:
        """Remove a manifest (mainly for tests)."""
        self._ensure_loaded()
        self._specs.pop(env_id, None)

    def resolve(self, env_id: str) -> str:
        """Turn a possibly unversioned id into a registered, versioned id (or raise with suggestions)."""
        self._ensure_loaded()
        if env_id in self._specs:
            return env_id
        try:
            namespace, name, version = parse_env_id(env_id)
        except ValueError as exc:
            raise EnvNotFound(f"{exc}{self._suggest(env_id)}") from None
        if namespace is not None and namespace in self._providers:
            self._load_provider(namespace)
            if env_id in self._specs:
                return env_id
        if namespace is not None and namespace in self._unavailable:
            raise self._unavailable[namespace]
        base = f"{namespace}/{name}" if namespace else name
        versions = sorted(s.version for s in self._specs.values() if s.base_id == base)
        if version is None and versions:
            latest = f"{base}-v{versions[-1]}"
            logger.info("`%s` has no version; using the latest, `%s`.", env_id, latest)
            return latest
        if versions:
            listed = ", ".join(f"`{base}-v{v}`" for v in versions)
            raise VersionNotFound(f"Environment `{base}` has no version {version}. Available: {listed}.")
        self._load_all_providers()
        if env_id in self._specs:
            return env_id
        raise EnvNotFound(f"Environment `{env_id}` not found.{self._suggest(env_id)}")

    def _suggest(self, env_id: str) -> str:
        ids = list(self._specs)
        close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.5)
        if not close:
            by_name = {i.split("/")[-1]: i for i in ids}
            close = [by_name[m] for m in difflib.get_close_matches(env_id.split("/")[-1], list(by_name), n=3)]
        if close:
            return " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
        return " Run `openenvs list` to see the registered ids."

    def spec(self, env_id: str) -> EnvSpec:
        """The manifest of `env_id` (unversioned ids resolve to the latest version)."""
        return self._specs[self.resolve(env_id)]

    def make(self, env_id: str | EnvSpec, **kwargs: Any) -> Env:
        """Build an environment; kwargs override the manifest's defaults and go to the env."""
        spec = env_id if isinstance(env_id, EnvSpec) else self.spec(env_id)
        if spec.deprecated_by:
            raise DeprecatedEnv(
                f"Environment `{spec.id}` is deprecated; use `{spec.deprecated_by}` instead "
                "(scores or data changed between versions)."
            )
        factory = load_entry_point(spec.entry_point, env_id=spec.id, extras=spec.extras)
        instance_spec = spec.with_kwargs(**kwargs)
        env = factory(**instance_spec.kwargs)
        if not isinstance(env, Env):
            raise RegistrationError(
                f"Entry point `{spec.entry_point}` of `{spec.id}` returned {type(env).__name__}, "
                "not an openenvs.Env; point it at an Env subclass or a factory returning one."
            )
        env.spec = instance_spec
        if spec.max_turns is not None and env.max_turns is None:
            env.max_turns = spec.max_turns
        return env

    def list(self, tags: Iterable[str] | None = None, namespace: str | None = None) -> builtins.list[EnvSpec]:
        """Manifests sorted by id, filtered to those carrying every tag in `tags`."""
        self._ensure_loaded()
        if namespace is not None:
            self._load_provider(namespace)
        else:
            self._load_all_providers()
        wanted = set(tags or ())
        return sorted(
            (s for s in self._specs.values() if wanted <= set(s.tags) and (namespace is None or s.namespace == namespace)),
            key=lambda s: s.id,
        )

    def ids(self) -> builtins.list[str]:
        """All registered ids (providers included), sorted."""
        return [s.id for s in self.list()]

    def __contains__(self, env_id: object) -> bool:
        try:
            self.resolve(str(env_id))
        except Exception:
            return False
        return True

    def __len__(self) -> int:
        return len(self.list())
