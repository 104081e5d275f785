r"""The fast path of `math_equal`: plain numbers and small exact expressions, no sympy.

An answer is read as a :class:`Num` when it is an integer (``1,234`` allowed), a decimal, a fraction
(``3/4``, ``\frac{3}{4}``, ``\dfrac34``), a percentage (``12.5\%``) or a short expression of integers
and fractions with ``+ - * / ^`` and parentheses. Sets, tuples and intervals of exact numbers are
compared element by element, and identical answers (up to whitespace) are equal. Anything else
(symbols, roots, units, mixed numbers, implicit products, decimals inside sets) is left to math-verify.

The comparison follows math-verify's rules for the same inputs, so that both paths give the same
verdict: exact values compare exactly; when a decimal is involved both sides are rounded to
6 places, except that a decimal never rounds onto an exact integer (``1.0000004`` is not ``1``);
``50\%`` equals ``50`` and ``0.5`` and ``\frac{1}{2}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

__all__ = ["Num", "fast_equal", "is_literal", "literal_value", "parse_number", "parse_structure"]

_MAX_LEN = 200
_MAX_EXPONENT = 64
_MAX_DIGITS = 400
_DECIMALS = 6

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)|(?P<frac>\\frac)|(?P<op>[-+*/^(){}]))"
)
_PERCENT = re.compile(r"^([-+]?)(\d+(?:\.\d+)?|\.\d+)\s*%$")
_REPLACE = (
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\left(", "("),
    ("\\right)", ")"),
    ("\\cdot", "*"),
    ("\\times", "*"),
    ("\\div", "/"),
    ("{,}", ","),
    ("\\%", "%"),
    ("\\!", ""),
)


@dataclass(frozen=True)
class Num:
    """A number read by the fast path.

    Attributes:
        value: The exact value (a percentage's value is already divided by 100).
        kind: ``"int"`` for an integer literal, ``"float"`` for a decimal literal, ``"exact"`` for a
            fraction or an expression of integers (as sympy would treat them).
        percent: The raw number before ``%``, when the answer was a percentage.
    """

    value: Fraction
    kind: Literal["int", "float", "exact"]
    percent: Fraction | None = None


def _normalize(text: str) -> str:
    text = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) + len(right):
            text = text[len(left) : len(text) - len(right)].strip()
    for old, new in _REPLACE:
        text = text.replace(old, new)
    return text


class _Parser:
    """Recursive descent over the tokens of a short expression; None when outside the grammar."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.has_decimal = False
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise ValueError("outside the grammar")
            kind = m.lastgroup or "op"
            value = m.group(kind)
            if kind == "num" and "." in value:
                self.has_decimal = True
            if self.tokens and kind in ("num", "frac") and self.tokens[-1][0] in ("num", "close"):
                raise ValueError("implicit product")  # `2 3`, `2\frac12`, `)(`: leave to math-verify
            if kind == "op" and value in ")}":
                kind = "close"
            prev = self.tokens[-1] if self.tokens else ("", "")
            if kind == "op" and value == "(" and prev[0] in ("num", "close"):
                raise ValueError("implicit product")
            if kind == "op" and value == "{" and prev[0] == "num":
                raise ValueError("implicit product")
            self.tokens.append((kind, value))
            pos = m.end()
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ValueError("unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, value: str) -> None:
        if self.take()[1] != value:
            raise ValueError(f"expected {value}")

    def expr(self) -> Fraction:
        total = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            rhs = self.term()
            total = total + rhs if op == "+" else total - rhs
        return total

    def term(self) -> Fraction:
        total = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            rhs = self.unary()
            if op == "/" and rhs == 0:
                raise ValueError("division by zero")
            total = total * rhs if op == "*" else total / rhs
        return total

    def unary(self) -> Fraction:
        if self.peek() in ("+", "-"):
            sign = self.take()[1]
            value = self.unary()
            return -value if sign == "-" else value
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        if self.peek() == "{":
            self.take()
            exponent = self.expr()
            self.expect("}")
        else:
            kind, text = self.take()
            if kind != "num" or not text.isdigit() or len(text) != 1:
                raise ValueError("exponent must be one digit or braced")
            exponent = Fraction(text)
        if self.peek() == "^":
            raise ValueError("chained powers are ambiguous")
        if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT or (base == 0 and exponent < 0):
            raise ValueError("exponent out of range")
        digits = max(len(str(abs(base.numerator))), len(str(base.denominator)))
        if digits * abs(exponent) > _MAX_DIGITS:
            raise ValueError("power too large")
        return base ** int(exponent)

    def atom(self) -> Fraction:
        kind, text = self.take()
        if kind == "num":
            return Fraction(text.replace(",", ""))
        if kind == "frac":
            num = self.group()
            den = self.group()
            if den == 0:
                raise ValueError("division by zero")
            return num / den
        if text in "({":
            value = self.expr()
            self.expect(")" if text == "(" else "}")
            return value
        raise ValueError(f"unexpected {text}")

    def group(self) -> Fraction:
        kind, text = self.take()
        if text == "{":
            value = self.expr()
            self.expect("}")
            return value
        if kind == "num" and text.isdigit():
            # `\frac12`: one digit per argument, the rest of the literal stays for the next group
            if len(text) == 1:
                return Fraction(text)
            self.tokens[self.pos - 1] = ("num", text[1:])
            self.pos -= 1
            return Fraction(text[0])
        raise ValueError("bad \\frac argument")


def parse_number(text: str) -> Num | None:
    r"""Read `text` as a number or a short exact expression; None when it is anything else.

    Example:
        >>> parse_number(r"\frac{3}{4}").value
        Fraction(3, 4)
        >>> parse_number("12.5%").value
        Fraction(1, 8)
        >>> parse_number(r"\sqrt{2}") is None
        True
    """
    if len(text) > _MAX_LEN:
        return None
    text = _normalize(text)
    if not text:
        return None
    pct = _PERCENT.match(text)
    if pct:
        raw = Fraction(pct.group(2)) * (-1 if pct.group(1) == "-" else 1)
        return Num(raw / 100, "float" if "." in pct.group(2) else "int", percent=raw)
    if text in ("0.5", ".5"):  # math-verify reads exactly this literal as \frac{1}{2}
        return Num(Fraction(1, 2), "exact")
    try:
        parser = _Parser(text)
        if not parser.tokens:
            return None
        value = parser.expr()
        if parser.pos != len(parser.tokens):
            return None
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    single = len(parser.tokens) == 1 or (len(parser.tokens) == 2 and parser.tokens[0][1] in "+-")
    if parser.has_decimal:
        if not single:
            return None  # float arithmetic: math-verify compares these numerically; leave it to it
        return Num(value, "float")
    if single:
        return Num(value, "int")
    return Num(value, "exact")


def _round(value: Fraction) -> Fraction:
    return Fraction(round(value, _DECIMALS))


def _is_integer_typed(num: Num) -> bool:
    """Whether sympy would hold this value as an Integer after evaluation."""
    return num.kind != "float" and num.value.denominator == 1


_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")


def _split_top(inner: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for pos, char in enumerate(inner):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(inner[start:pos])
            start = pos + 1
    parts.append(inner[start:])
    return parts


def parse_structure(text: str) -> tuple[str, list[Fraction]] | None:
    r"""Read a set, tuple or interval of exact numbers: ``\{1, 2\}``, ``(3, -4)``, ``[0, \frac12)``.

    Returns ``(shape, values)`` where shape is ``"set"`` or the bracket pair (``"()"``, ``"[)"``, ...),
    or None when `text` is anything else, or when an element is a decimal (left to math-verify).

    Example:
        >>> parse_structure(r"\{3, -3\}")
        ('set', [Fraction(3, 1), Fraction(-3, 1)])
    """
    if len(text) > _MAX_LEN:
        return None
    text = _normalize(text)
    if text.startswith("\\{") and text.endswith("\\}"):
        shape, inner = "set", text[2:-2]
    elif len(text) >= 2 and text[0] in "([" and text[-1] in ")]":
        shape, inner = text[0] + text[-1], text[1:-1]
    else:
        return None
    if _THOUSANDS.match(inner.strip()):
        return None
    parts = _split_top(inner)
    if len(parts) < 2 or (shape not in ("set", "()") and len(parts) != 2):
        return None
    values = []
    for part in parts:
        if "." in part or "%" in part:
            return None  # decimals inside structures follow sympy's float rules: leave them to math-verify
        num = parse_number(part)
        if num is None or num.kind == "float" or num.percent is not None:
            return None
        values.append(num.value)
    if shape != "set" and len(values) == 2 and values[0] >= values[1]:
        return None  # empty, one-point or reversed interval (or a pair?): sympy's reading decides
    return shape, values


_ASSIGNMENT = re.compile(r"^\s*\$?\s*([a-df-hj-zA-DF-HJ-Z])\s*=\s*(.+?)\s*\$?\s*$")


def _assigned(text: str) -> Num | None:
    """The number in ``x = 5`` (one Latin letter other than e and i, which sympy reads as constants)."""
    m = _ASSIGNMENT.match(text)
    if m is None or "=" in m.group(2):
        return None
    num = parse_number(m.group(2))
    return num if num is not None and num.percent is None else None


def fast_equal(pred: str, gold: str) -> bool | None:
    r"""Compare two answers on the fast path; None when either is outside it.

    Example:
        >>> fast_equal("0.75", r"\frac{3}{4}")
        True
        >>> fast_equal("1,234", "1234")
        True
        >>> fast_equal("x + 1", "2") is None
        True
    """
    if pred.split() == gold.split() and pred.strip():
        return True  # math-verify compares the normalized strings too, so identical answers always match
    a, b = parse_number(pred), parse_number(gold)
    if a is not None and b is not None:
        return num_equal(a, b)
    if a is not None or b is not None:
        # `x = 5` against a plain number: math-verify compares the right-hand side
        assigned = _assigned(gold if a is not None else pred)
        number = a if a is not None else b
        if assigned is None or number is None:
            return None
        return num_equal(assigned, number)
    sa, sb = parse_structure(pred), parse_structure(gold)
    if sa is None or sb is None or sa[0] != sb[0]:
        return None
    if sa[0] == "set":
        return set(sa[1]) == set(sb[1])
    return sa[1] == sb[1]


def num_equal(a: Num, b: Num) -> bool:
    """Equality of two fast-path numbers under math-verify's rules (see the module docstring)."""
    if a.value == b.value:
        return True
    if a.kind == "float" or b.kind == "float":
        if _is_integer_typed(a) or _is_integer_typed(b):
            return False
        return _round(a.value) == _round(b.value)
    atomic_int = (a.kind == "int") and (b.kind == "int")
    if atomic_int and (a.percent is not None or b.percent is not None):
        raw_a = a.percent if a.percent is not None else a.value
        raw_b = b.percent if b.percent is not None else b.value
        return raw_a == raw_b
    return False


# --------------------------------------------------------------------------- answers that must be values

_PLAIN = re.compile(
    r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$"  # 12, -1,234.5, 12.5%
    r"|^[-+]?\.\d+%?$"  # .5
    r"|^[-+]?\d+/\d+$"  # 3/4
    r"|^[-+]?\\frac(?:\{[-+]?\d+\}\{[-+]?\d+\}|\d\d)$"  # \frac{3}{4}, \frac34
)
_SCIENTIFIC = re.compile(
    r"^([-+]?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*|x)\s*10\^\{?([-+]?\d{1,3})\}?$|^([-+]?\d+(?:\.\d+)?)e([-+]?\d{1,3})$"
)
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}(?:\s*\^\s*\{?\d\}?)?")
_DECORATIONS = re.compile(
    r"\\[$%]?(?=\d)|\\\$|\$|\^\s*\{?\s*\\circ\s*\}?|°|\\[,;:! ]|~|\\quad|\\qquad|\\displaystyle|\\left|\\right"
)
_LEAD = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?\s*(?:=|\\equiv)\s*)+")
_MODULUS = re.compile(r"\s*(?:\\pmod\s*\{[^{}]*\}|\(\s*\\(?:bmod|mod)\s*[^()]*\)|\\bmod\s*\d+)\s*$")
_TWO_NUMBERS = re.compile(r"[\d}.]\s+[-+\d\\{.]")
_WORDS = re.compile(r"(?<![\\\w])[A-Za-z][A-Za-z.]*(?:\s+[A-Za-z][A-Za-z.]*)*")


def literal_value(answer: str) -> Num | None:
    r"""The number an answer states outright, ignoring units, words and markup; None if it computes one.

    A stated value is an integer, decimal, percentage, ``a/b``, ``\frac{a}{b}`` or scientific
    notation, with optional ``$``, units (``\text{ cm}^2``, ``dollars``), degrees, an assignment
    (``x = 5``, ``x \equiv 5 \pmod{7}``) or a trailing period. Anything that still has arithmetic
    to do (``0 + 8``, ``2^{10}``, ``\binom{6}{2}``, ``\frac{1}{8} + \frac{6}{8}``) or more
    than one number is not a stated value.

    Example:
        >>> literal_value(r"\$1,234.50").value
        Fraction(2469, 2)
        >>> literal_value(r"x = \frac{3}{4} \text{ cm}^2").value
        Fraction(3, 4)
        >>> literal_value(r"\frac{1}{8} + \frac{6}{8}") is None
        True
    """
    if len(answer) > _MAX_LEN:
        return None
    text = _normalize(answer)
    text = _WRAPPERS.sub(lambda m: m.group(1) if _PLAIN.match(m.group(1).strip()) else " ", text)
    text = _DECORATIONS.sub(" ", text)
    text = _MODULUS.sub("", text)
    text = _LEAD.sub("", text)
    text = _WORDS.sub(" ", text)
    text = text.strip().rstrip(".").strip()
    text = re.sub(r"\s+(?=%)", "", text)
    while len(text) >= 2 and (text[0], text[-1]) in (("{", "}"), ("(", ")")):
        text = text[1:-1].strip()
    if _TWO_NUMBERS.search(text):
        return None  # `8 9`, what was `8 or 9` once words are gone: more than one number
    sci = _SCIENTIFIC.match(text)
    if sci:
        mantissa, exponent = (sci.group(1), sci.group(2)) if sci.group(1) else (sci.group(3), sci.group(4))
        value = Fraction(mantissa) * Fraction(10) ** int(exponent)
        return Num(value, "float" if "." in mantissa or int(exponent) < 0 else "int")
    if not _PLAIN.match(text.replace(" ", "") if "," not in text else text):
        return None
    return parse_number(text.replace(" ", ""))


def is_literal(answer: str) -> bool:
    r"""Whether a gold answer is a plain number (``12``, ``-0.5``, ``3/4``, ``\frac{3}{4}``, ``12\%``).

    Example:
        >>> is_literal(r"-\frac{3}{4}"), is_literal(r"\sqrt{2}")
        (True, False)
    """
    text = _normalize(answer)
    return len(text) <= _MAX_LEN and bool(_PLAIN.match(text.replace(" ", ""))) and parse_number(text) is not None
