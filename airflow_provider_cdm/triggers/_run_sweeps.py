"""The reads and the bookkeeping of :class:`~airflow_provider_cdm.triggers.events.CdmJobRunEventTrigger`.

Imported by the trigger in a worker thread when it starts (never at DAG parse, never on the loop).

* :func:`sweeps` reads the watched jobs from the job list (one page per 100 jobs, ``filter`` = the
  name filter or the names' longest common prefix) every ``poll_interval`` and, for a job whose list
  entry changed to a run that ended or to a new run, the newest page of its run history. One sweep is
  one raw event; on Airflow 3.3+ sibling triggers of the same selection share it (``shared_stream_key``).
* :class:`Watcher` is one trigger's side: its per-job :class:`Watermark`, kept in a store that
  survives a triggerer restart (the watched asset's state store on 3.3+, else an Airflow Variable),
  the run-history reads its watermarks need beyond what the sweep carries (at most one per change of a
  job's list entry; none for a sweep without the job list), and the events.

Every call goes through an async transport paced by the triggerer's process-wide limiter of the
credentials (``[cdm] triggerer_quota_share``), the one the status triggers' shared poller uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.async_transport import AsyncTransport
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError, CdmJobNotFoundError
from airflow_provider_cdm.client.models import Job, Submission
from airflow_provider_cdm.client.run_watch import (
    Watermark,
    baseline_of_history,
    baseline_of_listed,
    entry_key,
    entry_may_show_an_end,
    history_needed,
    new_ended_runs,
    reaches,
    run_figures,
)
from airflow_provider_cdm.client.settings import CdmSettings
from airflow_provider_cdm.progress import outcome_text
from airflow_provider_cdm.triggers._shared_poller import HISTORY_PAGE_SIZE, LIST_PAGE_SIZE, common_prefix

log = logging.getLogger(__name__)

# A watermark is written this long after its event was handed to the triggerer, which stores the
# event in Airflow's database within a second or two (its runner syncs every second). See
# docs/reference/assets.md: a triggerer killed within this window reports that run again.
COMMIT_AFTER_S = 5.0
MAX_HISTORY_PAGES = 20  # how far back a watermark is looked for (newest pages first)
STORE_FORMAT = 1


@dataclass(frozen=True)
class Selection:
    """What a trigger watches: job names or a name filter, in one cluster, of one job type."""

    cluster_id: str
    job_names: tuple[str, ...] | None
    name_filter: str | None
    job_type: str

    @property
    def list_filter(self) -> str:
        if self.name_filter is not None:
            return self.name_filter
        return common_prefix(self.job_names or ())

    def watches(self, name: str) -> bool:
        return name in self.job_names if self.job_names is not None else True

    def describe(self) -> str:
        if self.job_names is not None:
            shown = ", ".join(repr(name) for name in self.job_names[:5])
            more = f" and {len(self.job_names) - 5} more" if len(self.job_names) > 5 else ""
            return f"CDM job(s) {shown}{more} in cluster {self.cluster_id}"
        return f"CDM jobs matching {self.name_filter!r} in cluster {self.cluster_id}"


@dataclass(frozen=True)
class Sweep:
    """One look at the watched jobs: their list entries and the history pages read for changed ones."""

    listed: Mapping[str, Job]
    histories: Mapping[str, tuple[Submission, ...]] = field(default_factory=dict)
    listed_ok: bool = True  # False: the list could not be read; only the history decides


async def list_watched(transport: AsyncTransport, selection: Selection) -> dict[str, Job]:
    """The watched jobs the job list shows (every page of the filter)."""
    found: dict[str, Job] = {}
    walk = ops.PageWalk(
        lambda page_no: ops.list_jobs(
            selection.cluster_id,
            page_no=page_no,
            page_size=LIST_PAGE_SIZE,
            name_filter=selection.list_filter or None,
            job_type=selection.job_type,
        ),
        LIST_PAGE_SIZE,
    )
    while (call := walk.next_call()) is not None:
        for job in walk.take(await transport.execute(call)):
            if selection.watches(job.name):
                found[job.name] = job
        await asyncio.sleep(0)  # a long listing never holds the loop in one step
    return found


async def read_history(
    transport: AsyncTransport, cluster_id: str, job_name: str, watermark: Watermark, *, first_page_only: bool = False
) -> tuple[Submission, ...]:
    """The job's newest runs, back to ``watermark`` (or ``MAX_HISTORY_PAGES`` pages, or the end), each once.

    A run created between two page reads shifts the history by one: the next page then starts with the
    previous page's last run again. Such a repeat (same submission id) is dropped.
    """
    runs: list[Submission] = []
    seen: set[int] = set()
    walk = ops.PageWalk(
        lambda page_no: ops.list_submissions(cluster_id, job_name, page_no=page_no, page_size=HISTORY_PAGE_SIZE),
        HISTORY_PAGE_SIZE,
    )
    pages = 0
    while (call := walk.next_call()) is not None and pages < MAX_HISTORY_PAGES:
        items = walk.take(await transport.execute(call))
        pages += 1
        for item in items:
            if item.submission_id is not None:
                if item.submission_id in seen:
                    continue
                seen.add(item.submission_id)
            runs.append(item)
        if first_page_only or reaches(items, watermark):
            break
    if pages >= MAX_HISTORY_PAGES and not reaches(runs, watermark):
        log.warning(
            "CDM job %r: its run history was read %d pages back without reaching run %s; older runs are not reported",
            job_name,
            pages,
            watermark.submission_id,
        )
    return tuple(runs)


async def sweeps(
    transport: AsyncTransport,
    selection: Selection,
    poll_interval: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> AsyncIterator[Sweep]:
    """A sweep every ``poll_interval`` seconds, for ever. A job whose list entry changed since the previous
    sweep to a run that ended, or to a new run (the one before may have ended within the look), comes
    with its newest history page (read once for every subscriber)."""
    previous: dict[str, Job] | None = None
    while True:
        began = clock()
        try:
            listed = await list_watched(transport, selection)
        except CdmApiError as err:
            log.warning("%s: the job list is unreadable (%s); trying again in %g s", selection.describe(), err,
                        poll_interval)  # fmt: skip
            yield Sweep({}, listed_ok=False)
        else:
            histories: dict[str, tuple[Submission, ...]] = {}
            if previous is not None:
                _warn_vanished(selection, previous, listed)
                for name, job in listed.items():
                    if not entry_may_show_an_end(job, previous.get(name)):
                        continue
                    # unreadable, or a name CDM's history call cannot carry: the subscribers decide themselves
                    with contextlib.suppress(CdmApiError, CdmConfigError):
                        histories[name] = await read_history(
                            transport, selection.cluster_id, name, Watermark(), first_page_only=True
                        )
            previous = dict(listed)
            log.debug("%s: %d listed, %d history page(s) read", selection.describe(), len(listed), len(histories))
            yield Sweep(listed, histories)
        await sleep(max(0.0, poll_interval - (clock() - began)))


def _warn_vanished(selection: Selection, before: Mapping[str, Job], listed: Mapping[str, Job]) -> None:
    """A job last seen with a run under way is gone from a complete listing: a disposable job (CDM deletes
    it, and its history, when its run ends): that run is not reported."""
    for name, job in before.items():
        status = job.status
        if name not in listed and status is not None and not status.is_terminal and not status.is_idle:
            log.warning(
                "CDM job %r in cluster %s is gone while a run of it was under way (a job deleted when its run"
                " ends?): that run cannot be reported",
                name,
                selection.cluster_id,
            )


# --- one poll for sibling triggers of one loop (Airflow 3.0-3.2: no shared streams) -----------------------


class _LocalStream:
    """One producer's sweeps fanned out to every sibling trigger of one event loop."""

    def __init__(self, key: Hashable, open_stream: Callable[[], AsyncIterator[Sweep]]) -> None:
        self.key = key
        self.queues: list[asyncio.Queue[Sweep | BaseException]] = []
        self._open_stream = open_stream
        self._pump: asyncio.Task[None] | None = None

    def join(self) -> asyncio.Queue[Sweep | BaseException]:
        queue: asyncio.Queue[Sweep | BaseException] = asyncio.Queue()
        self.queues.append(queue)
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._run())
        return queue

    async def leave(self, queue: asyncio.Queue[Sweep | BaseException]) -> None:
        self.queues.remove(queue)
        if not self.queues:
            _forget_local(self)
            if self._pump is not None:
                self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._pump

    async def _run(self) -> None:
        try:
            async for sweep in self._open_stream():
                for queue in self.queues:
                    queue.put_nowait(sweep)
            raise RuntimeError("the sweeps ended")
        except asyncio.CancelledError:
            raise
        except Exception as err:  # every subscriber fails with it; the next trigger starts a new stream
            _forget_local(self)
            for queue in self.queues:
                queue.put_nowait(err)


