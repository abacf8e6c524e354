"""A scheduled CDM job's timetable: when its runs are due, from ``schedulerConfig.*`` inputs.

The inputs and their formats follow CDM's job parameter reference (``job_parameter_description``,
OTC ``dataarts_migration_apis/public_data_structures``; ``../shared/cdm-dialects.md``):

- ``cycleType``: ``minute``, ``hour``, ``day``, ``week`` or ``month``; ``cycle``: every that many (default 1);
- ``runAt`` (only for ``hour``, ``week``, ``month``): comma-separated minutes of the hour (``27,57``),
  weekdays (``mon,tue,wed,thu,fri``) or days of the month (``1,2,3``);
- ``startDate`` / ``stopDate``: ``yyyy-MM-dd HH:mm:ss`` (``2018-01-24 19:56:19``); no stop: for ever.

Decisions where the reference is silent: the first run is due at ``startDate`` itself (or, without
runAt, at every whole cycle after it); ``day`` and runAt-based ``week``/``month`` runs are due at the
start's time of day; a runAt minute of ``hour`` is at second 0; a month without the runAt day (the 31st
in April) has no run; a run exactly at ``stopDate`` is still due; without ``startDate`` the schedule
starts when the job is saved. Times are wall-clock times in the backend's time zone (UTC by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

CYCLE_TYPES: tuple[str, ...] = ("minute", "hour", "day", "week", "month")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # the reference's yyyy-MM-dd HH:mm:ss

CYCLE_TYPE_INPUT = "schedulerConfig.cycleType"
CYCLE_INPUT = "schedulerConfig.cycle"
RUN_AT_INPUT = "schedulerConfig.runAt"
START_DATE_INPUT = "schedulerConfig.startDate"
STOP_DATE_INPUT = "schedulerConfig.stopDate"

_FIXED_PERIOD_S = {"minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0}
_RUN_AT_RANGES = {"hour": (0, 59), "month": (1, 31)}
_MAX_PERIODS_SCANNED = 10_000  # runAt days that never occur (e.g. only the 31st, every 2nd month from Feb)


@dataclass(frozen=True)
class Schedule:
    """When a scheduled job's runs are due; ``start`` and ``stop`` are naive wall-clock times in ``tz``."""

    cycle_type: str
    cycle: int
    run_at: tuple[int, ...]
    start: datetime
    stop: datetime | None
    tz: tzinfo = timezone.utc

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, str], saved_at: float, tz: tzinfo = timezone.utc) -> Schedule:
        """Parse the ``schedulerConfig.*`` inputs; ValueError names the input and what is expected."""
        cycle_type = inputs.get(CYCLE_TYPE_INPUT, "").strip().lower()
        if cycle_type not in CYCLE_TYPES:
            raise ValueError(f"{CYCLE_TYPE_INPUT} {cycle_type!r} must be one of {list(CYCLE_TYPES)}")
        cycle_text = inputs.get(CYCLE_INPUT, "").strip() or "1"
        if not cycle_text.isdigit() or int(cycle_text) < 1:
            raise ValueError(f"{CYCLE_INPUT} {cycle_text!r} must be a whole number of at least 1")
        start = _parse_date(START_DATE_INPUT, inputs.get(START_DATE_INPUT, ""))
        if start is None:
            start = datetime.fromtimestamp(saved_at, tz).replace(tzinfo=None)
        stop = _parse_date(STOP_DATE_INPUT, inputs.get(STOP_DATE_INPUT, ""))
        if stop is not None and stop < start:
            raise ValueError(
                f"{STOP_DATE_INPUT} {stop:{DATE_FORMAT}} is before {START_DATE_INPUT} {start:{DATE_FORMAT}}"
            )
        run_at = _parse_run_at(cycle_type, inputs.get(RUN_AT_INPUT, ""))
        return cls(cycle_type, int(cycle_text), run_at, start, stop, tz)

    def next_after(self, moment: float, *, inclusive: bool = False) -> float | None:
        """The first due time after ``moment`` (or at it, when inclusive); None once past ``stopDate``."""
        start_s = self._epoch(self.start)
        first_period = 0
        if moment > start_s:
            first_period = max(0, self._periods_between(start_s, moment) - 1)
        for period in range(first_period, first_period + _MAX_PERIODS_SCANNED):
            base = self._period_start(period)
            if base is None or (self.stop is not None and base > self.stop):
                return None
            for due in self._occurrences(base):
                if due < self.start:
                    continue
                if self.stop is not None and due > self.stop:
                    return None
                due_s = self._epoch(due)
                if due_s > moment or (inclusive and due_s == moment):
                    return due_s
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "cycle_type": self.cycle_type,
            "cycle": self.cycle,
            "run_at": list(self.run_at),
            "start": f"{self.start:{DATE_FORMAT}}",
            "stop": None if self.stop is None else f"{self.stop:{DATE_FORMAT}}",
        }

    # -- the calendar ---------------------------------------------------------------------------------

    def _epoch(self, wall: datetime) -> float:
        return wall.replace(tzinfo=self.tz).timestamp()

    def _periods_between(self, start_s: float, moment: float) -> int:
        if self.cycle_type == "month":
            now = datetime.fromtimestamp(moment, self.tz)
            months = (now.year - self.start.year) * 12 + now.month - self.start.month
            return months // self.cycle
        return math.floor((moment - start_s) / (_FIXED_PERIOD_S[self.cycle_type] * self.cycle))

    def _period_start(self, period: int) -> datetime | None:
        """The wall-clock start of the ``period``-th cycle (runAt-based cycles start on a boundary)."""
        steps = period * self.cycle
        if self.cycle_type == "minute":
            return self.start + timedelta(minutes=steps)
        if self.cycle_type == "hour":
            base = self.start.replace(minute=0, second=0) if self.run_at else self.start
            return base + timedelta(hours=steps)
        if self.cycle_type == "day":
            return self.start + timedelta(days=steps)
        if self.cycle_type == "week":
            base = self.start - timedelta(days=self.start.weekday()) if self.run_at else self.start
            return base + timedelta(weeks=steps)
        month_index = self.start.month - 1 + steps
        year = self.start.year + month_index // 12
        if year > datetime.max.year:
            return None
        return self.start.replace(year=year, month=month_index % 12 + 1, day=1)

    def _occurrences(self, base: datetime) -> list[datetime]:
        if not self.run_at:
            if self.cycle_type == "month":
                return _month_days(base, (self.start.day,))
            return [base]
        if self.cycle_type == "hour":
            return [base.replace(minute=minute) for minute in self.run_at]
        if self.cycle_type == "week":
            return [base + timedelta(days=day) for day in self.run_at]
        return _month_days(base, self.run_at)


