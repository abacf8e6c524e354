"""A wait over more than one answer: CDM's own retries of a failed run, and jobs CDM deletes after their run.

:meth:`StatusRules.judge` says what one answer means. Two job options (``api.job_options``) make the
outcome depend on what comes after it:

- ``RETRY_TRIPLE``: CDM runs a failed job again, up to three times. A FAILED run is not the task's
  outcome while CDM may still retry it: the wait follows the newer run CDM starts, and reports the last.
  When no newer run comes within ``RETRY_GRACE_S`` of the failure, the failure stands.
- ``disposableType``: the job is gone after its run, and its status with it. A job whose definition
  says ``DELETE_AFTER_SUCCEED`` that vanishes after its run was seen succeeded (CDM keeps it when a run
  fails); with ``DELETE`` the outcome went with the job, unless it was read first.

:class:`RunFollower` holds what a wait knows (the run, perhaps CDM's retry by now; the last answer
about it; the job's options once read) and does no I/O: the poll loop, the sensor and the trigger read
and ask it. The options are read once, only when an answer depends on them: a failure, a run that says
``isDeleteJob``, or a sparse answer that does not say (the job could be gone at the next read). On
CDM's full answers an ordinary wait costs no call more; on sparse ones, one.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_cdm.api.job_options import Disposal, JobOptions
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import NEVER_EXECUTED_GRACE_S, RunRef, StatusRules, Verdict

# How long after a run failed a wait on a RETRY_TRIPLE job looks for CDM's retry before the failure stands.
RETRY_GRACE_S = 120.0
# The failures CDM retries (a run it cannot tell the end of, UNKNOWN, it does not).
RETRIED_STATUSES = frozenset({JobStatus.FAILED, JobStatus.FAILURE_ON_SUBMIT})


@dataclass(frozen=True)
class Decision:
    """What the wait does now: a verdict, the answer it is about, and why (when not CDM's own words)."""

    verdict: Verdict
    submission: Submission | None
    message: str = ""


class RunFollower:
    """One wait's judgement across answers (see the module's docstring)."""

    def __init__(self, run: RunRef, rules: StatusRules, *, clock: Callable[[], float] = time.time) -> None:
        self.run = run
        self.rules = rules
        self.last: Submission | None = None  # the latest answer about the watched run itself
        self._clock = clock
        self._failure_seen_at: float | None = None
        self._empty_since: float | None = None  # when this wait first got no run at all

    def needs_options(self, submission: Submission | None) -> bool:
        """Whether the job's options must be read now, while the job is still there: they are unknown,
        and the answer about our run is a failure (CDM may retry it), says that CDM deletes the job after
        the run, or does not say whether it will (a sparse answer: the job may be gone at the next read)."""
        if self.run.options is not None or submission is None or submission.status is JobStatus.NEVER_EXECUTED:
            return False
        if self.run.relation(submission) != 0:
            return False
        if submission.status in RETRIED_STATUSES:
            return True
        return not submission.is_terminal and submission.deletes_job is not False

    def learn(self, options: JobOptions) -> None:
        self.run = dataclasses.replace(self.run, options=options)

    def on_answer(self, submission: Submission | None) -> Decision:
        """The decision on the latest status answer (or our run as the run history shows it)."""
        verdict = self.rules.judge(submission, self.run, now_s=self._clock())
        if submission is None and self._no_run_for_too_long():
            verdict = Verdict.FAILED
        if verdict is Verdict.FAILED and (submission is None or submission.status is JobStatus.NEVER_EXECUTED):
            return Decision(
                verdict,
                submission,
                f"CDM reports no run of job {self.run.job_name!r} {NEVER_EXECUTED_GRACE_S:g} s after the task "
                "started it: CDM lost or refused the start",
            )
        if submission is None or verdict is Verdict.SUPERSEDED:
            return Decision(verdict, submission)
        if self.run.relation(submission) == 0 and submission.status is not JobStatus.NEVER_EXECUTED:
            self.last = submission
            # A run started without an id (a sparse start answer) that CDM's own date pins: keep its id.
            pinned = self.run.submission_id is None and self.run.pinned_relation(submission) == 0
            if pinned and submission.submission_id is not None:
                self.run = dataclasses.replace(self.run, submission_id=submission.submission_id)
        if verdict is Verdict.FAILED and self._cdm_retries(submission):
            waited = self._clock() - self._failed_at(submission)
            if waited < RETRY_GRACE_S:
                return Decision(
                    Verdict.WAITING,
                    submission,
                    f"run {submission.submission_id} failed; CDM retries failed runs of this job (RETRY_TRIPLE): "
                    f"waiting up to {RETRY_GRACE_S:g} s for its retry",
                )
        return Decision(verdict, submission)

    def on_history(self, ours: Submission, latest: Submission) -> Decision:
        """After a newer run superseded ours: ``ours`` as the run history shows it, ``latest`` the newer one.

        A failed run of a job CDM retries is followed by its retry: the wait moves to the newer run.
        """
        if self._cdm_retries(ours):
            self.run = dataclasses.replace(
                RunRef.of(latest, self.run.cluster_id), job_name=self.run.job_name, options=self.run.options
            )
            self.last, self._failure_seen_at = None, None
            return self.on_answer(latest)
        return self.on_answer(ours)

    def on_gone(self) -> Decision | None:
        """The job is not found any more. A decision when its options say CDM deleted it after the run;
        None when nothing says so (someone deleted the job: the caller reports it missing)."""
        options, last = self.run.options, self.last
        disposal = options.disposal if options is not None else None
        if last is None and self.run.submission_id is None and self.run.not_before_ms is None:
            return None  # a watched job whose run was never seen: nothing is known of it
        if last is None:  # the task started the run (or was given its id): it was there
            last = Submission.from_api(
                {"job-name": self.run.job_name, "submission-id": self.run.submission_id, "status": "RUNNING"}
            )
        if disposal is Disposal.DELETE_AFTER_SUCCEED:
            succeeded = dataclasses.replace(
                last,
                status=JobStatus.SUCCEEDED,
                status_text=JobStatus.SUCCEEDED.value,
                progress=100.0,
                rows_written=None,
            )
            return Decision(
                Verdict.SUCCEEDED,
                succeeded,
                f"CDM deleted job {self.run.job_name!r} after its run succeeded, as its definition asks "
                "(disposableType DELETE_AFTER_SUCCEED); the run's final counters went with it",
            )
        if disposal is Disposal.DELETE or (options is None and last.deletes_job is True):
            return Decision(
                Verdict.FAILED,
                last,
                f"CDM deleted job {self.run.job_name!r} after its run, as its definition asks "
                "(disposableType DELETE), before the run's outcome could be read",
            )
        return None

    def _no_run_for_too_long(self) -> bool:
        """An empty answer about a run this task started, for longer than the grace since this wait began
        (on this machine's clock: an empty answer carries no date of CDM's)."""
        if self.run.not_before_ms is None:
            return False  # a watched job: its first run may come any time
        if self._empty_since is None:
            self._empty_since = self._clock()
        return self._clock() - self._empty_since >= NEVER_EXECUTED_GRACE_S

    def _cdm_retries(self, submission: Submission) -> bool:
        options = self.run.options
        return options is not None and options.retries > 0 and submission.status in RETRIED_STATUSES

    def _failed_at(self, submission: Submission) -> float:
        """When the run failed: CDM's last-update date, else when this wait first saw the failure."""
        if self._failure_seen_at is None:
            self._failure_seen_at = self._clock()
        if submission.last_update_date is not None:
            return min(submission.last_update_date.timestamp(), self._failure_seen_at)
        return self._failure_seen_at
