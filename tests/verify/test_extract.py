from __future__ import annotations

import pytest

from openenvs.verify import extract_answer, extract_boxed


@pytest.mark.parametrize(
    ("text", "style", "expected"),
    [
        (r"first \boxed{1} then \boxed{\frac{a}{\sqrt{b}}}", "boxed", r"\frac{a}{\sqrt{b}}"),
        (r"\boxed{\{1, 2\}}", "boxed", r"\{1, 2\}"),
        (r"nested \boxed{ {x}^{2} } done", "boxed", "{x}^{2}"),
        (r"\fbox{7}", "boxed", "7"),
        (r"\boxed 5 is it", "boxed", "5"),
        (r"$\boxed{42}$", "auto", "42"),
        ("<think>maybe 3</think><answer> 4 </answer>", "tag", "4"),
        ("<answer>1</answer> and <answer>2</answer>", "tag", "2"),
        ("She has 5 left.\n#### 1,234\n", "gsm8k", "1,234"),
        ("So the final answer is: $12$. Hope that helps.", "phrase", "12"),
        (r"The answer is \boxed{9}, clearly.", "phrase", "9"),
        ("Answer: x = 3", "phrase", "x = 3"),
        ("between 3 and -4.5 lies 1,000", "last_number", "1,000"),
        ("ratio 3/4", "last_number", "3/4"),
        ("#### 7\n<answer>8</answer>", "auto", "8"),
        ("The answer is 6\n#### 7", "auto", "7"),
        ("no markers but 11 apples", "auto", "11"),
    ],
)
def test_styles(text, style, expected):
    assert extract_answer(text, style) == expected


@pytest.mark.parametrize("style", ["boxed", "tag", "gsm8k", "phrase", "last_number", "auto"])
def test_nothing_found_is_none(style):
    assert extract_answer("I am not sure at all.", style) is None


def test_unclosed_box_and_empty_box():
    assert extract_boxed(r"\boxed{12") is None
    assert extract_answer(r"\boxed{}", "boxed") is None
    assert extract_answer("<answer>open", "tag") is None


def test_unknown_style_names_the_choices():
    with pytest.raises(ValueError, match="'boxed'"):
        extract_answer("x", "box")  # type: ignore[arg-type]


STYLES = ["boxed", "tag", "gsm8k", "phrase", "last_number", "auto"]


def _pathological(n: int) -> list[str]:
    """Unbalanced braces, a pile of box openings, a huge number, a repeated phrase: about `n` characters each."""
    return ["\\boxed{" + "{" * n, "\\boxed{" * (n // 7), "1" * n + "x", "answer is " * (n // 10)]


def test_pathological_inputs_give_the_right_answer():
    unbalanced, boxes, digits, phrase = _pathological(100_000)
    for style in STYLES:
        assert extract_answer(unbalanced, style) is None, style  # an unclosed box is no answer
        assert extract_answer(boxes, style) is None, style
        assert extract_answer(phrase, style) is None, style
    assert extract_answer(digits, "last_number") == extract_answer(digits, "auto") == "1" * 100_000
    assert extract_answer(digits, "boxed") is None


@pytest.mark.timeout(60)
def test_pathological_inputs_scale_linearly():
    """4x the input takes about 4x the time (a quadratic scan would take 16x); best of 3, interleaved."""
    import time

    def cost(texts: list[str]) -> float:
        start = time.perf_counter()
        for text in texts:
            for style in STYLES:
                extract_answer(text, style)
        return time.perf_counter() - start

    small, large = _pathological(50_000), _pathological(200_000)
    best_small, best_large = float("inf"), float("inf")
    for _ in range(3):
        best_small = min(best_small, cost(small))
        best_large = min(best_large, cost(large))
    assert best_large / best_small < 10, f"4x the input took {best_large / best_small:.1f}x the time"
