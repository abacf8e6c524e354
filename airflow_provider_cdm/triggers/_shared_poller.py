"""Shared polling for :class:`~airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger`.

Every trigger of one triggerer process (one asyncio loop; state is kept per running loop) that
watches jobs through the same connection (same ``cdm_conn_id`` and ``hook_params``) in the same
cluster subscribes to one :class:`SharedPoller`. The poller starts with its first subscriber, stops
with its last, and sends every call through one async transport whose attempts are paced by the
process-wide :class:`~airflow_provider_cdm.client.rate_limit.QuotaLimiter` of its credentials
(``[cdm] triggerer_quota_share`` of every quota).
Triggers keep their own semantics: each judges every answer it receives with its own
:class:`StatusRules` against its own :class:`RunRef`, keeps its deadline, logs its progress and fires
its own event; subscribing, leaving or failing one trigger changes nothing for the others.

How a job is read (``W`` watched jobs, ``P`` list pages of 100 a sweep reads, ``I`` the shortest poll
interval, ``r_g = share x quota_g / 60`` calls per second for quota group ``g``; 1.2/s for status,
list and run history with the documented 120/min and the default share of 60%):

* **status mode** while ``W <= max(P, floor(r_status x I))``: one status call per job and due
  interval (its answer carries the run's details, so it is judged at once). Each job is answered
  every ``max(I, W / r_status)`` seconds.
* **list mode** beyond that: one list-jobs page (100 jobs, ``filter`` = the watched names' longest
  common prefix when there is one) answers every watched job on it with its status. A sweep reads
  only the pages that held due jobs at the last sweep (all pages when a due job's page is unknown,
  e.g. a new subscriber, or a page no longer shows it). Each job is answered every
  ``max(I, P_due / r_list)`` seconds, ``P_due <= ceil(M / 100)`` with ``M`` the jobs matching the
  filter. A list entry carries the job's last run (status, creation date, counters; no submission
  id, progress or error summary). When its creation date is certainly the watched run's and the
  run succeeded, the entry is the subscriber's result: a success is fired within one sweep.
  Anything else that would end a wait (a failure, whose error summary is needed, or a run the entry
  cannot pin) queues the job for one **confirmation** read, FIFO, by a status call or (when every
  subscriber knows its submission id) by the run history's newest page (its own quota), and that
  answer is what the triggers judge, ``Q / (r_status + r_history)`` seconds later, ``Q`` being the
  confirmations queued before it (the confirmation rate is 2.4/s by default). Confirmations go
  first: a reader takes one the moment it is queued (the page is still being read), before any
  status read of a job that is merely due; ``RUN_READERS`` of each kind go out at once (a page's
  failures take their places in the quota's burst together), and at most ``ROUTINE_READERS``
  routine status reads are ever under way, so a confirmation queues in the quota behind no more
  than those.
* Jobs a full sweep does not show (another job type, deleted) are read with status calls; a list
  call that still fails after the retry policy switches the poller to status calls for a minute.
* A trigger at its deadline asks for one status read before it times out (served first).

The triggerer's loop stays free: a list page is handed out ``ENTRIES_PER_STEP`` entries at a time,
with a yield to the loop between them. At INFO the poller logs its start and stop (with its calls),
switches between status calls and list pages, failing list calls and, at most once a
``SUMMARY_EVERY_S``, a summary (jobs watched, calls, 429s); everything per read or sweep is DEBUG.

All pollers of one credentials identity share its quota: ``r_g`` is split between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import math
import os
import time
import weakref
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.api.endpoints import LIST_PAGE_SIZE_RANGE
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.async_transport import AsyncTransport, TokenCallback
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.models import Job, Submission
from airflow_provider_cdm.client.rate_limit import ROLE_TRIGGERER, QuotaLimiter, shared_limiter
from airflow_provider_cdm.client.runs import RunRef, StatusRules, Verdict
from airflow_provider_cdm.client.settings import CdmSettings
from airflow_provider_cdm.options import DEFAULT_TRIGGERER_QUOTA_SHARE, triggerer_quota_share

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = LIST_PAGE_SIZE_RANGE[1]  # jobs per list-jobs page
HISTORY_PAGE_SIZE = LIST_PAGE_SIZE_RANGE[0]  # the newest runs of a job, to confirm one that just ended
# Run readers per kind (status, run history): a page's confirmations go out together and take their
# places in the quota's burst at once, ahead of any routine read that asks later.
RUN_READERS = 4
ROUTINE_READERS = 2  # status reads of jobs that are merely due, at most at once (the rest stay for confirmations)
ENTRIES_PER_STEP = 20  # list entries handed out between two yields to the event loop
SUMMARY_EVERY_S = 60.0  # the INFO summary of calls and 429s, at most this often
LIST_PAUSE_AFTER_FAILURE_S = 60.0
SOURCE_STATUS = "status"
SOURCE_HISTORY = "run history"
SOURCE_LIST = "job list"
_ENDS_A_WAIT = (Verdict.SUCCEEDED, Verdict.FAILED)


# --- what a subscriber receives ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Listed:
    """Progress from the job list: the job's status, without the details of the run (the rows its last
    run wrote so far, when that run is certainly the watched one)."""

    status: JobStatus | None
    status_text: str | None
    rows_written: int | None = None


@dataclasses.dataclass(frozen=True)
class RunRead:
    """A run read: the latest run by a status call (None: no run known), or ours from the run history."""

    submission: Submission | None
    source: str


@dataclasses.dataclass(frozen=True)
class ReadFailed:
    """Reading the job failed for good (after the retry policy); no more reads follow."""

    error: BaseException


Answer = Listed | RunRead | ReadFailed


class Subscription:
    """One trigger's place in a poller: its run, rules and poll interval, and the answers for it."""

    def __init__(self, poller: SharedPoller, run: RunRef, rules: StatusRules, poll_interval: float) -> None:
        self.run = run
        self.rules = rules
        self.poll_interval = poll_interval
        self._poller = poller
        self._answers: deque[Answer] = deque()
        self._arrived = asyncio.Event()

    @property
    def settings(self) -> CdmSettings:
        return self._poller.settings

    @property
    def transport(self) -> AsyncTransport:
        """The poller's transport (paced), for a trigger's own reads such as the run history."""
        return self._poller.transport

    def deliver(self, answer: Answer) -> None:
        self._answers.append(answer)
        self._arrived.set()

    async def next_answer(self) -> Answer:
        """The next answer about this subscriber's job, in the order they came."""
        while not self._answers:
            self._arrived.clear()
            await self._arrived.wait()
        return self._answers.popleft()

    def read_now(self) -> None:
        """Ask for one status read of the job as soon as the quota allows (a trigger at its deadline)."""
        self._poller.read_now(self)

    def retarget(self, run: RunRef) -> None:
        """Watch ``run`` from now on: CDM's retry of the run this subscriber waited for (same job)."""
        self.run = run

    def ends_wait(self, status_text: str | None) -> bool:
        """Whether a run in this status would end this subscriber's wait (its rules decide)."""
        pseudo = Submission.from_api({"status": status_text})
        return self.rules.judge(pseudo) in _ENDS_A_WAIT

    def take_listed(self, listed: Listed, last_run: Submission | None) -> bool:
        """Deliver what a job-list entry says; True when it asks for a run read (a confirmation).

        When the entry's last run is certainly ours (:meth:`RunRef.pinned_relation`) and a success,
        the entry is the result: it carries the run's status, dates and counters (a succeeded run is
        at 100%), and a succeeded run has no error summary to fetch. A run read confirms anything
        else that would end the wait (a failure, for its error summary; a run the entry cannot pin)
        and a newer run than ours in any status: ours ended, and the run history tells how.
        """
        relation = self.run.pinned_relation(last_run) if last_run is not None else None
        # A run whose id is not known yet (a sparse start answer) is confirmed by a status read: the
        # entry carries no submission id, and the task's result names the run.
        if last_run is not None and relation == 0 and self.run.submission_id is not None:
            ours = dataclasses.replace(last_run, submission_id=self.run.submission_id, progress=100.0)
            if self.rules.judge(ours, self.run) is Verdict.SUCCEEDED:
                self.deliver(RunRead(ours, SOURCE_LIST))
                return False
        if last_run is not None and relation == 0:
            listed = dataclasses.replace(listed, rows_written=last_run.rows_written)
        self.deliver(listed)
        return relation == 1 or self.ends_wait(listed.status_text)


