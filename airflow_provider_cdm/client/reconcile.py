"""Making the non-idempotent calls (create, start, create-and-execute) safe to retry.

After an *ambiguous* failure (read timeout, connection dropped after sending, HTTP 5xx, unreadable
success answer) the request may or may not have taken effect. Re-sending blindly could start a job
twice; giving up could fail a task whose job runs. So the transport asks the call's reconciler:

* before each re-send (:meth:`Reconciler.before_resend`): did the lost attempt take effect? If so the
  reconciler returns that outcome and nothing is re-sent;
* when a re-send is refused (:meth:`Reconciler.on_error`): is the refusal the lost attempt's doing?
  If so the reconciler returns the outcome instead of the error.

The rules:

* create: re-send. If the re-send answers "job exists", read the job: when it holds every value of our
  definition (read-back values percent-decoded, server-added fields and defaults ignored) the create
  succeeded; otherwise the "exists" error stands.
* start: read the job's status first. The latest run is adopted when it is active (a start now would
  be refused anyway), when it was created after the first attempt was sent (on CDM's clock, estimated
  from the answers' ``Date`` headers; a run can end before the status read), or when it is newer
  than the latest run seen at the first such read (the baseline). Otherwise re-send; if that is
  refused because the job is running, the active run is adopted. No status is read before the first
  attempt: the fault-free path costs exactly one request.
* create-and-execute: look for the job in each candidate cluster (show job). Found with another
  definition: "exists" error. Found with our definition: adopt its latest run and that cluster only when
  the run is ours: created at or after the first attempt was sent (on CDM's clock, as for start), or
  active while the job was in none of the candidates at the first look (so it is newer than anything
  a previous call left). A job found with no run yet is ours when the job itself was created after the
  first attempt (or had not been there at the first look): an empty run list. Anything else (e.g.
  yesterday's job of the same name and definition with its SUCCEEDED run) is an "exists" error naming
  job and cluster: its run is not this call's result. Found nowhere: re-send. A refusal "exists" of the
  re-send is handled the same way.

Reconcilers are sans-IO: their methods return generators that yield the probe calls to send and
receive each result (or have the probe's :class:`CdmApiError` thrown in), and return the adopted
outcome, or None to go on (re-send, or raise the error). Both transports drive them alike.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.client.clock import SERVER_CLOCK_MARGIN
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmJobExistsError, CdmJobRunningError
from airflow_provider_cdm.client.models import CreateJobResult, Job, Submission

if TYPE_CHECKING:
    from airflow_provider_cdm.client.operations import CdmCall

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Probe = Generator["CdmCall[Any]", Any, T | None]
CreateAndStartOutcome = tuple[str | None, list[Submission]]


class SendRecord(Protocol):
    """What the transport knows about the attempts of the call being reconciled."""

    def first_sent_at(self) -> datetime:
        """When the first attempt left, on CDM's clock (as well as the transport can estimate it)."""


def _created_since_first_send(moment: datetime | None, record: SendRecord) -> bool:
    """Whether CDM stamped ``moment`` at or after the first attempt left (on CDM's clock, estimated)."""
    return moment is not None and moment >= record.first_sent_at() - SERVER_CLOCK_MARGIN


class Reconciler(Protocol[T_co]):
    """What a transport asks after an ambiguous failure of a non-idempotent call."""

    def before_resend(self, record: SendRecord) -> Probe[T_co] | None:
        """Probes to run before a re-send; their outcome, if the lost attempt took effect."""

    def on_error(self, error: CdmApiError, record: SendRecord) -> Probe[T_co] | None:
        """Probes to run when a re-send is refused; their outcome, if the refusal is the lost attempt's doing."""


class CreateReconciler:
    """create: a re-send answered "exists" is a success when the existing job is ours."""

    def __init__(self, definition: Mapping[str, Any], show: CdmCall[Job]) -> None:
        self._definition = definition
        self._show = show

    def before_resend(self, record: SendRecord) -> None:
        return None

    def on_error(self, error: CdmApiError, record: SendRecord) -> Probe[CreateJobResult] | None:
        return self._adopt_if_ours() if isinstance(error, CdmJobExistsError) else None

    def _adopt_if_ours(self) -> Probe[CreateJobResult]:
        job: Job = yield self._show
        if job.matches(self._definition):
            log.info("Job %s exists with the definition sent: an earlier attempt created it", job.name)
            return CreateJobResult(name=job.name)
        log.warning("Job %s exists with a different definition: not created by this call", job.name)
        return None


