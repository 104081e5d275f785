"""The `rg` provider: one `EnvSpec` per reasoning-gym dataset, listed only when `rg/*` is used."""

from __future__ import annotations

from openenvs import EnvSpec, Source, VerifierInfo
from openenvs._spec import package_version

__all__ = ["EXCLUDED", "specs"]

_HASH_SEEDED = (
    "its generator iterates a set of strings, so its tasks depend on PYTHONHASHSEED: the same seed gives "
    "different tasks in different processes (found by the published episode hashes, tests/episode_hashes.json)"
)
EXCLUDED = {
    "composite": "it mixes other datasets and needs a `datasets` spec; make each dataset directly instead",
    "isomorphic_strings": _HASH_SEEDED,
    "knight_swap": _HASH_SEEDED,
    "polynomial_multiplication": _HASH_SEEDED,
    "ransom_note": _HASH_SEEDED,
}
"""reasoning-gym datasets that get no `rg/*` id, with the reason."""


def specs() -> list[EnvSpec]:
    """Return the manifests of `rg/<name>-v0` for every registered reasoning-gym dataset."""
    from reasoning_gym.factory import DATASETS

    version = package_version("reasoning-gym")
    out = []
    for name, (dataset_cls, _config_cls) in sorted(DATASETS.items()):
        if name in EXCLUDED:
            continue
        doc = (dataset_cls.__doc__ or "").strip().split("\n")[0].strip() or f"reasoning-gym's {name} tasks."
        category = dataset_cls.__module__.split(".")[1] if dataset_cls.__module__.count(".") >= 2 else "misc"
        out.append(
            EnvSpec(
                id=f"rg/{name}-v0",
                entry_point="openenvs.envs.reasoning_gym.env:ReasoningGymEnv",
                description=f"{doc.rstrip('.')}. Answer in <answer> tags; scored by reasoning-gym's score_answer.",
                license="Apache-2.0",
                kind="single-turn",
                tags=["reasoning-gym", category],
                reward_range=(0.0, 1.0),
                sources=[
                    Source(
                        kind="upstream",
                        title="reasoning-gym",
                        url="https://github.com/open-thought/reasoning-gym",
                        license="Apache-2.0",
                    )
                ],
                verifier=VerifierInfo(name=f"reasoning_gym:{name}.score_answer", version=version),
                extras=["math"],
                packages=["reasoning-gym"],
                kwargs={"dataset": name},
            )
        )
    return out
