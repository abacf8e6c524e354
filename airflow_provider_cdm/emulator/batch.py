"""A BATCH_JOB's run (entire-database migration): the sum of its subjobs' runs, one per table.

CDM runs one subjob per table, each a job of its own named ``<parent>_<table>`` whose status is read
with that name (``../shared/cdm-dialects.md``, "Documented job options..."; how the tables are named:
``job_options``). The parent's run has no script of its own: its status derives from the subjobs' runs
at the time it is read. Decisions (no public evidence): the parent reads PENDING while every subjob is
queued, BOOTING while none has got past booting, RUNNING while any subjob is under way, SUCCEEDED once
all succeeded, else FAILED with an error summary naming each failed subjob; it takes no slot of the
cluster (its subjobs do); a stop of the parent stops every subjob that is under way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.emulator.runs import STOPPED_BY_USER, JsonDict, Run

FAILED_SUBJOBS = "Subjobs failed: "


@dataclass
class BatchRun(Run):
    """The parent's run; ``subruns`` are the subjobs' runs it started, in table order."""

    subruns: list[Run] = field(default_factory=list)

    @property
    def holds_slot(self) -> bool:
        return False

    @property
    def queued(self) -> bool:
        return False

    def status(self, now: float) -> JobStatus:
        if self.stopped_at is not None:
            return JobStatus.FAILED
        statuses = [run.status(now) for run in self.subruns]
        if all(status.is_terminal for status in statuses):
            return JobStatus.SUCCEEDED if all(status.is_success for status in statuses) else JobStatus.FAILED
        if all(status is JobStatus.PENDING for status in statuses):
            return JobStatus.PENDING
        if all(status in (JobStatus.PENDING, JobStatus.BOOTING) for status in statuses):
            return JobStatus.BOOTING
        return JobStatus.RUNNING

    def ends_at(self) -> float | None:
        if self.stopped_at is not None:
            return self.stopped_at
        ends = [run.ends_at() for run in self.subruns]
        known = [end for end in ends if end is not None]
        return max(known, default=self.submitted_at) if len(known) == len(ends) else None

    def progress(self, now: float, status: JobStatus) -> float:
        """The subjobs' mean progress (an ended subjob counts as done)."""
        if status is JobStatus.SUCCEEDED:
            return 100.0
        if status.is_failure:
            return -1.0
        shares = []
        for run in self.subruns:
            sub = run.status(now)
            shares.append(100.0 if sub.is_terminal else max(0.0, run.progress(now, sub)))
        return math.floor(sum(shares) / len(shares) * 10) / 10 if shares else 0.0

    def last_change(self, now: float) -> float:
        if self.stopped_at is not None:
            return self.stopped_at
        return max((run.last_change(now) for run in self.subruns), default=self.submitted_at)

    def error_summary(self) -> str:
        if self.stopped_at is not None:
            return STOPPED_BY_USER
        end = self.ends_at()
        at = self.submitted_at if end is None else end
        failed = []
        for run in self.subruns:
            status = run.status(at)
            if status.is_terminal and not status.is_success:
                failed.append(f"{run.job_name} ({status.value}: {run.error_summary()})")
        return FAILED_SUBJOBS + "; ".join(failed)

    def counters(self) -> dict[str, int]:
        """The subjobs' counters summed."""
        total: dict[str, int] = {}
        for run in self.subruns:
            for name, value in run.counters().items():
                total[name] = total.get(name, 0) + value
        return total

    def snapshot(self, now: float) -> JsonDict:
        out = super().snapshot(now)
        out["outcome"] = out["duration_s"] = None  # no script of its own
        out["subjobs"] = [{"job_name": run.job_name, "submission_id": run.submission_id} for run in self.subruns]
        return out
