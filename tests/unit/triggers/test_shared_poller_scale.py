"""The shared poller at scale: confirmations go first and together (a failure is reported as fast as a
success), one sweep of 2,000 watched jobs never holds the event loop, and INFO stays quiet (a summary
at most once a minute)."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm.client.async_transport import aload_settings
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.operations import CdmCall
from airflow_provider_cdm.client.rate_limit import QuotaLimiter
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers import _shared_poller
from airflow_provider_cdm.triggers._shared_poller import (
    ENTRIES_PER_STEP,
    ROUTINE_READERS,
    RUN_READERS,
    SUMMARY_EVERY_S,
    Listed,
    PollerKey,
    RunRead,
    SharedPoller,
    Subscription,
)
from tests.jobs import job_definition
from tests.unit.triggers.helpers import HOOK_PARAMS, wait_for

pytestmark = pytest.mark.asyncio

CLUSTER = "c0000000-0000-4000-8000-000000000001"
CREATED_MS = 1_700_000_000_000


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def unpaced() -> QuotaLimiter:
    """A limiter that reports the documented rates but never makes a call wait (its clock stands still)."""
    return QuotaLimiter(clock=lambda: 0.0, sleep=no_wait)


async def load_settings() -> Any:
    return await aload_settings("cdm_default", hook=CdmHook, **HOOK_PARAMS)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class GatedCdm:
    """A transport whose answers come when the test says: every call waits at its kind's gate.

    ``listed`` is what the job list shows (name -> status); ``in_flight`` the calls sent and not yet
    answered, as (kind, job name or page number), in the order sent.
    """

    def __init__(self) -> None:
        self.listed: dict[str, str] = {}
        self.sent: list[tuple[str, str]] = []
        self.in_flight: list[tuple[str, str]] = []
        self.gates = {kind: asyncio.Event() for kind in ("list_jobs", "job_status", "list_submissions")}

    async def execute(self, call: CdmCall[Any]) -> Any:
        kind = call.endpoint.name
        query = dict(call.query)
        what = call.path_params.get("job_name") or query.get("jname") or query.get("page_no", "")
        self.sent.append((kind, what))
        self.in_flight.append((kind, what))
        try:
            await self.gates[kind].wait()
        finally:
            self.in_flight.remove((kind, what))
        if kind == "list_jobs":
            jobs = [
                {"name": name, "status": status, "execute_create_date": CREATED_MS}
                for name, status in self.listed.items()
            ]
            return call.parse({"jobs": jobs, "total": len(jobs)})
        run = {
            "job-name": what,
            "submission-id": 1,
            "status": self.listed.get(what, "RUNNING"),
            "creation-date": CREATED_MS,
            "error-summary": f"{what} broke",
        }
        return call.parse({"submissions": [run], "total": 1})

    async def aclose(self) -> None:
        return None


async def gated_poller(cdm: GatedCdm, clock: FakeClock) -> SharedPoller:
    poller = SharedPoller(PollerKey("cdm_default", "{}", CLUSTER), load_settings, limiter=unpaced(), clock=clock)
    await poller.ready()  # no subscriber yet: the workers idle
    poller._transport = cdm  # type: ignore[assignment]
    return poller


def runs(prefix: str, count: int) -> list[RunRef]:
    return [RunRef(f"{prefix}-{i}", CLUSTER, 1, CREATED_MS) for i in range(count)]


async def until_run_read(subscription: Subscription) -> RunRead:
    """Answers until a run read (list progress before it is skipped)."""
    while True:
        got = await asyncio.wait_for(subscription.next_answer(), 5)
        if isinstance(got, RunRead):
            return got
        assert isinstance(got, Listed)


async def test_a_pages_failures_are_confirmed_at_once_ahead_of_due_status_reads(emu: EmulatorThread) -> None:
    """(``emu``: the connection the settings come from; every answer is the gated fake's.)"""
    cdm, clock = GatedCdm(), FakeClock()
    poller = await gated_poller(cdm, clock)
    failing, hidden = runs("load", 6), runs("other", 10)  # "other-*" are never listed: status calls
    cdm.listed = {run.job_name: "RUNNING" for run in failing}
    try:
        subscriptions = {run.job_name: poller.add(run, StatusRules(), 1.0) for run in [*failing, *hidden]}
        await wait_for(lambda: cdm.in_flight == [("list_jobs", "1")])
        cdm.gates["list_jobs"].set()  # the first sweep: "other-*" are not in the list
        await wait_for(lambda: sum(kind == "job_status" for kind, _ in cdm.in_flight) == ROUTINE_READERS)
        await asyncio.sleep(0.05)
        # Routine reads of the due "other-*" jobs: never more at once, the other readers stay free.
        assert [kind for kind, _ in cdm.in_flight] == ["job_status"] * ROUTINE_READERS
        cdm.gates["list_jobs"].clear()
        cdm.listed = {run.job_name: "FAILED" for run in failing}
        clock.now += 1.0  # the listed jobs are due: the next sweep shows them FAILED
        poller._poke()
        await wait_for(lambda: ("list_jobs", "1") in cdm.in_flight)
        cdm.gates["list_jobs"].set()
        confirming = {run.job_name for run in failing}
        await wait_for(lambda: confirming <= {name for _, name in cdm.in_flight})
        await asyncio.sleep(0.05)
        # Every failure is being read at once, by status calls and run-history pages side by side,
        # while the routine reads that were under way still wait; no other routine read was started.
        confirmations = [(kind, name) for kind, name in cdm.in_flight if name in confirming]
        assert len(confirmations) == len(failing) <= 2 * RUN_READERS - ROUTINE_READERS
        assert {kind for kind, _ in confirmations} == {"job_status", "list_submissions"}
        routine = [name for kind, name in cdm.sent if kind == "job_status" and name not in confirming]
        assert len(routine) == ROUTINE_READERS
        cdm.gates["job_status"].set()
        cdm.gates["list_submissions"].set()
        for run in failing:
            read = await until_run_read(subscriptions[run.job_name])
            assert read.submission is not None and read.submission.error_summary == f"{run.job_name} broke"
    finally:
        await poller.stop()


def swept_more_than(poller: SharedPoller, sweeps: int) -> bool:
    return poller.calls["list"] > sweeps


async def test_info_logs_are_changes_and_a_summary_at_most_once_a_minute(
    emu: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=_shared_poller.__name__)
    cdm, clock = GatedCdm(), FakeClock()
    for gate in cdm.gates.values():
        gate.set()
    poller = await gated_poller(cdm, clock)
    watched = runs("load", 3)
    cdm.listed = {run.job_name: "RUNNING" for run in watched}
    try:
        for run in [*watched, *runs("other", 2)]:  # "other-*" are not in the list: status calls
            poller.add(run, StatusRules(), 1.0)
        await wait_for(lambda: poller.calls["list"] == 1)
        for second in range(1, 2 * math.ceil(SUMMARY_EVERY_S) + 1):  # two minutes of sweeps, one a second
            clock.now += 1.0
            poller._poke()
            await wait_for(functools.partial(swept_more_than, poller, second))
    finally:
        await poller.stop()
    # the poller's own lines (Airflow 2.11 logs its connection-type notice at INFO too)
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name == _shared_poller.__name__]
    summaries = [m for m in info if "in the last" in m]
    assert len(summaries) == 2, info  # one a minute
    assert "5 job(s) watched with list-jobs pages" in summaries[0] and "'list': 61" in summaries[0]
    assert "0 x 429" in summaries[0]
    assert any("2 job(s) not in the job list ('other-0', 'other-1')" in m for m in info)
    assert any("reading them with list-jobs pages" in m for m in info)  # the switch
    assert "stopped; calls" in info[-1]
    assert len(info) == 6, info  # started, the switch, the unlisted jobs, two summaries, stopped
    assert poller.calls["list"] + poller.calls["status"] > 100  # all those reads: not one line each


