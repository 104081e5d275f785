r"""Answer extraction: pull the final answer out of a model completion.

Every style scans the text once (linear time), so a 100 kB completion of unbalanced braces costs
milliseconds, not minutes. Styles, in the order ``"auto"`` tries them:

- ``"boxed"``: the last ``\boxed{...}`` or ``\fbox{...}`` (nested braces allowed).
- ``"tag"``: the last ``<answer>...</answer>``.
- ``"gsm8k"``: the rest of the line after the last ``####``.
- ``"phrase"``: what follows the last "answer is" / "answer:".
- ``"last_number"``: the last number in the text (``-1,234.5`` or ``3/4``).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

__all__ = ["AnswerStyle", "extract_answer", "extract_boxed"]

AnswerStyle = Literal["auto", "boxed", "tag", "gsm8k", "phrase", "last_number"]
"""Where the final answer sits in a completion; see :func:`extract_answer`."""

_STYLES = get_args(AnswerStyle)
_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_SPACE = re.compile(r"\\boxed +([^\s$]+)")
_PHRASE = re.compile(r"answer\s*(?:is|:)\s*:?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+")


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - keep the last one
        pass
    return found


def extract_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` (or ``\fbox{...}``) in `text`, or None.

    Nested braces are matched; an unclosed last box gives None.

    Example:
        >>> extract_boxed(r"so \boxed{12} and then \boxed{\frac{1}{2}}")
        '\\frac{1}{2}'
        >>> extract_boxed("no box") is None
        True
    """
    last = _last_match(_BOX_START, text)
    if last is None:
        spaced = _last_match(_BOX_SPACE, text)
        return spaced.group(1) if spaced else None
    depth, start = 1, last.end()
    for pos in range(start, len(text)):
        char = text[pos]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:pos].strip()
    return None


def _extract_tag(text: str) -> str | None:
    start = text.rfind("<answer>")
    if start < 0:
        return None
    end = text.find("</answer>", start)
    return text[start + len("<answer>") : end].strip() if end >= 0 else None


def _extract_gsm8k(text: str) -> str | None:
    start = text.rfind("####")
    if start < 0:
        return None
    line = text[start + 4 :].strip().split("\n", 1)[0]
    return line.strip() or None


def _extract_phrase(text: str) -> str | None:
    last = _last_match(_PHRASE, text)
    if last is None:
        return None
    rest = text[last.end() :].split("\n", 1)[0].strip()
    boxed = extract_boxed(rest)
    if boxed is not None:
        return boxed
    rest = re.sub(r"\.\s.*$", "", rest)  # drop any sentence that follows
    return rest.rstrip(".").strip() or None


def _extract_last_number(text: str) -> str | None:
    last = _last_match(_NUMBER, text)
    return last.group(0) if last else None


_EXTRACTORS = {
    "boxed": extract_boxed,
    "tag": _extract_tag,
    "gsm8k": _extract_gsm8k,
    "phrase": _extract_phrase,
    "last_number": _extract_last_number,
}


def _clean(answer: str) -> str:
    answer = answer.strip()
    while len(answer) >= 2 and answer[0] == "$" and answer[-1] == "$":
        answer = answer[1:-1].strip()
    return answer


def extract_answer(text: str, style: AnswerStyle = "auto") -> str | None:
    r"""Return the final answer in a completion, or None when the style finds nothing.

    Args:
        text: The model's completion.
        style: Where to look: ``"boxed"``, ``"tag"`` (``<answer>``), ``"gsm8k"`` (``####``),
            ``"phrase"`` ("The answer is ..."), ``"last_number"``, or ``"auto"``, which tries them in
            that order and returns the first found.

    Returns:
        The answer text with surrounding whitespace and ``$`` removed, or None.

    Raises:
        ValueError: `style` is not one of the styles above.

    Example:
        >>> extract_answer(r"... so it is \boxed{\frac{3}{4}}.")
        '\\frac{3}{4}'
        >>> extract_answer("Natalia sold 72 clips.\n#### 72")
        '72'
        >>> extract_answer("The answer is 1,234.")
        '1,234'
        >>> extract_answer("I think 3 then 7", style="last_number")
        '7'
        >>> extract_answer("no answer here", style="boxed") is None
        True
    """
    if style == "auto":
        for extractor in _EXTRACTORS.values():
            found = extractor(text)
            if found is not None and _clean(found):
                return _clean(found)
        return None
    chosen = _EXTRACTORS.get(style)
    if chosen is None:
        raise ValueError(f"Unknown answer style {style!r}; use one of {', '.join(map(repr, _STYLES))}.")
    found = chosen(text)
    return _clean(found) if found is not None and _clean(found) else None