def _month_days(first_of_month: datetime, days: tuple[int, ...]) -> list[datetime]:
    found = []
    for day in days:
        try:
            found.append(first_of_month.replace(day=day))
        except ValueError:
            continue  # no such day this month
    return found


def _parse_date(name: str, text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        raise ValueError(f"{name} {text!r} must be a date as yyyy-MM-dd HH:mm:ss, e.g. 2018-01-24 19:56:19") from None


def _parse_run_at(cycle_type: str, text: str) -> tuple[int, ...]:
    """runAt as sorted numbers: minutes (hour), weekday indexes from Monday = 0 (week), days (month)."""
    parts = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not parts or cycle_type not in ("hour", "week", "month"):
        return ()  # the reference: runAt is valid only for hour, week and month
    if cycle_type == "week":
        unknown = [part for part in parts if part not in WEEKDAYS]
        if unknown:
            raise ValueError(f"{RUN_AT_INPUT} {text!r}: weekdays must be among {','.join(WEEKDAYS)}")
        return tuple(sorted({WEEKDAYS.index(part) for part in parts}))
    low, high = _RUN_AT_RANGES[cycle_type]
    if not all(part.isdigit() and low <= int(part) <= high for part in parts):
        what = "minutes of the hour" if cycle_type == "hour" else "days of the month"
        raise ValueError(f"{RUN_AT_INPUT} {text!r} must be comma-separated {what} from {low} to {high}")
    return tuple(sorted({int(part) for part in parts}))