# --- the loop stays free ------------------------------------------------------------------------------


class LoopSteps:
    """Counts the loop's iterations (a task that yields at every one) and what runs between two of them.

    ``cpu_s``: the longest CPU time the loop's thread spent between two iterations (preemption by
    other processes on a busy machine is not counted); ``entries``: the most list entries handed to
    subscribers within one iteration.
    """

    def __init__(self) -> None:
        self.tick = 0
        self.cpu_s = 0.0
        self.entries: Counter[int] = Counter()

    async def run(self) -> None:
        last = time.thread_time()
        while True:
            await asyncio.sleep(0)
            now = time.thread_time()
            self.cpu_s = max(self.cpu_s, now - last)
            last = now
            self.tick += 1


@pytest.fixture
def no_gc() -> Iterator[None]:
    """No cyclic garbage collection (its pauses are the process's, not the poller's steps)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_one_sweep_of_2000_watched_jobs_never_holds_the_loop(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch, no_gc: None
) -> None:
    backend, cluster = emu.server.app.backend, emu.cluster_id or ""
    names = [f"job-{i:04d}" for i in range(2000)]  # 20 pages of 100
    watched = []
    for name in names:
        backend.create_job(cluster, job_definition(name), "user")
        started = backend.start_job(cluster, name, {}, "user")["submissions"][0]
        watched.append(RunRef.of(Submission.from_api(started), cluster))  # pinned: the list is the answer
    steps = LoopSteps()
    take_listed = Subscription.take_listed

    def counting(self: Subscription, listed: Listed, last_run: Submission | None) -> bool:
        steps.entries[steps.tick] += 1
        return take_listed(self, listed, last_run)

    monkeypatch.setattr(Subscription, "take_listed", counting)
    poller = SharedPoller(PollerKey("cdm_default", "{}", cluster), load_settings, limiter=unpaced())
    ticking = asyncio.ensure_future(steps.run())
    try:
        await poller.ready()
        for run in watched:
            poller.add(run, StatusRules(), 60.0)
        await wait_for(lambda: sum(steps.entries.values()) >= len(watched), timeout=60)
    finally:
        ticking.cancel()
        await poller.stop()
    assert dict(poller.calls) == {"list": 20}  # one full sweep, nothing else
    assert sum(steps.entries.values()) == 2000
    assert max(steps.entries.values()) <= ENTRIES_PER_STEP  # a yield every few entries, not a page at once
    assert steps.cpu_s < 0.1, steps.cpu_s  # no step (decoding a page, planning a sweep) holds the loop
