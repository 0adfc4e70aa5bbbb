"""Option types the subcommands share: a bad value is argparse's one-line usage error."""

from __future__ import annotations

import argparse
import math
from typing import Any


def positive(kind: type[int] | type[float]) -> Any:
    """A number above 0 (floats: finite, so 'nan' and 'inf' are refused too)."""

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0 and finite")
        return value

    convert.__name__ = kind.__name__  # what argparse names in its message
    return convert
