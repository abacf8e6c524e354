"""Which run a waiter watches, and what a status answer means for it: the one place that decides.

The start operators, the sensor and the trigger all wait the same way. A status answer is judged
against a :class:`RunRef` (the run a task started or attached to), so the previous run's SUCCEEDED is
never taken for this run's result, and against the caller's success and failure sets.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_cdm.api.job_options import JobOptions
from airflow_provider_cdm.api.statuses import FAILURE_STATUSES, SUCCESS_STATUSES, JobStatus
from airflow_provider_cdm.client.clock import LOCAL_CLOCK_SKEW_MS
from airflow_provider_cdm.client.models import Submission

# How far CDM's clock may be behind ours when a run without a submission id is matched by its creation
# date against an instant of this machine's clock (defined, with the other tolerance, in client.clock).
CLOCK_SKEW_MS = LOCAL_CLOCK_SKEW_MS
# How long after a task's own start CDM may still answer NEVER_EXECUTED (Sqoop 2 makes that run up for a
# job with no stored submission) before the start counts as lost or refused.
NEVER_EXECUTED_GRACE_S = 60.0


# The statuses of the one event a CdmJobStatusTrigger fires; execute_complete accepts only these.
EVENT_SUCCESS = "success"
EVENT_FAILED = "failed"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"
EVENT_STATUSES = (EVENT_SUCCESS, EVENT_FAILED, EVENT_TIMEOUT, EVENT_ERROR)


class Verdict(str, enum.Enum):
    """What a status answer says about the watched run."""

    WAITING = "waiting"  # not known yet, or still under way
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a newer run is CDM's latest: ours ended; read it from the run history


@dataclass(frozen=True)
class RunRef:
    """The run a task waits for; JSON-only so it can travel in trigger kwargs and XCom."""

    job_name: str
    cluster_id: str
    submission_id: int | None = None
    # When CDM omits the submission id: the run is the latest one created at or after this instant.
    not_before_ms: int | None = None
    # How much earlier than ``not_before_ms`` a run may be stamped and still be the watched one: 0 when
    # ``not_before_ms`` is CDM's own creation-date of the run (two CDM dates compare exactly),
    # CLOCK_SKEW_MS when it was read from this machine's clock (the default, as for payloads written
    # before this field existed).
    skew_ms: int = CLOCK_SKEW_MS
    # The job's disposal and CDM's retries (``api.job_options``); None until a wait needs and reads them.
    options: JobOptions | None = None

    @classmethod
    def of(cls, submission: Submission, cluster_id: str, *, sent_at_ms: int | None = None) -> RunRef:
        """The run ``submission`` describes; ``sent_at_ms`` (this machine's clock) when it has no creation date."""
        name, created = submission.job_name or "", submission.creation_date
        if created is not None:
            return cls(name, cluster_id, submission.submission_id, int(created.timestamp() * 1000), skew_ms=0)
        return cls(name, cluster_id, submission.submission_id, sent_at_ms, skew_ms=CLOCK_SKEW_MS)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON; ``skew_ms`` and ``options`` only when set (payloads stay as they were otherwise)."""
        data: dict[str, Any] = {
            "job_name": self.job_name,
            "cluster_id": self.cluster_id,
            "submission_id": self.submission_id,
            "not_before_ms": self.not_before_ms,
        }
        if self.skew_ms != CLOCK_SKEW_MS:
            data["skew_ms"] = self.skew_ms
        if self.options is not None:
            data["options"] = self.options.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRef:
        skew = data.get("skew_ms")
        if skew is None:
            skew = CLOCK_SKEW_MS
        elif isinstance(skew, bool) or not isinstance(skew, int) or skew < 0:
            raise ValueError(f"run.skew_ms must be an integer >= 0 or null, got {skew!r}")
        options = data.get("options")
        return cls(
            str(data["job_name"]),
            str(data["cluster_id"]),
            data.get("submission_id"),
            data.get("not_before_ms"),
            skew,
            JobOptions.from_json(options) if options is not None else None,
        )

    def relation(self, submission: Submission) -> int:
        """-1 if ``submission`` is older than the watched run, 0 if it is the run, 1 if newer.

        By submission ids when both have one; else by creation dates: a run created at or after the
        start (less the clock skew) is the watched run, unless CDM's own dates pin it as newer
        (:meth:`pinned_relation`: someone started the job again after ours).
        """
        if self.submission_id is not None and submission.submission_id is not None:
            return (submission.submission_id > self.submission_id) - (submission.submission_id < self.submission_id)
        if self.pinned_relation(submission) == 1:
            return 1
        if self.not_before_ms is None or submission.creation_date is None:
            return 0
        created_ms = int(submission.creation_date.timestamp() * 1000)
        return 0 if created_ms >= self.not_before_ms - self.skew_ms else -1

    def pinned_relation(self, submission: Submission) -> int | None:
        """Like :meth:`relation`, but only where it is certain, else None.

        Certain by submission ids, or by CDM's own creation dates (``skew_ms`` 0): the date is the
        run's identity then (a job's runs are started at least a status read apart, so never within
        the 1 ms that converting a date may round off). A date read from this machine's clock pins nothing.
        """
        if self.submission_id is not None and submission.submission_id is not None:
            return self.relation(submission)
        if self.not_before_ms is None or self.skew_ms != 0 or submission.creation_date is None:
            return None
        difference = int(submission.creation_date.timestamp() * 1000) - self.not_before_ms
        return 0 if abs(difference) <= 1 else (difference > 0) - (difference < 0)


def status_set(
    statuses: Iterable[str | JobStatus] | None, default: frozenset[JobStatus], name: str
) -> frozenset[JobStatus]:
    """Statuses given by a user (names, any case) as a set; unknown names are refused, naming them."""
    if statuses is None:
        return default
    if isinstance(statuses, str):
        statuses = [statuses]
    parsed = [(raw, JobStatus.parse(raw)) for raw in statuses]
    unknown = [repr(raw) for raw, status in parsed if status is None]
    if unknown:
        expected = [s.value for s in JobStatus]
        raise ValueError(f"{name} has unknown CDM status(es) {', '.join(unknown)}; expected any of {expected}")
    return frozenset(status for _, status in parsed if status is not None)


@dataclass(frozen=True)
class StatusRules:
    """Which statuses end a wait, and how.

    Defaults: SUCCEEDED succeeds; FAILED, FAILURE_ON_SUBMIT and UNKNOWN fail. NEVER_EXECUTED is "no run
    yet" (Sqoop 2 answers it for a job that never ran): a watched job keeps its waiter waiting; a run the
    task started itself is waited for ``NEVER_EXECUTED_GRACE_S`` after its start, then fails (CDM lost or
    refused the start), unless the user's sets name NEVER_EXECUTED. A terminal status that is not a
    success status always fails, whatever the failure set says, so no wait can hang on a run that will
    never change. Giving only one of the two sets takes the other's defaults minus the statuses given.
    """

    success: frozenset[JobStatus] = SUCCESS_STATUSES
    failure: frozenset[JobStatus] = FAILURE_STATUSES

    def __post_init__(self) -> None:
        both = self.success & self.failure
        if both:
            raise ValueError(f"statuses {sorted(s.value for s in both)} are both success and failure statuses")

    @classmethod
    def from_names(
        cls, success: Iterable[str | JobStatus] | None = None, failure: Iterable[str | JobStatus] | None = None
    ) -> StatusRules:
        defaults = cls()
        success_set = status_set(success, defaults.success, "success_statuses")
        failure_set = status_set(failure, defaults.failure, "failure_statuses")
        if success is not None and failure is None:
            failure_set -= success_set
        elif failure is not None and success is None:
            success_set -= failure_set
        return cls(success_set, failure_set)

    def to_json(self) -> dict[str, list[str]]:
        return {"success": sorted(s.value for s in self.success), "failure": sorted(s.value for s in self.failure)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusRules:
        return cls.from_names(data.get("success"), data.get("failure"))

    def judge(self, submission: Submission | None, run: RunRef | None = None, *, now_s: float | None = None) -> Verdict:
        """The verdict on the latest status answer. An empty answer (None) is never success.

        ``now_s`` (epoch seconds, default this machine's clock) dates a NEVER_EXECUTED answer that
        carries no creation date of its own.
        """
        if submission is None:
            return Verdict.WAITING  # no run known yet (a waiter bounds it: ``client.follow``)
        status = submission.status
        if status is JobStatus.NEVER_EXECUTED:  # no run of the job at all: dated now, it relates to none
            if status in self.success:
                return Verdict.SUCCEEDED
            return Verdict.FAILED if status in self.failure else self._no_run_yet(submission, run, now_s)
        if run is not None:
            relation = run.relation(submission)
            if relation < 0:
                return Verdict.WAITING  # CDM still shows the run before ours
            if relation > 0:
                return Verdict.SUPERSEDED
        if status in self.success:
            return Verdict.SUCCEEDED
        if status is not None and (status in self.failure or status.is_terminal):
            return Verdict.FAILED
        return Verdict.WAITING

    @staticmethod
    def _no_run_yet(submission: Submission, run: RunRef | None, now_s: float | None) -> Verdict:
        """NEVER_EXECUTED: waiting, except for a run this task started more than the grace ago (CDM
        lost or refused the start); the answer's own date (CDM's clock) says how long ago."""
        if run is None or run.not_before_ms is None:
            return Verdict.WAITING  # a watched job: its first run has not come yet
        if submission.creation_date is not None:
            answered_ms = submission.creation_date.timestamp() * 1000
        else:
            answered_ms = (time.time() if now_s is None else now_s) * 1000
        late_ms = answered_ms - run.not_before_ms - run.skew_ms
        return Verdict.FAILED if late_ms >= NEVER_EXECUTED_GRACE_S * 1000 else Verdict.WAITING
