"""Job functions the RQ worker imports by name."""

from __future__ import annotations

import time


def add(x: int, y: int) -> int:
    return x + y


def fail() -> None:
    raise ValueError("card declined")


def sleepy(seconds: float) -> None:
    time.sleep(seconds)
