"""A run's life as a function of the clock: booting, running with rising progress, then its outcome.

A run has no thread. Its status, progress and dates are derived from the time they are read at, so
the backend stays passive and tests move a clock instead of sleeping. What a run does (outcome,
duration, error summary) is decided by the job's :class:`Script` when it starts.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airflow_provider_cdm.api.counters import COUNTER_GROUP, COUNTER_NAMES
from airflow_provider_cdm.api.statuses import JobStatus

JsonDict = dict[str, Any]

STOPPED_BY_USER = "The job was stopped by the user."
# A run boots for min(MAX_BOOT_S, BOOT_SHARE * duration), then runs; a STUCK run stalls at STUCK_PROGRESS.
MAX_BOOT_S = 1.0
BOOT_SHARE = 0.2
STUCK_PROGRESS = 90.0

_DEFAULT_SUMMARIES = {
    "FAILED": "Job failed (scripted by the CDM emulator).",
    "FAILURE_ON_SUBMIT": "Job submission failed (scripted by the CDM emulator).",
}


class Outcome(str, Enum):
    """How a run ends; a STUCK run never does until it is stopped."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FAILURE_ON_SUBMIT = "FAILURE_ON_SUBMIT"
    UNKNOWN = "UNKNOWN"
    STUCK = "STUCK"


@dataclass(frozen=True)
class Script:
    """What a job's next runs do; ``count`` limits it to that many runs (None: every run until replaced)."""

    outcome: Outcome = Outcome.SUCCEEDED
    duration_s: float = 2.0
    error_summary: str | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.duration_s) or self.duration_s < 0:
            raise ValueError("duration_s must be a finite number >= 0")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")

    @classmethod
    def from_json(cls, data: object, default_duration_s: float) -> Script:
        """Parse the admin API's script body; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the script must be a JSON object")
        unknown = set(data) - {"outcome", "duration_s", "error_summary", "count"}
        if unknown:
            raise ValueError(f"unknown script fields: {sorted(unknown)}")
        try:
            outcome = Outcome(data.get("outcome", Outcome.SUCCEEDED.value))
        except ValueError:
            raise ValueError(f"outcome must be one of {[o.value for o in Outcome]}") from None
        duration = data.get("duration_s", default_duration_s)
        summary = data.get("error_summary")
        count = data.get("count")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            raise ValueError("duration_s must be a number")
        if summary is not None and not isinstance(summary, str):
            raise ValueError("error_summary must be a string")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count must be an integer")
        return cls(outcome, float(duration), summary, count)

    def to_json(self) -> JsonDict:
        return {
            "outcome": self.outcome.value,
            "duration_s": self.duration_s,
            "error_summary": self.error_summary,
            "count": self.count,
        }


@dataclass(frozen=True)
class _Volume:
    """The data a job's successful run moves: deterministic per job name, so tests can assert it."""

    rows: int
    row_bytes: int
    files: int

    @classmethod
    def of(cls, job_name: str) -> _Volume:
        seed = int.from_bytes(hashlib.sha256(job_name.encode()).digest()[:8], "big")
        return cls(rows=1000 + seed % 99_000, row_bytes=64 + (seed >> 20) % 192, files=1 + (seed >> 40) % 8)

    def counters(self) -> dict[str, int]:
        size = self.rows * self.row_bytes
        counters = {
            "BYTES_WRITTEN": size,
            "BYTES_READ": size,
            "TOTAL_FILES": self.files,
            "TOTAL_SIZE": size,
            "ROWS_READ": self.rows,
            "ROWS_WRITTEN": self.rows,
            "ROWS_WRITTEN_SKIPPED": 0,
            "FILES_WRITTEN": self.files,
            "FILES_READ": self.files,
            "FILES_SKIPPED": 0,
        }
        return {name: counters[name] for name in COUNTER_NAMES}  # every documented counter, in order


def epoch_millis(seconds: float) -> int:
    """Epoch seconds as the epoch milliseconds CDM sends."""
    return int(seconds * 1000)


