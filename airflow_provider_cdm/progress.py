"""How a wait says how its run is doing: in plain words, at INFO when the status changes, else about once a minute.

A two-hour wait polling every 10 s would otherwise write 720 lines, and a triggerer watching 300 runs
thousands: the lines in between go to DEBUG. The interval is ``[cdm] progress_log_interval`` (60 s).
Every wait (poll loop, sensor, trigger) words its lines with the functions below, from a run as
``Submission.to_json()`` gives it: one format for progress, counts and sizes everywhere::

    run 104 of orders_daily: RUNNING, 42%, 18,917 rows written
    run 104 of orders_daily SUCCEEDED in 3 min 12 s: read 18,917 rows (2.1 MB), wrote 18,917 rows (2.1 MB), 98 rows/s
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
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


def run_label(job_name: str, submission_id: int | None, *, latest: bool = False) -> str:
    """``run 104 of orders_daily``; ``the latest run of ...`` for a sensor that watches whichever run is."""
    if submission_id is not None:
        return f"run {submission_id} of {job_name}"
    return f"the latest run of {job_name}" if latest else f"the run of {job_name}"


def started_run(submission_id: int | None) -> str:
    """What a start made: ``run 104``, or ``a new run`` while CDM has not reported its id (a sparse answer)."""
    return f"run {submission_id}" if submission_id is not None else "a new run (CDM reports its id later)"


def percent(progress: object) -> str | None:
    """``42%`` or ``42.5%``; None when CDM gave none (or -1, its "not running")."""
    if isinstance(progress, bool) or not isinstance(progress, (int, float)) or progress < 0:
        return None
    return f"{progress:.0f}%" if float(progress).is_integer() else f"{progress:.1f}%"


def size(byte_count: int) -> str:
    """A byte count as people read it: ``576 B``, ``2.1 MB`` (decimal units, as CDM's console shows)."""
    value = float(byte_count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{byte_count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 12 s``, ``2 h 5 min``."""
    if seconds < 10:
        return f"{max(0.0, seconds):.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _counter(run: Mapping[str, Any], name: str, fallback: str | None = None) -> int | None:
    counters = run.get("counters") or {}
    value = counters.get(name)
    if value is None and fallback is not None:
        value = run.get(fallback)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def progress_text(run: Mapping[str, Any] | None) -> str:
    """``RUNNING, 42%, 18,917 rows written``: status, progress and rows so far (``no run yet`` for None)."""
    if run is None:
        return "no run yet"
    parts = [str(run.get("status") or "status unknown")]
    shown = percent(run.get("progress"))
    if shown is not None:
        parts.append(shown)
    rows = _counter(run, "ROWS_WRITTEN", "rows_written")
    if rows is not None:
        parts.append(f"{rows:,} rows written")
    return ", ".join(parts)


def _moment(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


# What a final line reports: verb, rows counter, bytes counter, the flat field a status answer may carry instead.
_VOLUMES = (("read", "ROWS_READ", "BYTES_READ", None), ("wrote", "ROWS_WRITTEN", "BYTES_WRITTEN", "rows_written"))


def outcome_text(run: Mapping[str, Any]) -> str:
    """``SUCCEEDED in 3 min 12 s: read 18,917 rows (2.1 MB), wrote 18,917 rows (2.1 MB), 98 rows/s``.

    What CDM did not report is left out (a run read from the job list has no byte counters; a run
    whose job CDM deleted has no counters at all).
    """
    text = str(run.get("status") or "status unknown")
    began = _moment(run.get("execute_date")) or _moment(run.get("creation_date"))
    ended = _moment(run.get("last_update_date"))
    seconds = (ended - began).total_seconds() if began is not None and ended is not None else None
    if seconds is not None and seconds >= 0:
        text += f" in {duration(seconds)}"
    volumes = []
    for verb, rows_name, bytes_name, fallback in _VOLUMES:
        rows = _counter(run, rows_name, fallback)
        byte_count = _counter(run, bytes_name)
        if rows is None and byte_count is None:
            continue
        amount = f"{rows:,} rows" if rows is not None else "rows unknown"
        volumes.append(f"{verb} {amount} ({size(byte_count)})" if byte_count is not None else f"{verb} {amount}")
    written = _counter(run, "ROWS_WRITTEN", "rows_written")
    if written is not None and seconds is not None and seconds > 0:
        rate = written / seconds
        volumes.append(f"{rate:,.0f} rows/s" if rate >= 10 else f"{rate:.1f} rows/s")
    return f"{text}: {', '.join(volumes)}" if volumes else text


__all__ = [
    "ProgressLog",
    "duration",
    "outcome_text",
    "percent",
    "progress_text",
    "run_label",
    "size",
    "started_run",
]
