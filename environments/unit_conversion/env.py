"""Unit-conversion word problems with exact answers.

Task *i* is drawn from ``random.Random(f"{seed}:{i}:{difficulty}")``. Conversion factors are exact
(1 in = 2.54 cm, 1 lb = 0.45359237 kg by definition), so every gold answer is an exact rational,
written as a decimal when it terminates and as a fraction otherwise. Levels:

1. metric, whole numbers, to a smaller unit (km to m);
2. metric with decimals, either direction (350 cm to m);
3. time and US customary units (hours to minutes, yards to feet);
4. US customary to metric (miles to km, pounds to kg);
5. two-step rate problems (km/h to m/s, distance from a speed and a duration).
"""

from __future__ import annotations

import random
from fractions import Fraction
from typing import ClassVar

from pydantic import Field

from openenvs import Task
from openenvs.verify import MathConfig, MathEnv

__all__ = ["UNITS", "UnitConversionConfig", "UnitConversionEnv", "format_exact"]

# unit -> (quantity, size in the SI base unit, plural name)
UNITS: dict[str, tuple[str, Fraction, str]] = {
    "mm": ("length", Fraction(1, 1000), "millimeters"),
    "cm": ("length", Fraction(1, 100), "centimeters"),
    "m": ("length", Fraction(1), "meters"),
    "km": ("length", Fraction(1000), "kilometers"),
    "in": ("length", Fraction(254, 10000), "inches"),
    "ft": ("length", Fraction(254 * 12, 10000), "feet"),
    "yd": ("length", Fraction(254 * 36, 10000), "yards"),
    "mi": ("length", Fraction(254 * 63360, 10000), "miles"),
    "mg": ("mass", Fraction(1, 1_000_000), "milligrams"),
    "g": ("mass", Fraction(1, 1000), "grams"),
    "kg": ("mass", Fraction(1), "kilograms"),
    "lb": ("mass", Fraction(45359237, 100_000_000), "pounds"),
    "oz": ("mass", Fraction(45359237, 1_600_000_000), "ounces"),
    "s": ("time", Fraction(1), "seconds"),
    "min": ("time", Fraction(60), "minutes"),
    "h": ("time", Fraction(3600), "hours"),
    "day": ("time", Fraction(86400), "days"),
    "mL": ("volume", Fraction(1, 1000), "milliliters"),
    "L": ("volume", Fraction(1), "liters"),
}

_OBJECTS = {
    "length": ["a ribbon", "a wire", "a path", "a plank", "a cable"],
    "mass": ["a bag of flour", "a suitcase", "a parcel", "a bag of apples", "a dog"],
    "time": ["a train journey", "a film", "a flight", "a baking session", "a bike ride"],
    "volume": ["a water bottle", "a fuel tank", "a bucket", "a jug of juice", "an aquarium"],
}

_PAIRS = {
    1: [("km", "m"), ("m", "cm"), ("kg", "g"), ("L", "mL"), ("cm", "mm"), ("g", "mg")],
    2: [("cm", "m"), ("m", "km"), ("g", "kg"), ("mL", "L"), ("km", "m"), ("kg", "g"), ("mm", "cm")],
    3: [("h", "min"), ("min", "s"), ("day", "h"), ("yd", "ft"), ("ft", "in"), ("mi", "ft"), ("lb", "oz"), ("h", "s")],
    4: [("mi", "km"), ("in", "cm"), ("ft", "m"), ("lb", "kg"), ("oz", "g"), ("yd", "m")],
}


class UnitConversionConfig(MathConfig):
    """Config of `math/unit-conversion-v1`."""

    difficulty: int = Field(default=1, ge=1, le=5, description="Level 1 (km to m) to 5 (two-step rates).")


def format_exact(value: Fraction) -> str:
    r"""Write an exact value as a decimal when it terminates, else as ``\frac{p}{q}``.

    Example:
        >>> format_exact(Fraction(7, 4)), format_exact(Fraction(1, 3))
        ('1.75', '\\frac{1}{3}')
    """
    den = value.denominator
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    if den != 1:
        sign = "-" if value < 0 else ""
        return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"
    if value.denominator == 1:
        return str(value.numerator)
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    text = f"{abs(value.numerator) * 10**places // value.denominator:0{places + 1}d}"
    return ("-" if value < 0 else "") + text[:-places] + "." + text[-places:]


def convert(value: Fraction, source: str, target: str) -> Fraction:
    """Convert `value` from unit `source` to unit `target` (same quantity)."""
    return value * UNITS[source][1] / UNITS[target][1]


class UnitConversionEnv(MathEnv):
    """Convert a quantity in a short word problem; the number is checked exactly."""

    Config = UnitConversionConfig
    config: UnitConversionConfig
    default_system_prompt: ClassVar[str | None] = (
        "Solve the problem. Put the final answer, a number without units, in \\boxed{}."
    )

    def get_task(self, index: int) -> Task:
        """Task `index`: a conversion at the configured difficulty."""
        level = self.config.difficulty
        rng = self.task_rng(index, level)
        if level == 5:
            return self._rate(rng)
        source, target = rng.choice(_PAIRS[level])
        if level == 1 or level == 3:
            value = Fraction(rng.randint(2, 60))
        else:
            value = Fraction(rng.randint(5, 9999), rng.choice([10, 100]))
        quantity = UNITS[source][0]
        thing = rng.choice(_OBJECTS[quantity])
        verb = {"length": "is", "mass": "weighs", "time": "lasts", "volume": "holds"}[quantity]
        prompt = (
            f"{thing[0].upper() + thing[1:]} {verb} {format_exact(value)} {UNITS[source][2]}. "
            f"How many {UNITS[target][2]} is that?"
        )
        if level == 4:
            prompt += " Give the exact value, without rounding."
        answer = convert(value, source, target)
        return Task(
            prompt=prompt,
            answer=format_exact(answer),
            difficulty=level,
            metadata={"value": format_exact(value), "from": source, "to": target},
        )

    def _rate(self, rng: random.Random) -> Task:
        if rng.random() < 0.5:
            speed = Fraction(rng.randint(2, 12) * 9)  # multiples of 9 km/h give answers in halves of m/s
            prompt = (
                f"A cyclist rides at a steady {speed} kilometers per hour. What is that speed in meters per second?"
            )
            answer = convert(speed, "km", "m") / convert(Fraction(1), "h", "s")
            meta = {"value": str(speed), "from": "km/h", "to": "m/s"}
        else:
            speed, minutes = Fraction(rng.randint(3, 120)), Fraction(rng.randint(5, 180))
            prompt = (
                f"A car drives at a steady {speed} kilometers per hour for {minutes} minutes. "
                "How many meters does it travel?"
            )
            answer = convert(speed, "km", "m") * convert(minutes, "min", "h")
            meta = {"value": str(speed), "minutes": str(minutes), "from": "km/h", "to": "m"}
        return Task(prompt=prompt, answer=format_exact(answer), difficulty=5, metadata=meta)
