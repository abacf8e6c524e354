"""What happens to runs and jobs as the clock moves, applied lazily: queues, retries, deletions, schedules.

The backend has no thread. At each access it calls :meth:`Lifecycle.advance` (under its one lock),
which replays every event due since the last access in time order, each at its own instant:

1. a run ends (a subjob's before its batch parent's): its cluster slot goes to the first queued run
   (``PENDING``, first come first served, ``../shared/cdm-dialects.md`` row 13); then CDM's retry is
   armed (``retryJobConfig.retryJobType`` ``RETRY_TRIPLE``) or, after the job's last run, the job is
   deleted as ``schedulerConfig.disposableType`` says;
2. a retry is due: a new run (new submission id, the job's next script) ``retry_delay_s`` after the
   failed run ended;
3. a scheduled run is due (``schedulerConfig.isSchedulerJob``): CDM starts it itself
   (``is-execute-auto`` true), or skips it while a run of the job is under way.

Decisions where CDM's documentation is silent: a retry follows a run that ended FAILED or
FAILURE_ON_SUBMIT (a run that "fails to be executed"), never one stopped by the user nor an UNKNOWN one
(CDM cannot tell it failed); the retry keeps the failed run's variables, user and ``is-execute-auto``;
a start (by the user or the schedule) before a pending retry is due replaces the retry; a job with
retries is deleted only after its last run (DELETE: whatever it ended with; DELETE_AFTER_SUCCEED: if
it succeeded); deleting a batch job deletes its subjobs; a due scheduled run is skipped, not queued,
while a run is active or the cluster is not running; after ``MAX_CATCH_UP`` scheduled runs of one job
in one access (a clock that jumped far), the rest due by then are skipped as missed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.job_options import Disposal
from airflow_provider_cdm.api.job_schema import job_name_problems
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.emulator.batch import BatchRun
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.job_options import BATCH_JOB, subjob_definition, subjob_name
from airflow_provider_cdm.emulator.runs import JsonDict, Run, Script

if TYPE_CHECKING:
    from airflow_provider_cdm.emulator.models import Cluster, Job

RETRIED_STATUSES = frozenset({JobStatus.FAILED, JobStatus.FAILURE_ON_SUBMIT})
MAX_CATCH_UP = 500  # scheduled runs of one job materialised in one access
MAX_EVENTS = 100_000  # per access; the rest waits for the next one
EVENT_LOG_SIZE = 1000  # the latest events and deletions the admin snapshot shows


@dataclass(frozen=True)
class PendingRetry:
    """CDM's next run of a job whose run failed: due at ``due``, retry number ``attempt``."""

    due: float
    attempt: int
    variables: Mapping[str, str]
    user: str
    is_auto: bool

    def to_json(self) -> JsonDict:
        return {"due": self.due, "attempt": self.attempt}


class Hooks(Protocol):
    """What the lifecycle needs from the backend that owns the jobs (lock held)."""

    def new_submission_id(self) -> int: ...
    def take_script(self, job_name: str) -> Script: ...
    def add_job(self, cluster: Cluster, definition: JsonDict, user: str, now: float, parent: str | None) -> Job: ...
    def count_start(self, job_name: str) -> None: ...