# --- the poller ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PollerKey:
    conn_id: str
    hook_params: str  # canonical JSON
    cluster_id: str


class _WatchedJob:
    """A job some subscribers wait on, and what the poller knows about it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.subscribers: list[Subscription] = []
        self.answered_at = -math.inf  # when the last answer about it arrived (poller clock)
        self.page: tuple[str, int] | None = None  # (filter, page number) where the job list last showed it
        self.confirm_since: float | None = None  # the list showed a status that ends a wait: read the run
        self.urgent_since: float | None = None  # a subscriber asked for a status read now
        self.history_missed = False  # the run history's newest page lacked a subscriber's run
        self.busy = False  # a run read is under way

    @property
    def interval(self) -> float:
        return min(sub.poll_interval for sub in self.subscribers)

    @property
    def due_at(self) -> float:
        return self.answered_at + self.interval


@dataclasses.dataclass
class _Sweep:
    name_filter: str
    pages: list[int] | None  # None: every page
    expected: dict[int, set[str]]  # for listed pages: the jobs each should show
    members: set[str]  # the jobs watched when it began (a full sweep marks those it misses unlisted)


class SharedPoller:
    """Reads the jobs of one cluster for every subscriber of one connection in one event loop."""

    def __init__(
        self,
        key: PollerKey,
        load_settings: Callable[[], Awaitable[CdmSettings]],
        *,
        on_token: TokenCallback | None = None,
        quota_share: float = DEFAULT_TRIGGERER_QUOTA_SHARE,
        limiter: QuotaLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.cluster_id = key.cluster_id
        self.jobs: dict[str, _WatchedJob] = {}
        self.calls: Counter[str] = Counter()  # calls sent, by kind (logs, bench)
        self._load_settings = load_settings
        self._on_token = on_token
        self._quota_share = quota_share
        self._limiter = limiter
        self._clock = clock
        self._subscribers = 0
        self._confirmations: OrderedDict[str, None] = OrderedDict()  # FIFO of jobs whose run must be read
        self._urgent: OrderedDict[str, None] = OrderedDict()  # jobs a subscriber asked to read now
        self._routine_reads = 0  # status reads of due jobs under way
        self._window: Counter[str] = Counter()  # calls (and failed reads) since the last summary
        self._429s_seen = 0  # the limiter's 429 count at the last summary
        self._summary_at = clock()
        self._unlisted: set[str] = set()  # the jobs a full sweep did not show: read with status calls
        self._shortest: float | None = None  # the shortest poll interval of the listed jobs (None: to compute)
        self._filter: str | None = None  # the list filter of the last full sweep
        self._pages: int | None = None  # pages a full sweep with that filter read
        self._list_off_until = -math.inf
        self._list_mode = False
        self._wakeups: list[asyncio.Event] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._settings: CdmSettings | None = None
        self._transport: AsyncTransport | None = None
        self._stopped = False
        self._ready = asyncio.ensure_future(self._start())

    # --- life cycle --------------------------------------------------------------------------------

    @property
    def settings(self) -> CdmSettings:
        if self._settings is None:
            raise RuntimeError("the poller is not ready")
        return self._settings

    @property
    def transport(self) -> AsyncTransport:
        if self._transport is None:
            raise RuntimeError("the poller is not ready")
        return self._transport

    @property
    def limiter(self) -> QuotaLimiter:
        if self._limiter is None:
            raise RuntimeError("the poller is not ready")
        return self._limiter

    @property
    def subscribers(self) -> int:
        return self._subscribers

    @property
    def running(self) -> bool:
        return not self._stopped

    async def _start(self) -> None:
        settings = await self._load_settings()
        self._settings = settings
        _freeze_long_lived_objects()
        if self._limiter is None:
            self._limiter = shared_limiter(settings, self._quota_share, role=ROLE_TRIGGERER)
        self._transport = AsyncTransport(settings, on_token=self._on_token, limiter=self._limiter)
        workers: list[Callable[[asyncio.Event], Awaitable[None]]] = [self._list_worker]
        workers += [self._status_worker] * RUN_READERS + [self._history_worker] * RUN_READERS
        for worker in workers:
            wakeup = asyncio.Event()
            self._wakeups.append(wakeup)
            self._tasks.append(asyncio.ensure_future(self._guarded(worker, wakeup)))
        log.info("Shared CDM poller for cluster %s (connection %s) started", self.cluster_id, self.key.conn_id)

    async def ready(self) -> None:
        """Wait until the settings are loaded and the workers run; raises what loading raised."""
        await asyncio.shield(self._ready)

    def add(self, run: RunRef, rules: StatusRules, poll_interval: float) -> Subscription:
        subscription = Subscription(self, run, rules, poll_interval)
        job = self.jobs.get(run.job_name)
        if job is None:
            job = self.jobs[run.job_name] = _WatchedJob(run.job_name)
        job.subscribers.append(subscription)
        job.answered_at = -math.inf  # the newcomer gets an answer at the next read
        self._subscribers += 1
        self._shortest = None
        self._poke()
        return subscription

    async def remove(self, subscription: Subscription) -> None:
        """Take a subscription out; the last one out stops the poller (awaiting its workers)."""
        job = self.jobs.get(subscription.run.job_name)
        if job is not None and subscription in job.subscribers:
            job.subscribers.remove(subscription)
            self._shortest = None
            if not job.subscribers:
                self._drop(job)
        self._subscribers -= 1
        if self._subscribers <= 0:
            await self.stop()
        else:
            self._poke()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _forget(self)
        tasks = [*self._tasks, self._ready]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._transport is not None:
            await self._transport.aclose()
        log.info(
            "Shared CDM poller for cluster %s (connection %s) stopped; calls %s",
            self.cluster_id,
            self.key.conn_id,
            dict(self.calls),
        )

    def read_now(self, subscription: Subscription) -> None:
        job = self.jobs.get(subscription.run.job_name)
        if job is not None and job.urgent_since is None:
            job.urgent_since = self._clock()
            self._urgent[job.name] = None
            self._poke()

    def _drop(self, job: _WatchedJob) -> None:
        if self.jobs.get(job.name) is not job:
            return
        del self.jobs[job.name]
        self._confirmations.pop(job.name, None)
        self._urgent.pop(job.name, None)
        self._unlisted.discard(job.name)
        self._shortest = None

    def _poke(self) -> None:
        for wakeup in self._wakeups:
            wakeup.set()

    def _count(self, kind: str) -> None:
        """Count a call of ``kind`` (status, list, history); log the summary when one is due."""
        self.calls[kind] += 1
        self._window[kind] += 1
        now = self._clock()
        if now - self._summary_at >= SUMMARY_EVERY_S:
            self._summarize(now)

    def _summarize(self, now: float) -> None:
        """INFO, at most once a ``SUMMARY_EVERY_S``: jobs watched, calls since the last summary, 429s."""
        throttles = sum(
            self.limiter.throttles(endpoint)
            for endpoint in (endpoints.JOB_STATUS, endpoints.LIST_JOBS, endpoints.LIST_SUBMISSIONS)
        )
        log.info(
            "Shared CDM poller for cluster %s: %d job(s) watched with %s; in the last %.0f s: calls %s, "
            "%d x 429 on these credentials' quotas",
            self.cluster_id,
            len(self.jobs),
            "list-jobs pages" if self._list_mode else "status calls",
            now - self._summary_at,
            dict(self._window),
            throttles - self._429s_seen,
        )
        self._window.clear()
        self._429s_seen = throttles
        self._summary_at = now

    async def _guarded(self, worker: Callable[[asyncio.Event], Awaitable[None]], wakeup: asyncio.Event) -> None:
        """Run a worker; a bug in it fails every subscriber (an error event) instead of a silent hang."""
        try:
            await worker(wakeup)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.exception("Shared CDM poller for cluster %s failed", self.cluster_id)
            for job in list(self.jobs.values()):
                self._deliver(job, ReadFailed(err))
                self._drop(job)

    async def _idle(self, wakeup: asyncio.Event, until: float) -> None:
        """Wait for a change (a poke) or until ``until`` (poller clock)."""
        timeout = until - self._clock()
        if timeout <= 0:
            return
        waiter = asyncio.ensure_future(wakeup.wait())
        try:  # not asyncio.wait_for: before 3.12 it can swallow a cancellation
            await asyncio.wait({waiter}, timeout=None if math.isinf(timeout) else timeout)
        finally:
            waiter.cancel()

    def _deliver(self, job: _WatchedJob, answer: Answer) -> None:
        for subscription in list(job.subscribers):
            subscription.deliver(answer)

    # --- which way to read ---------------------------------------------------------------------------

    def _listable(self) -> list[_WatchedJob]:
        return [job for job in self.jobs.values() if job.name not in self._unlisted]

    def _use_list(self) -> bool:
        """List mode: more jobs than both a sweep's pages and what status calls refresh within the interval.

        Called at every read a worker plans: O(1) but when the watched jobs changed.
        """
        now = self._clock()
        listable = len(self.jobs) - len(self._unlisted)
        if now < self._list_off_until or not listable:
            use = False
        else:
            if self._shortest is None:
                self._shortest = min(job.interval for job in self._listable())
            status_capacity = math.floor(self.limiter.rate(endpoints.JOB_STATUS) * self._shortest)
            use = listable > max(self._pages or 1, status_capacity)
        if use != self._list_mode:
            self._list_mode = use
            log.info(
                "Shared CDM poller for cluster %s: %d job(s) watched, reading them with %s",
                self.cluster_id,
                len(self.jobs),
                "list-jobs pages" if use else "status calls",
            )
        return use

    def _status_served(self, list_mode: bool) -> Iterable[_WatchedJob]:
        """The jobs read with status calls: every job, or in list mode those the list does not show."""
        return (self.jobs[name] for name in self._unlisted) if list_mode else self.jobs.values()

    # --- status and run-history reads ------------------------------------------------------------------

    def _next_status_read(self) -> tuple[_WatchedJob | None, float]:
        """The job to read with a status call next, else None and when to look again.

        A read at a deadline first, then the confirmations (FIFO), then, with fewer than
        ``ROUTINE_READERS`` under way, the job due first: a confirmation never waits for a reader
        behind a routine read, and never queues in the quota behind more than those few.
        """
        now = self._clock()
        for queue in (self._urgent, self._confirmations):
            for name in queue:
                job = self.jobs[name]
                if not job.busy:
                    return job, now
        if self._routine_reads >= ROUTINE_READERS:
            return None, math.inf  # a read ending pokes
        best: _WatchedJob | None = None
        for job in self._status_served(self._use_list()):
            if job.busy or job.confirm_since is not None:
                continue
            if best is None or job.due_at < best.due_at:
                best = job
        if best is None:
            return None, math.inf
        if best.due_at <= now:
            return best, now
        return None, best.due_at

    def _next_history_read(self) -> _WatchedJob | None:
        for name in self._confirmations:
            job = self.jobs[name]
            if job.busy or job.history_missed:
                continue
            if all(sub.run.submission_id is not None for sub in job.subscribers):
                return job
        return None

    async def _status_worker(self, wakeup: asyncio.Event) -> None:
        while True:
            wakeup.clear()
            job, until = self._next_status_read()
            if job is None:
                await self._idle(wakeup, until)
            elif job.urgent_since is None and job.confirm_since is None:
                self._routine_reads += 1
                try:
                    await self._read_run(job, history=False)
                finally:
                    self._routine_reads -= 1
            else:
                await self._read_run(job, history=False)

    async def _history_worker(self, wakeup: asyncio.Event) -> None:
        while True:
            wakeup.clear()
            job = self._next_history_read()
            if job is None:
                await self._idle(wakeup, math.inf)
            else:
                await self._read_run(job, history=True)

    async def _read_run(self, job: _WatchedJob, *, history: bool) -> None:
        """Read the job's run: a status call (the latest run), or the newest page of its run history."""
        job.busy = True
        started = self._clock()
        try:
            if history:
                self._count("history")
                page = await self.transport.execute(
                    ops.list_submissions(self.cluster_id, job.name, page_no=1, page_size=HISTORY_PAGE_SIZE)
                )
            else:
                self._count("status")
                latest = await self.transport.execute(ops.job_status(self.cluster_id, job.name))
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if self.jobs.get(job.name) is not job:
                return
            self._window["failed reads"] += 1
            if history:  # the status call confirms it instead
                log.debug("Run history of CDM job %r unreadable (%s); confirming with a status call", job.name, err)
                job.history_missed = True
            elif isinstance(err, CdmApiError) and err.transient:  # the retry policy gave up, the waiters don't
                log.debug("Status of CDM job %r unreadable (%s); trying again at the next poll", job.name, err)
                job.answered_at = self._clock()
            else:
                self._deliver(job, ReadFailed(err))
                self._drop(job)
            return
        finally:
            job.busy = False
            self._poke()
        if self.jobs.get(job.name) is not job:
            return  # every subscriber left meanwhile
        if history:
            if not self._deliver_history(job, page.items):
                job.history_missed = True
                return
        else:
            self._deliver(job, RunRead(latest, SOURCE_STATUS))
            if job.urgent_since is not None and job.urgent_since <= started:
                job.urgent_since = None
                self._urgent.pop(job.name, None)
        job.answered_at = self._clock()
        if job.confirm_since is not None and job.confirm_since <= started:
            job.confirm_since = None
            job.history_missed = False
            self._confirmations.pop(job.name, None)

    def _deliver_history(self, job: _WatchedJob, items: Iterable[Submission]) -> bool:
        """Give each subscriber its own run from the history page; False when one is not on it."""
        runs = list(items)
        found = {}
        for subscription in job.subscribers:
            ours = next((item for item in runs if subscription.run.relation(item) == 0), None)
            if ours is None:
                return False
            found[subscription] = ours
        for subscription, ours in found.items():
            subscription.deliver(RunRead(ours, SOURCE_HISTORY))
        return True

    # --- list sweeps ---------------------------------------------------------------------------------

    def _plan_sweep(self) -> tuple[_Sweep | None, float]:
        """The next sweep, else None and when to look again."""
        if not self._use_list():
            return None, math.inf
        now = self._clock()
        listable = self._listable()
        waiting = [job for job in listable if job.confirm_since is None]
        due = [job for job in waiting if job.due_at <= now]
        if not due:
            return None, min((job.due_at for job in waiting), default=math.inf)
        members = {job.name for job in listable}
        if self._filter is None or any(job.page is None or job.page[0] != self._filter for job in due):
            return _Sweep(common_prefix(members), None, {}, members), now
        expected: dict[int, set[str]] = {}
        for job in due:
            if job.page is not None:  # every due job's page is known here (checked above)
                expected.setdefault(job.page[1], set()).add(job.name)
        return _Sweep(self._filter, sorted(expected), expected, members), now

    async def _list_worker(self, wakeup: asyncio.Event) -> None:
        while True:
            wakeup.clear()
            sweep, until = self._plan_sweep()
            if sweep is None:
                await self._idle(wakeup, until)
                continue
            try:
                await self._sweep(sweep)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self._list_off_until = self._clock() + LIST_PAUSE_AFTER_FAILURE_S
                log.warning(
                    "Listing the jobs of CDM cluster %s failed (%s); reading them with status calls for %g s",
                    self.cluster_id,
                    err,
                    LIST_PAUSE_AFTER_FAILURE_S,
                )
            self._poke()

    def _list_call(self, name_filter: str, page_no: int) -> ops.CdmCall[Any]:
        self._count("list")
        return ops.list_jobs(
            self.cluster_id, page_no=page_no, page_size=LIST_PAGE_SIZE, name_filter=name_filter or None
        )

    async def _sweep(self, sweep: _Sweep) -> None:
        if sweep.pages is None:
            walk = ops.PageWalk(lambda page_no: self._list_call(sweep.name_filter, page_no), LIST_PAGE_SIZE)
            seen: set[str] = set()
            page_no = 0
            total: int | None = None
            while (call := walk.next_call()) is not None:
                page = await self.transport.execute(call)
                items = walk.take(page)
                total = page.total if page.total is not None else total
                if items:
                    page_no += 1
                    await self._absorb(sweep.name_filter, page_no, items, seen)
            self._filter = sweep.name_filter
            self._pages = max(1, math.ceil(total / LIST_PAGE_SIZE) if total is not None else page_no)
            unlisted = sorted(name for name in sweep.members - seen if name in self.jobs)
            for name in unlisted:
                self.jobs[name].page = None
            self._unlisted.update(unlisted)
            self._shortest = None
            if unlisted:
                log.info(
                    "Shared CDM poller for cluster %s: %d job(s) not in the job list (%s%s); "
                    "reading them with status calls",
                    self.cluster_id,
                    len(unlisted),
                    ", ".join(map(repr, unlisted[:5])),
                    ", ..." if len(unlisted) > 5 else "",
                )
            return
        for page_no in sweep.pages:
            page = await self.transport.execute(self._list_call(sweep.name_filter, page_no))
            seen = set()
            await self._absorb(sweep.name_filter, page_no, page.items, seen)
            for name in sweep.expected[page_no] - seen:  # moved: the next (full) sweep finds it
                job = self.jobs.get(name)
                if job is not None and job.page == (sweep.name_filter, page_no):
                    job.page = None

    async def _absorb(self, name_filter: str, page_no: int, items: Iterable[Job], seen: set[str]) -> None:
        """Deliver a list page to each watched job's subscribers (:meth:`Subscription.take_listed`);
        queue the confirmations they ask for, each at once (a reader takes it while the page goes on).

        Yields to the event loop every ``ENTRIES_PER_STEP`` entries: a page of 100 never holds the
        triggerer's loop in one step.
        """
        now = self._clock()
        for index, item in enumerate(items):
            if index and index % ENTRIES_PER_STEP == 0:
                await asyncio.sleep(0)
            job = self.jobs.get(item.name)
            if job is None or item.name in self._unlisted:
                continue
            seen.add(item.name)
            job.page = (name_filter, page_no)
            if job.confirm_since is not None:
                continue  # a run read is coming
            status_text = item.raw.get("status")
            listed = Listed(item.status, None if status_text is None else str(status_text))
            last_run = item.last_run()
            asks = [subscription.take_listed(listed, last_run) for subscription in list(job.subscribers)]
            job.answered_at = now
            if any(asks):
                job.confirm_since = now
                self._confirmations[job.name] = None
                self._poke()