class StartReconciler:
    """start: adopt an active run, a run created after the first attempt, or one newer than the baseline."""

    def __init__(self, status: CdmCall[Submission | None]) -> None:
        self._status = status
        self._baseline: int | None = None
        self._baseline_known = False

    def before_resend(self, record: SendRecord) -> Probe[Submission]:
        latest: Submission | None = yield self._status
        if latest is not None and (latest.is_active or self._is_ours(latest, record) or self._is_newer(latest)):
            log.info(
                "Adopting run %s of job %s: an earlier start attempt took effect", latest.submission_id, latest.job_name
            )
            return latest
        if not self._baseline_known:
            self._baseline = latest.submission_id if latest else None
            self._baseline_known = True
        return None

    def on_error(self, error: CdmApiError, record: SendRecord) -> Probe[Submission] | None:
        return self._adopt_active() if isinstance(error, CdmJobRunningError) else None

    @staticmethod
    def _is_ours(latest: Submission, record: SendRecord) -> bool:
        return _created_since_first_send(latest.creation_date, record)

    def _is_newer(self, latest: Submission) -> bool:
        if not self._baseline_known or latest.submission_id is None:
            return False
        return self._baseline is None or latest.submission_id > self._baseline

    def _adopt_active(self) -> Probe[Submission]:
        latest: Submission | None = yield self._status
        if latest is not None and latest.is_active:
            log.info("Adopting active run %s of job %s", latest.submission_id, latest.job_name)
            return latest
        return None


@dataclass(frozen=True)
class ClusterProbe:
    """How to look for a job in one candidate cluster."""

    cluster_id: str
    show: CdmCall[Job]
    status: CdmCall[Submission | None]


class CreateAndStartReconciler:
    """create-and-execute: find the job in a candidate cluster and adopt its run, if the run is ours."""

    def __init__(self, definition: Mapping[str, Any], probes: Sequence[ClusterProbe]) -> None:
        self._definition = definition
        self._probes = probes
        # The candidates that did not hold the job at the first look (None before it): a job found in
        # one of them later was created since, so its active run is newer than any left by others.
        self._absent_at_first_look: frozenset[str] | None = None

    def before_resend(self, record: SendRecord) -> Probe[CreateAndStartOutcome]:
        absent: set[str] = set()
        for probe in self._probes:
            try:
                job: Job = yield probe.show
            except CdmApiError as err:
                if err.kind in (ErrorKind.JOB_NOT_FOUND, ErrorKind.NOT_FOUND):
                    absent.add(probe.cluster_id)
                    continue
                raise
            if not job.matches(self._definition):
                raise CdmJobExistsError(
                    f"Job[{job.name}] already exists in cluster {probe.cluster_id} with a different definition",
                    kind=ErrorKind.JOB_EXISTS,
                )
            latest: Submission | None = yield probe.status
            if not self._is_ours(job, latest, probe.cluster_id, record):
                what = "it" if latest is None else f"its latest run {latest.submission_id} ({latest.status_text})"
                raise CdmJobExistsError(
                    f"Job[{job.name}] already exists in cluster {probe.cluster_id} with this definition, "
                    f"but {what} predates this call: not this call's doing",
                    kind=ErrorKind.JOB_EXISTS,
                )
            log.info("Job %s found in cluster %s: an earlier attempt created it", job.name, probe.cluster_id)
            return (probe.cluster_id, [latest] if latest else [])
        if self._absent_at_first_look is None:
            self._absent_at_first_look = frozenset(absent)
        return None

    def _is_ours(self, job: Job, latest: Submission | None, cluster_id: str, record: SendRecord) -> bool:
        appeared = self._absent_at_first_look is not None and cluster_id in self._absent_at_first_look
        if latest is None:  # created, not started yet: judge the job itself
            return appeared or _created_since_first_send(job.creation_date, record)
        return _created_since_first_send(latest.creation_date, record) or (appeared and latest.is_active)

    def on_error(self, error: CdmApiError, record: SendRecord) -> Probe[CreateAndStartOutcome] | None:
        return self.before_resend(record) if isinstance(error, CdmJobExistsError) else None