_LOCAL_STREAMS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _LocalStream]] = (
    weakref.WeakKeyDictionary()
)


def _forget_local(stream: _LocalStream) -> None:
    for streams in _LOCAL_STREAMS.values():
        if streams.get(stream.key) is stream:
            del streams[stream.key]


async def shared_sweeps(key: Hashable, open_stream: Callable[[], AsyncIterator[Sweep]]) -> AsyncIterator[Sweep]:
    """The sweeps of ``key``, read once for every trigger of the running loop that asks for the same key."""
    streams = _LOCAL_STREAMS.setdefault(asyncio.get_running_loop(), {})
    stream = streams.get(key)
    if stream is None:
        stream = streams[key] = _LocalStream(key, open_stream)
    queue = stream.join()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        await stream.leave(queue)


# --- where watermarks live ------------------------------------------------------------------------------


class Store(Protocol):
    """Where one trigger's watermarks survive a triggerer restart."""

    name: str

    async def load(self) -> object: ...

    async def save(self, value: dict[str, Any]) -> None: ...


class AssetStateStore:
    """The watched asset's state store (Airflow 3.3+: injected into an event trigger by the triggerer)."""

    name = "the asset's state store"

    def __init__(self, accessor: Any, key: str) -> None:
        self._accessor, self._key = accessor, key

    async def load(self) -> object:
        return await self._accessor.aget(self._key, None)

    async def save(self, value: dict[str, Any]) -> None:
        await self._accessor.aset(self._key, value)