_FROZEN = False


def _freeze_long_lived_objects() -> None:
    """Once per process: move every object alive now out of the garbage collector's reach (``gc.freeze``).

    Decoding list pages of 100 jobs allocates enough to set off full collections, and a full collection
    walks the whole heap (Airflow's included): 0.13-0.55 s in one step of the triggerer's loop, measured.
    Frozen, the objects that live as long as the triggerer (modules, Airflow's state, this provider's)
    are no longer walked, and a full collection costs what is young. Objects frozen stay alive (they
    are long-lived anyway); garbage made later is collected as before.
    """
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.freeze()
        if log.isEnabledFor(logging.DEBUG):  # counting walks every frozen object: 0.04-0.05 s of CPU on the loop
            log.debug("Froze %d long-lived objects out of the cyclic garbage collector", gc.get_freeze_count())


def common_prefix(names: Iterable[str]) -> str:
    """The longest prefix all ``names`` share (a list filter every one of them matches)."""
    listed = list(names)
    if not listed:
        return ""
    return os.path.commonprefix(listed)  # noqa: RUF071 - a character prefix: CDM's filter matches substrings


# --- one poller per (event loop, connection, cluster) ---------------------------------------------------

_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[PollerKey, SharedPoller]] = (
    weakref.WeakKeyDictionary()
)