@dataclass
class Run:
    """One submission of a job; its status is a function of the clock.

    ``submitted_at`` is when it was asked for (``creation-date``); ``started_at`` when it got a slot of
    the cluster and began to boot, None while it waits, ``PENDING``, for one (``../shared/cdm-dialects.md``
    row 13: runs queue past the cluster's concurrency). ``is_auto`` marks a run CDM started itself (its
    schedule: ``is-execute-auto``), ``delete_job`` one of a job CDM deletes after it (``isDeleteJob``),
    ``attempt`` CDM's retry number (0: the run asked for). ``finalized`` is the backend's: it has applied
    the run's end (freed its slot, retried, deleted the job).
    """

    submission_id: int
    job_name: str
    user: str
    submitted_at: float
    script: Script
    variables: dict[str, str]
    started_at: float | None = None
    stopped_at: float | None = None
    is_auto: bool = False
    delete_job: bool = False
    attempt: int = 0
    finalized: bool = False

    @property
    def boot_s(self) -> float:
        return min(MAX_BOOT_S, BOOT_SHARE * self.script.duration_s)

    @property
    def holds_slot(self) -> bool:
        """Whether the run takes one of the cluster's concurrent slots while it runs."""
        return self.script.outcome is not Outcome.FAILURE_ON_SUBMIT

    @property
    def queued(self) -> bool:
        """Waiting for a slot (reads PENDING)."""
        return self.started_at is None and self.stopped_at is None and self.holds_slot

    def status(self, now: float) -> JobStatus:
        outcome = self.script.outcome
        if outcome is Outcome.FAILURE_ON_SUBMIT:
            return JobStatus.FAILURE_ON_SUBMIT
        if self.stopped_at is not None:
            return JobStatus.FAILED
        if self.started_at is None:
            return JobStatus.PENDING
        # Compare instants, not elapsed times: the backend reads the status at exactly ends_at().
        if now < self.started_at + self.boot_s:
            return JobStatus.BOOTING
        if outcome is Outcome.STUCK or now < self.started_at + self.script.duration_s:
            return JobStatus.RUNNING
        return JobStatus(outcome.value)

    def is_active(self, now: float) -> bool:
        """Under way: PENDING, BOOTING or RUNNING (a second start answers Cdm.0052, a stop ends it)."""
        status = self.status(now)
        return status.is_active or status is JobStatus.PENDING

    def ends_at(self) -> float | None:
        """When the run ends (or ended); None while that is not known (queued, stuck)."""
        if self.script.outcome is Outcome.FAILURE_ON_SUBMIT:
            return self.submitted_at
        if self.stopped_at is not None:
            return self.stopped_at
        if self.started_at is None or self.script.outcome is Outcome.STUCK:
            return None
        return self.started_at + self.script.duration_s

    def progress(self, now: float, status: JobStatus) -> float:
        """0 while pending or booting, rising linearly while running (never 100 before success), -1 on failure."""
        if status is JobStatus.SUCCEEDED:
            return 100.0
        if status.is_failure:
            return -1.0
        if status in (JobStatus.BOOTING, JobStatus.PENDING) or self.started_at is None:
            return 0.0
        running_s = self.script.duration_s - self.boot_s
        share = (now - self.started_at - self.boot_s) / running_s if running_s > 0 else 1.0
        percent = 100.0 * min(1.0, share)
        if self.script.outcome is Outcome.STUCK:
            percent = min(percent, STUCK_PROGRESS)
        return math.floor(percent * 10) / 10

    def last_change(self, now: float) -> float:
        """When the run last changed: now while it progresses, else when it ended, stalled or was queued."""
        if self.script.outcome is Outcome.FAILURE_ON_SUBMIT:
            return self.submitted_at
        if self.stopped_at is not None:
            return self.stopped_at
        if self.started_at is None:
            return self.submitted_at
        return min(now, self.started_at + self.script.duration_s)

    def error_summary(self) -> str:
        if self.stopped_at is not None:
            return STOPPED_BY_USER
        return self.script.error_summary or _DEFAULT_SUMMARIES.get(self.script.outcome.value, "Job failed.")

    def counters(self) -> dict[str, int]:
        """What a successful run of this job moves (every documented counter)."""
        return _Volume.of(self.job_name).counters()

    def submission(self, now: float, *, dates_as_text: bool = False) -> JsonDict:
        """The Submission object as CDM sends it (``last-udpate-user`` sic)."""
        status = self.status(now)
        progress = self.progress(now, status)
        counters = self.counters()
        rows = counters["ROWS_WRITTEN"]

        def date(seconds: float) -> int | str:
            return str(epoch_millis(seconds)) if dates_as_text else epoch_millis(seconds)

        if status is JobStatus.SUCCEEDED:
            written = rows
        elif self.is_active(now):
            written = int(rows * progress / 100)
        else:
            written = 0
        out: JsonDict = {
            "job-name": self.job_name,
            "submission-id": self.submission_id,
            "external-id": f"job_local{zlib.crc32(self.job_name.encode())}_{self.submission_id:04d}",
            "status": status.value,
            "progress": progress,
            "creation-user": self.user,
            "creation-date": date(self.submitted_at),
            "execute-date": date(self.submitted_at if self.started_at is None else self.started_at),
            "last-update-date": date(self.last_change(now)),
            "last-udpate-user": self.user,
            "delete_rows": 0,
            "update_rows": 0,
            "write_rows": written,
            "isIncrementing": False,
            "isStopingIncrement": "",
            "is-execute-auto": self.is_auto,
            "isDeleteJob": self.delete_job,
        }
        if status is JobStatus.SUCCEEDED:
            out["counters"] = {COUNTER_GROUP: counters}
        elif status in (JobStatus.FAILED, JobStatus.FAILURE_ON_SUBMIT):
            summary = self.error_summary()
            out["error-summary"] = summary
            out["error-details"] = f"org.apache.sqoop.common.SqoopException: {summary}"
        return out

    def execution_fields(self, now: float) -> JsonDict:
        """The last run as a Job object (show job, list jobs) carries it: flat fields, no submission id.

        Field names as in the public ``huaweicloudsdkcdm`` Job model (``execute_create_date`` is the
        run's ``creation-date``; ``external_id`` its ``external-id``). Counters are those of the run
        so far; a run that failed moved nothing.
        """
        status = self.status(now)
        submission = self.submission(now)
        if status is JobStatus.SUCCEEDED:
            share = 1.0
        elif self.is_active(now):
            share = max(0.0, self.progress(now, status)) / 100
        else:
            share = 0.0
        counters = self.counters()
        return {
            "status": status.value,
            "external_id": submission["external-id"],
            "execute_create_date": submission["creation-date"],
            "execute_start_date": submission["execute-date"],
            "execute_update_date": submission["last-update-date"],
            "rows_read": int(counters["ROWS_READ"] * share),
            "rows_written": int(counters["ROWS_WRITTEN"] * share),
            "bytes_read": int(counters["BYTES_READ"] * share),
            "bytes_written": int(counters["BYTES_WRITTEN"] * share),
            "files_read": int(counters["FILES_READ"] * share),
            "files_written": int(counters["FILES_WRITTEN"] * share),
            "write_rows": submission["write_rows"],
            "update_rows": submission["update_rows"],
            "delete_rows": submission["delete_rows"],
            "is_incrementing": False,
        }

    def snapshot(self, now: float) -> JsonDict:
        """The admin view: what the API shows plus what the script decided."""
        status = self.status(now)
        return {
            "submission_id": self.submission_id,
            "status": status.value,
            "progress": self.progress(now, status),
            "outcome": self.script.outcome.value,
            "duration_s": self.script.duration_s,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "queued": self.queued,
            "variables": dict(self.variables),
            "stopped": self.stopped_at is not None,
            "auto": self.is_auto,
            "attempt": self.attempt,
            "delete_job": self.delete_job,
        }
