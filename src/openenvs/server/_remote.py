"""`use_remote`: route registered ids to a server, so every `openenvs.make(id)` in this process connects.

Everything that takes an env id (``openenvs eval --env-url``, the rollout `Runner`,
`openenvs.trl.for_grpo` with its ``environment_factory``, PPO) calls `openenvs.make`; after
``use_remote(url)`` those calls return `RemoteEnv` sessions on the server instead of local envs.
The local manifest of each served id is replaced by the server's (with an entry point into this
module), so kwargs, max turns and reward ranges are the server's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .._api import registry
from .._errors import EnvNotFound
from .._spec import EnvSpec
from ._client import _bind, http_url

__all__ = ["use_remote"]

_FACTORIES: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    try:
        return _FACTORIES[name]
    except KeyError:
        raise AttributeError(name) from None


def use_remote(url: str, env_ids: Iterable[str] | None = None, *, token: str | None = None) -> list[str]:
    """Make `openenvs.make(id)` connect to the server at `url` for `env_ids` (default: all it serves).

    Returns the ids now routed to the server; an id the server does not serve raises `EnvNotFound`.
    """
    from ._openenv_client import _get

    base = http_url(url)
    status, listing = _get(base + "/envs", token)
    if status != 200 or not isinstance(listing, dict):
        raise EnvNotFound(
            f"{base}/envs answered HTTP {status}; is {base} an openenvs server (openenvs serve ...)? "
            "A 401 means a token is needed: pass --token-file / token="
        )
    served = {m["id"]: m for m in listing["envs"]}
    wanted = list(env_ids) if env_ids is not None else list(served)
    routed = []
    for env_id in wanted:
        manifest = served.get(env_id)
        if manifest is None:
            try:
                manifest = served.get(registry.resolve(env_id))
            except EnvNotFound:
                manifest = None
        if manifest is None:
            raise EnvNotFound(f"the server at {base} does not serve `{env_id}`; it serves {', '.join(served)}")
        manifest = {k: v for k, v in manifest.items() if k != "fingerprint"}
        key = "remote_" + hashlib.sha256(f"{base} {manifest['id']}".encode()).hexdigest()[:16]
        _FACTORIES[key] = _bind(base, manifest["id"], token, 10.0, str(manifest.get("kind", "")))
        spec = EnvSpec.model_validate({**manifest, "entry_point": f"{__name__}:{key}", "extras": []})
        if spec.id in registry:
            registry.spec(spec.id)  # load its provider first, so it cannot come back later
            registry.unregister(spec.id)
        registry.register(spec)
        routed.append(spec.id)
    return routed
