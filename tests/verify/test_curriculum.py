from __future__ import annotations

import pytest

from openenvs import ConfigError
from openenvs.verify import Curriculum

LEVELS = [{"difficulty": d} for d in (1, 2, 3)]


def test_advances_when_rolling_accuracy_reaches_threshold():
    cur = Curriculum("math/arithmetic-v1", LEVELS, threshold=0.75, window=4)
    assert cur.level == 0 and cur.kwargs == {"difficulty": 1} and cur.accuracy is None
    assert cur.update([True, False, True]) is False  # window not full yet
    assert cur.update(False) is False and cur.accuracy == 0.5
    assert cur.update([1.0, 1.0]) is True  # window slid to [True, False, 1, 1]: 0.75
    assert cur.level == 1 and cur.accuracy is None  # the window restarts at each level
    cur.update([True] * 4)
    assert cur.done and cur.kwargs == {"difficulty": 3}
    cur.update([True] * 8)
    assert cur.level == 2  # stays at the last level


def test_make_builds_the_current_level():
    cur = Curriculum("math/fractions-v1", LEVELS, threshold=0.5, window=1, start=2)
    env = cur.make(seed=3)
    assert env.config.difficulty == 3 and env.config.seed == 3
    env.reset(seed=0)
    assert env.task.difficulty == 3


def test_for_env_reads_difficulty_bounds_and_state_round_trips():
    cur = Curriculum.for_env("math/arithmetic-hard-v1", threshold=0.9, window=2)
    assert [lv["difficulty"] for lv in cur.levels] == [1, 2, 3, 4, 5] and cur.level == 3  # preset starts at 4
    cur.update([True, True])
    state = cur.state_dict()
    other = Curriculum.for_env("math/arithmetic-v1")
    other.load_state_dict(state)
    assert other.level == 4


@pytest.mark.parametrize(
    ("levels", "kwargs", "match"),
    [
        ([{"dificulty": 2}], {}, "unknown field.*dificulty"),
        ([], {}, "at least one level"),
        (LEVELS, {"threshold": 1.5}, "threshold"),
        (LEVELS, {"window": 0}, "window"),
        (LEVELS, {"start": 5}, "start"),
    ],
)
def test_bad_curricula_name_the_fix(levels, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Curriculum("math/arithmetic-v1", levels, **kwargs)