def _forget(poller: SharedPoller) -> None:
    for pollers in list(_POLLERS.values()):
        if pollers.get(poller.key) is poller:
            del pollers[poller.key]


def pollers() -> dict[PollerKey, SharedPoller]:
    """The running loop's pollers (a copy)."""
    return dict(_POLLERS.get(asyncio.get_running_loop(), {}))


def configured_quota_share() -> float:
    """This triggerer's share of every quota: ``[cdm] triggerer_quota_share`` (formerly ``quota_share``); 0.6."""
    return triggerer_quota_share()


@contextlib.asynccontextmanager
async def subscribe(
    *,
    conn_id: str,
    hook_params: Mapping[str, Any],
    run: RunRef,
    rules: StatusRules,
    poll_interval: float,
    load_settings: Callable[[], Awaitable[CdmSettings]],
    on_token: TokenCallback | None = None,
) -> AsyncIterator[Subscription]:
    """Watch ``run`` through the running loop's poller for (``conn_id``, ``hook_params``, its cluster).

    ``load_settings`` loads the connection's settings when this starts a poller. Raises what loading
    raised. Leaving the block (returning, raising or being cancelled) unsubscribes.
    """
    key = PollerKey(conn_id, json.dumps(hook_params, sort_keys=True), run.cluster_id)
    registry = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = registry.get(key)
    if poller is None:
        poller = registry[key] = SharedPoller(
            key, load_settings, on_token=on_token, quota_share=configured_quota_share()
        )
    subscription = poller.add(run, rules, poll_interval)
    try:
        try:
            await poller.ready()
        except asyncio.CancelledError:
            raise
        except BaseException:
            _forget(poller)  # the next trigger tries again with a new poller
            raise
        yield subscription
    finally:
        await poller.remove(subscription)


__all__ = [
    "Answer",
    "Listed",
    "PollerKey",
    "ReadFailed",
    "RunRead",
    "SharedPoller",
    "Subscription",
    "common_prefix",
    "configured_quota_share",
    "pollers",
    "subscribe",
]
