"""How often a wait says how its run is doing: at INFO when the status changes, else about once a minute.

A two-hour wait polling every 10 s would otherwise write 720 lines, and a triggerer watching 300 runs
thousands: the lines in between go to DEBUG. The interval is ``[cdm] progress_log_interval`` (60 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol


class LevelLog(Protocol):
    """A logger (``self.log`` of an operator or a trigger, or a ``logging.Logger``)."""

    def log(self, level: int, message: str, /, *args: Any) -> Any: ...


class ProgressLog:
    """Logs progress lines of one wait: INFO on a change of ``state`` or after ``interval_s``, else DEBUG."""

    def __init__(
        self, log: LevelLog, interval_s: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if interval_s is None:
            from airflow_provider_cdm.options import progress_log_interval

            interval_s = progress_log_interval()
        self._log = log
        self._interval_s = interval_s
        self._clock = clock
        self._state: Hashable = object()  # equal to no state: the first line is at INFO
        self._logged_at = -float("inf")

    def mark(self, state: Hashable) -> None:
        """Note a state someone else just logged at INFO."""
        self._state, self._logged_at = state, self._clock()

    def report(self, state: Hashable, message: str, *args: Any) -> bool:
        """Log one progress line; True when it went out at INFO."""
        now = self._clock()
        loud = state != self._state or now - self._logged_at >= self._interval_s
        if loud:
            self._state, self._logged_at = state, now
        self._log.log(logging.INFO if loud else logging.DEBUG, message, *args)
        return loud


__all__ = ["ProgressLog"]
