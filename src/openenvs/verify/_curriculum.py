"""A curriculum: declarative difficulty levels that advance as rolling accuracy rises.

>>> from openenvs.verify import Curriculum
>>> cur = Curriculum("math/arithmetic-v1", levels=[{"difficulty": 1}, {"difficulty": 2}], threshold=0.75, window=4)
>>> cur.update([True, True, True, True])
True
>>> cur.level, cur.kwargs
(1, {'difficulty': 2})
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._env import Env
from .._errors import ConfigError

__all__ = ["Curriculum"]


class Curriculum:
    """Levels of env kwargs and a rule to move up: rolling accuracy over `window` episodes ≥ `threshold`.

    Args:
        env_id: Registered environment id the levels configure.
        levels: One mapping of env kwargs per level, easiest first. Field names are checked against
            the env's config when the curriculum is built.
        threshold: Rolling accuracy (mean of the last `window` outcomes) that moves to the next level.
        window: Number of recent outcomes averaged; the window is cleared on each level change.
        start: Index of the first level.

    Raises:
        ConfigError: No levels, a threshold outside (0, 1], or a level naming a field the env lacks.
    """

    def __init__(
        self,
        env_id: str,
        levels: Sequence[Mapping[str, Any]],
        *,
        threshold: float = 0.8,
        window: int = 64,
        start: int = 0,
    ) -> None:
        """Check the levels against the env's config and start at level `start`."""
        if not levels:
            raise ConfigError(
                "A curriculum needs at least one level, e.g. levels=[{'difficulty': 1}, {'difficulty': 2}]."
            )
        if not 0 < threshold <= 1:
            raise ConfigError(f"threshold is an accuracy in (0, 1]; got {threshold}.")
        if window < 1:
            raise ConfigError(f"window must be at least 1 episode; got {window}.")
        if not 0 <= start < len(levels):
            raise ConfigError(f"start must index one of the {len(levels)} levels; got {start}.")
        self.env_id = env_id
        self.levels = [dict(level) for level in levels]
        self.threshold = threshold
        self.window = window
        self.level = start
        self._outcomes: deque[float] = deque(maxlen=window)
        fields = _config_fields(env_id)
        for number, level in enumerate(self.levels):
            unknown = sorted(set(level) - fields)
            if unknown and fields:
                raise ConfigError(
                    f"Curriculum level {number} of `{env_id}` sets unknown field(s) {unknown}; "
                    f"valid fields: {', '.join(sorted(fields))}."
                )

    @classmethod
    def for_env(cls, env_id: str, *, threshold: float = 0.8, window: int = 64) -> Curriculum:
        """One level per value of the env's integer `difficulty` field, from its lower to its upper bound."""
        from .._api import spec

        config_cls = getattr(_env_class(env_id), "Config", None)
        field = getattr(config_cls, "model_fields", {}).get("difficulty")
        if field is None:
            raise ConfigError(f"`{env_id}` has no `difficulty` field; pass levels=[...] to Curriculum instead.")
        low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        if low is None or high is None:
            raise ConfigError(f"`difficulty` of `{env_id}` has no ge/le bounds; pass levels=[...] explicitly.")
        base = spec(env_id).kwargs.get("difficulty", low)
        return cls(
            env_id,
            [{"difficulty": d} for d in range(int(low), int(high) + 1)],
            threshold=threshold,
            window=window,
            start=int(base) - int(low),
        )

    @property
    def kwargs(self) -> dict[str, Any]:
        """The env kwargs of the current level."""
        return dict(self.levels[self.level])

    @property
    def accuracy(self) -> float | None:
        """Mean of the outcomes recorded at this level (None before the first)."""
        return sum(self._outcomes) / len(self._outcomes) if self._outcomes else None

    @property
    def done(self) -> bool:
        """True at the last level."""
        return self.level == len(self.levels) - 1

    def update(self, outcomes: bool | float | Iterable[bool | float]) -> bool:
        """Record episode outcomes (correct flags or rewards in [0, 1]); True when the level went up.

        The level rises by one when the window is full and its mean reaches `threshold`.
        """
        values = [outcomes] if isinstance(outcomes, (bool, int, float)) else list(outcomes)
        advanced = False
        for value in values:
            self._outcomes.append(float(value))
            if not self.done and len(self._outcomes) == self.window and self.accuracy is not None:
                if self.accuracy >= self.threshold:
                    self.level += 1
                    self._outcomes.clear()
                    advanced = True
        return advanced

    def make(self, **overrides: Any) -> Env:
        """Build the env at the current level (`overrides` win over the level's kwargs)."""
        from .._api import make

        return make(self.env_id, **{**self.kwargs, **overrides})

    def state_dict(self) -> dict[str, Any]:
        """Return the level and recent outcomes, to save with a checkpoint."""
        return {"level": self.level, "outcomes": list(self._outcomes)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved."""
        self.level = int(state["level"])
        self._outcomes = deque((float(v) for v in state.get("outcomes", [])), maxlen=self.window)

    def __repr__(self) -> str:
        return f"Curriculum({self.env_id!r}, level={self.level}/{len(self.levels) - 1}, accuracy={self.accuracy})"


def _env_class(env_id: str) -> Any:
    from .._api import spec
    from .._registry import load_entry_point

    manifest = spec(env_id)
    return load_entry_point(manifest.entry_point, env_id=manifest.id, extras=manifest.extras)


def _config_fields(env_id: str) -> set[str]:
    config_cls = getattr(_env_class(env_id), "Config", None)
    return set(getattr(config_cls, "model_fields", {}))
