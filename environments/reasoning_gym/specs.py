"""The `rg` provider: one `EnvSpec` per reasoning-gym dataset, listed only when `rg/*` is used."""

from __future__ import annotations

from openenvs import EnvSpec, Source, VerifierInfo
from openenvs._spec import package_version

__all__ = ["CHANCE", "EXCLUDED", "specs"]

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


CHANCE: dict[str, float] = {
    "acre": 0.49,  # a constant 'off' scores this
    "aiw": 0.27,  # a constant '7' scores this
    "arc_agi": 0.05,  # a constant '0' scores this (partial credit or a common answer)
    "binary_alternation": 0.25,  # a constant '4' scores this
    "calendar_arithmetic": 0.14,  # a constant 'Thursday' scores this
    "circuit_logic": 0.63,  # a constant '0' scores this
    "coin_flip": 0.1,  # a constant '1' scores this
    "color_cube_rotation": 0.14,  # a constant 'indigo' scores this
    "count_bits": 0.22,  # a constant '13' scores this
    "countdown": 0.05,  # upstream scorer pays the `huge_output` probe
    "course_schedule": 0.5,  # a constant 'True' scores this
    "family_relationships": 0.21,  # a constant 'son' scores this
    "figlet_font": 0.05,  # upstream scorer pays the `everything_interval` probe
    "game_of_life": 0.97,  # the most common gold answer scores this
    "game_of_life_halting": 0.55,  # a constant 'True' scores this
    "gcd": 0.35,  # a constant '2' scores this
    "intermediate_integration": 0.07,  # the most common gold answer scores this
    "isomorphic_strings": 0.52,  # a constant 'False' scores this
    "knight_swap": 0.24,  # a constant 'No' scores this
    "knights_knaves": 0.06,  # upstream scorer pays the `question_words` probe
    "largest_island": 0.19,  # a constant '0' scores this (partial credit or a common answer)
    "lcm": 0.07,  # some items ask for the lcm of a number and itself, which the question states
    "letter_counting": 0.33,  # a constant '2' scores this
    "list_functions": 0.15,  # a constant '[1]' scores this
    "mahjong_puzzle": 0.41,  # a constant 'Pass' scores this
    "manipulate_matrix": 0.05,  # a constant '0' scores this
    "maze": 0.29,  # a constant '5' scores this
    "number_sequence": 0.18,  # a constant '-1' scores this
    "palindrome_generation": 0.05,  # upstream scorer pays the `text_any` probe
    "polynomial_equations": 0.37,  # a constant '0' scores this (partial credit or a common answer)
    "power_function": 0.11,  # a constant '1' scores this
    "propositional_logic": 0.1,  # a constant '0' scores this
    "ransom_note": 0.68,  # a constant 'False' scores this
    "rearc": 0.07,  # a constant '0' scores this (partial credit or a common answer)
    "rectangle_count": 0.39,  # upstream scorer pays the `question_numbers` probe
    "rotten_oranges": 0.35,  # a constant '-1' scores this
    "self_reference": 0.38,  # a constant '2' scores this
    "sentence_reordering": 0.05,  # upstream scorer pays the `huge_output` probe
    "shortest_path": 0.4,  # a constant 'infeasible' scores this
    "spell_backward": 0.06,  # upstream scorer pays the `null_values` probe
    "syllogism": 0.65,  # a constant 'Yes' scores this
    "time_intervals": 0.06,  # a constant '0' scores this (partial credit or a common answer)
    "tower_of_hanoi": 0.07,  # the most common gold answer scores this
    "tsumego": 0.11,  # a constant 'E5' scores this
    "zebra_puzzles": 0.35,  # a constant 'alice' scores this
}
"""Measured chance baselines (`EnvSpec.chance_reward`): the mean reward, over 64 seeds, of the best
constant answer (the most common gold answer, or True/False/Yes/No/0/1/...) or of the best
reward-hack probe of `openenvs.testing`, where above 0.04. Datasets not listed pay nothing to an
answer that ignores the task."""


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
                chance_reward=CHANCE.get(name, 0.0),
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
