"""A clock for tests: seconds that move only when a test (or the code's injected sleep) moves them."""

from __future__ import annotations


class FakeClock:
    """``clock()`` reads it, ``clock.sleep(s)`` moves it (inject both where the code takes a clock and a sleep)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