class Lifecycle:
    """Runs under way, the clusters' queues, armed retries and schedules, and what they did (log)."""

    def __init__(self, hooks: Hooks, *, retry_delay_s: float, concurrency: int | None) -> None:
        self._hooks = hooks
        self.retry_delay_s = retry_delay_s
        self.concurrency = concurrency
        self._live: dict[int, tuple[Cluster, Job, Run]] = {}
        self._timed: dict[int, tuple[Cluster, Job]] = {}  # by job id: jobs with a retry or schedule armed
        self._fired: Counter[int] = Counter()
        self.deleted: deque[JsonDict] = deque(maxlen=EVENT_LOG_SIZE)
        self.events: deque[JsonDict] = deque(maxlen=EVENT_LOG_SIZE)

    # -- the clock ------------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Apply, in time order, every event due at or before ``now``."""
        self._fired.clear()
        for _ in range(MAX_EVENTS):
            event = self._next_event(now)
            if event is None:
                return
            event()

    def _next_event(self, now: float) -> Callable[[], None] | None:
        best: tuple[tuple[float, int, int], Callable[[], None]] | None = None

        def offer(key: tuple[float, int, int], action: Callable[[], None]) -> None:
            nonlocal best
            if best is None or key < best[0]:
                best = (key, action)

        for cluster, job, run in self._live.values():
            end = run.ends_at()
            if end is not None and end <= now:
                order = 1 if isinstance(run, BatchRun) else 0
                offer((end, order, run.submission_id), _bind(self._end_run, cluster, job, run, end))
        for job_id, (cluster, job) in list(self._timed.items()):
            if cluster.jobs.get(job.name) is not job or (job.retry is None and job.next_schedule is None):
                del self._timed[job_id]
                continue
            if job.retry is not None and job.retry.due <= now:
                offer((job.retry.due, 2, job.id), _bind(self._retry_due, cluster, job, job.retry.due))
            if job.next_schedule is not None and job.next_schedule <= now:
                offer((job.next_schedule, 3, job.id), _bind(self._schedule_due, cluster, job, job.next_schedule, now))
        return None if best is None else best[1]

    # -- starting and stopping runs ------------------------------------------------------------------

    def submit(
        self,
        cluster: Cluster,
        job: Job,
        variables: Mapping[str, str],
        user: str,
        at: float,
        *,
        is_auto: bool = False,
        attempt: int = 0,
    ) -> Run:
        """Submit a run of the job at ``at``: it boots at once, or queues (PENDING) for a cluster slot."""
        job.retry = None  # a new run replaces a retry not yet due
        if job.job_type == BATCH_JOB and job.options.tables:
            return self._submit_batch(cluster, job, variables, user, at, is_auto=is_auto, attempt=attempt)
        run = Run(
            self._hooks.new_submission_id(),
            job.name,
            user,
            at,
            self._hooks.take_script(job.name),
            dict(variables),
            is_auto=is_auto,
            delete_job=job.options.disposal is not Disposal.NONE,
            attempt=attempt,
        )
        if not run.holds_slot or self._slot_free(cluster):
            run.started_at = at
        else:
            cluster.queue.append(run)
            self._log(at, cluster, job, "queued", run, position=len(cluster.queue))
        self._track(cluster, job, run)
        return run

    def _submit_batch(
        self,
        cluster: Cluster,
        job: Job,
        variables: Mapping[str, str],
        user: str,
        at: float,
        *,
        is_auto: bool,
        attempt: int,
    ) -> Run:
        """One subjob per table, each (re)created and started; the parent's run sums them up."""
        names = [subjob_name(job.name, table) for table in job.options.tables]
        for name in names:
            problems = job_name_problems(name, "subjob name")
            if problems:
                raise ApiError(errors.CDM_CANNOT_SUBMIT, job=job.name, reason="; ".join(problems))
            existing = cluster.jobs.get(name)
            if existing is not None and existing.active_run(at) is not None:
                raise ApiError(errors.CDM_JOB_RUNNING, job=name)
        parent = BatchRun(
            self._hooks.new_submission_id(),
            job.name,
            user,
            at,
            Script(),
            dict(variables),
            started_at=at,
            is_auto=is_auto,
            delete_job=job.options.disposal is not Disposal.NONE,
            attempt=attempt,
        )
        for table in job.options.tables:
            sub = self._hooks.add_job(cluster, subjob_definition(job.definition, table), user, at, job.name)
            parent.subruns.append(self.submit(cluster, sub, variables, user, at, is_auto=is_auto))
        self._track(cluster, job, parent)
        self._log(at, cluster, job, "batch_started", parent, subjobs=names)
        return parent

    def stop(self, cluster: Cluster, run: Run, now: float) -> None:
        """End an active run now (a batch's subjobs with it); a queued one leaves the queue."""
        if isinstance(run, BatchRun):
            for sub in run.subruns:
                if sub.is_active(now):
                    self.stop(cluster, sub, now)
        if any(queued is run for queued in cluster.queue):
            cluster.queue = deque(queued for queued in cluster.queue if queued is not run)
        run.stopped_at = now

    def auto_start(
        self, cluster: Cluster, job: Job, at: float, *, fired: bool = False
    ) -> tuple[Run | None, str | None]:
        """CDM starts a scheduled run itself (``fired``: asked through the backend, not due): the run,
        or None and why it was skipped."""
        reason = None
        if job.active_run(at) is not None:
            reason = "a run of the job is under way"
        elif not cluster.spec.status.can_run_jobs:
            reason = f"cluster {cluster.spec.id} is not running (status {cluster.spec.status.value})"
        if reason is None:
            try:
                run = self.submit(cluster, job, {}, job.update_user, at, is_auto=True)
            except ApiError as error:
                reason = error.message
            else:
                self._log(at, cluster, job, "auto_started", run, fired=fired)
                return run, None
        self._log(at, cluster, job, "schedule_skipped", None, reason=reason, fired=fired)
        return None, reason

    def arm_schedule(self, cluster: Cluster, job: Job, now: float) -> None:
        """(Re)compute the job's next scheduled run from ``now`` on (its definition was saved now)."""
        schedule = job.options.schedule
        job.next_schedule = None if schedule is None else schedule.next_after(now, inclusive=True)
        if job.next_schedule is not None:
            self._timed[job.id] = (cluster, job)

    # -- events (lock held, in time order) ------------------------------------------------------------

    def _end_run(self, cluster: Cluster, job: Job, run: Run, at: float) -> None:
        run.finalized = True
        self._live.pop(run.submission_id, None)
        if run.holds_slot and run.started_at is not None:
            self._fill_slots(cluster, at)
        if cluster.jobs.get(job.name) is not job:
            return
        status = run.status(at)
        if run.stopped_at is None and status in RETRIED_STATUSES and run.attempt < job.options.retries:
            job.retry = PendingRetry(
                at + self.retry_delay_s, run.attempt + 1, dict(run.variables), run.user, run.is_auto
            )
            self._timed[job.id] = (cluster, job)
            self._log(at, cluster, job, "retry_armed", run, due=job.retry.due, attempt=job.retry.attempt)
        elif job.options.disposal.deletes_after(status is JobStatus.SUCCEEDED):
            self._dispose(cluster, job, run, status, at)

    def _retry_due(self, cluster: Cluster, job: Job, at: float) -> None:
        retry, job.retry = job.retry, None
        if retry is None:
            return
        reason = None
        if job.active_run(at) is not None:
            reason = "a run of the job is under way"
        elif not cluster.spec.status.can_run_jobs:
            reason = f"cluster {cluster.spec.id} is not running"
        else:
            try:
                run = self.submit(
                    cluster, job, retry.variables, retry.user, at, is_auto=retry.is_auto, attempt=retry.attempt
                )
            except ApiError as error:
                reason = error.message
            else:
                self._log(at, cluster, job, "retried", run, attempt=retry.attempt)
                return
        self._log(at, cluster, job, "retry_skipped", None, reason=reason, attempt=retry.attempt)

    def _schedule_due(self, cluster: Cluster, job: Job, at: float, now: float) -> None:
        schedule = job.options.schedule
        job.next_schedule = None if schedule is None else schedule.next_after(at)
        self._fired[job.id] += 1
        if self._fired[job.id] > MAX_CATCH_UP and schedule is not None:
            missed = 1
            while job.next_schedule is not None and job.next_schedule <= now:
                job.next_schedule = schedule.next_after(job.next_schedule)
                missed += 1
            self._log(at, cluster, job, "schedule_missed", None, count=missed)
            return
        self.auto_start(cluster, job, at)

    def _fill_slots(self, cluster: Cluster, at: float) -> None:
        while cluster.queue and self._running(cluster) < (self.concurrency or 0):
            run = cluster.queue.popleft()
            run.started_at = at
            self._log(at, cluster, None, "dequeued", run)

    def _dispose(self, cluster: Cluster, job: Job, run: Run, status: JobStatus, at: float) -> None:
        """CDM deletes the job after its run, as ``disposableType`` asks (its batch subjobs too)."""
        del cluster.jobs[job.name]
        subjobs = [j.name for j in cluster.jobs.values() if j.parent == job.name and j.active_run(at) is None]
        for name in subjobs:
            del cluster.jobs[name]
        record = {
            "at": at,
            "cluster": cluster.spec.id,
            "job_name": job.name,
            "disposal": job.options.disposal.value,
            "submission_id": run.submission_id,
            "status": status.value,
            "runs": len(job.runs),
            "subjobs": subjobs,
        }
        self.deleted.append(record)
        self._log(at, cluster, job, "deleted", run, disposal=job.options.disposal.value, status=status.value)

    # -- helpers --------------------------------------------------------------------------------------

    def _slot_free(self, cluster: Cluster) -> bool:
        """A new run may boot now: no limit, or a free slot and nobody queued before it."""
        return self.concurrency is None or (not cluster.queue and self._running(cluster) < self.concurrency)

    def _running(self, cluster: Cluster) -> int:
        return sum(
            1
            for owner, _, run in self._live.values()
            if owner is cluster and run.holds_slot and run.started_at is not None and run.stopped_at is None
        )

    def _track(self, cluster: Cluster, job: Job, run: Run) -> None:
        job.runs.append(run)
        self._live[run.submission_id] = (cluster, job, run)
        self._hooks.count_start(job.name)

    def _log(self, at: float, cluster: Cluster, job: Job | None, event: str, run: Run | None, **detail: Any) -> None:
        entry: JsonDict = {"at": at, "cluster": cluster.spec.id, "event": event}
        entry["job_name"] = job.name if job is not None else run.job_name if run is not None else None
        if run is not None:
            entry["submission_id"] = run.submission_id
        entry.update(detail)
        self.events.append(entry)


def _bind(function: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: function(*args)