class VariableStore:
    """An Airflow Variable, read and written through the task SDK (in a thread: its calls are blocking)."""

    def __init__(self, key: str) -> None:
        self._key = key
        self.name = f"Airflow Variable {key!r}"

    @staticmethod
    def _variable() -> Any:
        try:
            from airflow.sdk import Variable
        except ImportError:  # Airflow 2
            from airflow.models import Variable
        return Variable

    async def load(self) -> object:
        variable = self._variable()
        return await asyncio.to_thread(variable.get, self._key, None, deserialize_json=True)

    async def save(self, value: dict[str, Any]) -> None:
        variable = self._variable()
        await asyncio.to_thread(variable.set, self._key, value, serialize_json=True)


async def choose_store(asset_state_store: Any, key: str) -> Store:
    """The asset's state store when the trigger watches exactly one asset and it answers, else a Variable."""
    if asset_state_store is not None:
        try:
            await asset_state_store.aget(key, None)  # raises ValueError for a trigger of several assets
        except ValueError:
            pass
        else:
            return AssetStateStore(asset_state_store, key)
    return VariableStore(key)


# --- one trigger's side ---------------------------------------------------------------------------------


@dataclass
class _Pending:
    due: float
    job_name: str
    mark: Watermark


class Watcher:
    """One trigger's watermarks and events over the sweeps it receives."""

    def __init__(
        self,
        selection: Selection,
        statuses: frozenset[JobStatus],
        transport: AsyncTransport,
        store: Store,
        *,
        commit_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.selection = selection
        self.statuses = statuses
        self.transport = transport
        self.store = store
        self.marks: dict[str, Watermark] = {}  # what this process has dealt with
        self.committed: dict[str, Watermark] = {}  # what the store holds
        self.started_ms: int | None = None  # when the watcher first read a complete job list (in the store)
        self._listings = 0  # complete job lists taken by this process
        self._ever_listed: set[str] = set()  # the jobs those lists showed
        self._read_at: dict[str, tuple[object, ...]] = {}  # per job: its list entry when its history was last read
        self._skipped: set[str] = set()  # names CDM's history call cannot carry (warned once)
        self._pending: list[_Pending] = []
        self._commit_after_s = COMMIT_AFTER_S if commit_after_s is None else commit_after_s
        self._clock = clock
        self._committer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def open(self) -> None:
        """Load the watermarks of earlier runs of this trigger (none: the watcher runs for the first time)."""
        stored = await self.store.load()
        jobs = stored.get("jobs") if isinstance(stored, Mapping) else None
        cluster = stored.get("cluster_id") if isinstance(stored, Mapping) else None
        if isinstance(cluster, str) and cluster != self.selection.cluster_id:
            log.warning(
                "The watermarks in %s are those of cluster %s, not of cluster %s: they are set aside and new"
                " first watermarks are taken (runs that ended before are not reported)",
                self.store.name,
                cluster,
                self.selection.cluster_id,
            )
            jobs = None
        if isinstance(jobs, Mapping):
            for name, data in jobs.items():
                mark = Watermark.from_json(data)
                if mark is not None:
                    self.marks[str(name)] = self.committed[str(name)] = mark
            started = stored.get("started_ms") if isinstance(stored, Mapping) else None
            self.started_ms = started if isinstance(started, int) else 0
        self._committer = asyncio.ensure_future(self._commit_loop())
        state = f"{len(self.marks)} watermark(s) read" if self.started_ms is not None else "first run"
        log.info(
            "Watching %s for runs that end %s (%s, %s)",
            self.selection.describe(),
            "/".join(sorted(status.value for status in self.statuses)),
            self.store.name,
            state,
        )

    async def close(self) -> None:
        """Stop committing; watermarks whose events are younger than the commit delay stay unwritten."""
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        if self._pending:
            log.info("%d watermark(s) not written: those runs are reported again after a restart", len(self._pending))

    async def take(self, sweep: Sweep) -> AsyncIterator[dict[str, Any]]:
        """The payloads of the runs this sweep shows ended since each job's watermark, oldest first.

        A sweep whose job list could not be read changes nothing: no history is read for it (with many
        jobs that would be one read per job and watcher while CDM already throttles), the next sweep decides.
        """
        if not sweep.listed_ok:
            log.debug("%s: no job list this time; nothing read until the next look", self.selection.describe())
            return
        first_run = self.started_ms is None
        if first_run:
            self.started_ms = int(time.time() * 1000)
        names = list(self.selection.job_names) if self.selection.job_names is not None else sorted(sweep.listed)
        for name in names:
            if name in self._skipped:
                continue
            listed = sweep.listed.get(name)
            try:
                async for payload in self._take_job(name, listed, sweep):
                    yield payload
            except CdmJobNotFoundError:
                log.debug("CDM job %r does not exist (yet) in cluster %s", name, self.selection.cluster_id)
            except CdmConfigError as err:  # e.g. a listed name "all" or with a trailing space
                self._skipped.add(name)
                log.warning("CDM job %r cannot be watched: its run history cannot be asked for (%s)", name, err)
            except CdmApiError as err:
                log.warning("CDM job %r: run history unreadable (%s); trying again at the next poll", name, err)
        self._listings += 1
        self._ever_listed.update(sweep.listed)
        if first_run:
            self._schedule(None, None, now=True)

    def _appeared_since_start(self, name: str, sweep: Sweep) -> bool:
        """Whether a job is proven new: listed now, and missing from a complete list this process took earlier."""
        return self._listings > 0 and name in sweep.listed and name not in self._ever_listed

    async def _baseline(self, name: str, listed: Job | None) -> None:
        """A job's first watermark: the newest run that has ended (from its list entry, else its history)."""
        base = baseline_of_listed(listed) if listed is not None else None
        if base is None:
            try:
                newest = await read_history(
                    self.transport, self.selection.cluster_id, name, Watermark(), first_page_only=True
                )
            except CdmJobNotFoundError:
                newest = ()  # no such job (yet): every run it will have is after the watcher started
            base = baseline_of_history(newest)
        self.marks[name] = base
        if listed is not None:
            self._read_at[name] = entry_key(listed)
        self._schedule(name, base, now=True)

    async def _take_job(self, name: str, listed: Job | None, sweep: Sweep) -> AsyncIterator[dict[str, Any]]:
        mark = self.marks.get(name)
        if mark is None:
            if not self._appeared_since_start(name, sweep):
                await self._baseline(name, listed)
                return
            log.info("CDM job %r is new in cluster %s: every run of it is reported", name, self.selection.cluster_id)
            mark = self.marks[name] = Watermark()
            self._schedule(name, mark, now=True)
        entry = entry_key(listed) if listed is not None else None
        runs = sweep.histories.get(name)
        if runs is None:
            if entry is not None and self._read_at.get(name) == entry:
                return  # this entry's history was read already: nothing new until the entry changes
            if not history_needed(listed, mark):
                return
        if runs is None or not reaches(runs, mark):
            runs = await read_history(self.transport, self.selection.cluster_id, name, mark)
        if entry is not None:
            self._read_at[name] = entry
        for run in new_ended_runs(runs, mark):
            self.marks[name] = Watermark.of(run)
            if run.status in self.statuses:
                payload = self._payload(name, run)
                log.info(
                    "CDM job %r run %s in cluster %s %s: asset event",
                    name,
                    run.submission_id,
                    self.selection.cluster_id,
                    outcome_text(run.to_json()),
                )
                yield payload
                self._schedule(name, Watermark.of(run), now=False)
            else:
                log.info(
                    "CDM job %r run %s in cluster %s ended %s: not reported (reported: %s)",
                    name,
                    run.submission_id,
                    self.selection.cluster_id,
                    run.status_text,
                    "/".join(sorted(status.value for status in self.statuses)),
                )
                self._schedule(name, Watermark.of(run), now=True)

    def _payload(self, name: str, run: Submission) -> dict[str, Any]:
        payload = run_figures(self.selection.cluster_id, run, job_name=name)
        if run.is_failure:
            payload["error_summary"] = run.error_summary
        return payload

    # --- writing the watermarks -------------------------------------------------------------------

    def _schedule(self, name: str | None, mark: Watermark | None, *, now: bool) -> None:
        """Write ``mark`` for ``name`` (None: only the watcher's start) once due: at once for a run not
        reported (after the job's earlier marks), ``commit_after_s`` after the event for a reported one."""
        at = self._clock() + (0.0 if now else self._commit_after_s)
        if name is not None and mark is not None:
            earlier = [entry.due for entry in self._pending if entry.job_name == name]
            self._pending.append(_Pending(max([at, *earlier]), name, mark))
        else:
            self._pending.append(_Pending(at, "", Watermark()))
        self._wake.set()

    async def commit_due(self) -> bool:
        """Write the marks that are due (one store write); True if something was written."""
        now = self._clock()
        due = [entry for entry in self._pending if entry.due <= now]
        if not due:
            return False
        value_jobs = dict(self.committed)
        for entry in due:
            if entry.job_name:
                value_jobs[entry.job_name] = entry.mark
        value = {
            "format": STORE_FORMAT,
            "started_ms": self.started_ms,
            "cluster_id": self.selection.cluster_id,
            "jobs": {name: mark.to_json() for name, mark in sorted(value_jobs.items())},
        }
        await self.store.save(value)
        self.committed = value_jobs
        self._pending = [entry for entry in self._pending if entry not in due]
        log.debug("Watermarks written to %s: %d job(s)", self.store.name, len(value_jobs))
        return True

    async def _commit_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.commit_due()
            except Exception as err:  # the store is Airflow's: a failed write is tried again shortly
                log.warning("Could not write the watermarks to %s (%s); trying again", self.store.name, err)
                await asyncio.sleep(1.0)
                continue
            if not self._pending:
                await self._wake.wait()
                continue
            wait = max(0.0, min(entry.due for entry in self._pending) - self._clock())
            waiter = asyncio.ensure_future(self._wake.wait())
            try:  # not asyncio.wait_for: before 3.12 it can swallow a cancellation
                await asyncio.wait({waiter}, timeout=wait)
            finally:
                waiter.cancel()


async def open_transport(settings: CdmSettings, on_token: Any = None) -> AsyncTransport:
    """An async transport paced by the triggerer's process-wide limiter of these credentials."""
    from airflow_provider_cdm.client.rate_limit import ROLE_TRIGGERER, shared_limiter
    from airflow_provider_cdm.options import client_pacing, triggerer_quota_share

    limiter = shared_limiter(settings, triggerer_quota_share(), role=ROLE_TRIGGERER) if client_pacing() else None
    return AsyncTransport(settings, on_token=on_token, limiter=limiter)


__all__ = [
    "COMMIT_AFTER_S",
    "AssetStateStore",
    "Selection",
    "Store",
    "Sweep",
    "VariableStore",
    "Watcher",
    "choose_store",
    "list_watched",
    "open_transport",
    "read_history",
    "shared_sweeps",
    "sweeps",
]
