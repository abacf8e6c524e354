"""CdmJobRunEventTrigger against the emulator: runs Airflow did not start (CDM's schedule, another tool)
become one event each, none before the watcher first ran, none lost or repeated across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers import _run_sweeps
from airflow_provider_cdm.triggers.events import CdmJobRunEventTrigger
from tests.jobs import job_definition, with_driver_inputs

pytestmark = pytest.mark.integration

POLL = 0.1
WAIT_S = 20.0


class MemoryStore:
    """Stands for the asset's state store: survives the trigger objects, as Airflow's database does."""

    name = "memory"

    def __init__(self) -> None:
        self.value: object = None

    async def load(self) -> object:
        return json.loads(json.dumps(self.value))

    async def save(self, value: dict[str, Any]) -> None:
        self.value = json.loads(json.dumps(value))


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    memory = MemoryStore()

    async def choose(asset_state_store: Any, key: str) -> MemoryStore:
        return memory

    monkeypatch.setattr(_run_sweeps, "choose_store", choose)
    monkeypatch.setattr(_run_sweeps, "COMMIT_AFTER_S", 0.2)
    return memory


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Any:
    cdm = CdmHook()
    yield cdm
    cdm.close()


def new_job(hook: CdmHook, prefix: str = "watched", **driver: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    hook.create_job(with_driver_inputs(job_definition(name), **driver) if driver else job_definition(name))
    return name


def run_to_end(emulator: EmulatorProcess, hook: CdmHook, job: str, outcome: str = "SUCCEEDED") -> int:
    """Start one run of ``job`` (scripted to ``outcome``) and wait until it ended; its submission id."""
    emulator.script_job(job, outcome, duration_s=0.3, count=1)
    before = len(emulator.runs(job))
    hook.start_job(job, emulator.cluster_id, {})
    return wait_ended(emulator, job, before + 1)


def wait_ended(emulator: EmulatorProcess, job: str, count: int) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        runs = emulator.runs(job)
        if len(runs) >= count and runs[count - 1]["status"] not in ("PENDING", "BOOTING", "RUNNING"):
            return int(runs[count - 1]["submission_id"])
        time.sleep(0.05)
    raise AssertionError(f"run {count} of {job} did not end: {emulator.runs(job)}")


class Running:
    """A trigger's run() consumed in the background, as the triggerer does, until stopped."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._events = events
        self._task = asyncio.ensure_future(self._consume())

    async def _consume(self) -> None:
        async for event in self._events:
            json.dumps(event.payload)
            self.payloads.append(event.payload)

    async def until(self, done: Callable[[list[dict[str, Any]]], bool], seconds: float = WAIT_S) -> None:
        deadline = time.monotonic() + seconds
        while not done(self.payloads):
            if self._task.done():
                self._task.result()
            assert time.monotonic() < deadline, self.payloads
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


def ids(payloads: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(p["job_name"], p["submission_id"]) for p in payloads]


def test_runs_after_the_first_look_are_reported_once_with_their_figures_failures_not(
    emulator: EmulatorProcess, hook: CdmHook, store: MemoryStore
) -> None:
    job = new_job(hook)
    run_to_end(emulator, hook, job)  # ended before the watcher first ran: never reported

    async def scenario() -> None:
        running = Running(CdmJobRunEventTrigger(job_names=[job], poll_interval=POLL).run())
        await running.until(lambda _: store.value is not None)  # the baseline is written
        ok = await in_thread(run_to_end, emulator, hook, job)
        await in_thread(run_to_end, emulator, hook, job, "FAILED")
        ok2 = await in_thread(run_to_end, emulator, hook, job)
        await running.until(lambda p: len(p) >= 2)
        await asyncio.sleep(10 * POLL)  # nothing more comes
        await running.stop()
        assert ids(running.payloads) == [(job, ok), (job, ok2)]
        figures = running.payloads[0]
        assert figures["status"] == "SUCCEEDED" and figures["cluster_id"] == emulator.cluster_id
        assert figures["rows_written"] > 0 and figures["bytes_read"] > 0 and figures["duration_s"] >= 0

    asyncio.run(scenario())


def test_a_run_followed_at_once_by_the_next_is_reported_while_the_next_runs(
    emulator: EmulatorProcess, hook: CdmHook, store: MemoryStore
) -> None:
    """Run A ends and run B starts between two looks: the list then shows only B, under way. A is reported
    at that look, not when B ends (never, for a job that always runs)."""
    job = new_job(hook)
    poll = 1.0

    async def scenario() -> None:
        running = Running(CdmJobRunEventTrigger(job_names=[job], poll_interval=poll).run())
        await running.until(lambda _: store.value is not None)
        first = await in_thread(run_to_end, emulator, hook, job)
        emulator.script_job(job, "SUCCEEDED", duration_s=30 * poll, count=1)
        await in_thread(hook.start_job, job, emulator.cluster_id, {})
        await running.until(lambda p: len(p) >= 1, seconds=5 * poll)
        assert emulator.runs(job)[-1]["status"] in ("PENDING", "BOOTING", "RUNNING")  # B is still under way
        await running.stop()
        assert ids(running.payloads) == [(job, first)]

    asyncio.run(scenario())


def test_a_restart_loses_none_and_repeats_none(emulator: EmulatorProcess, hook: CdmHook, store: MemoryStore) -> None:
    job = new_job(hook)

    async def scenario() -> None:
        kwargs = CdmJobRunEventTrigger(job_names=job, poll_interval=POLL).serialize()[1]
        first = Running(CdmJobRunEventTrigger(**kwargs).run())
        await first.until(lambda _: store.value is not None)
        before = await in_thread(run_to_end, emulator, hook, job)
        await first.until(lambda p: len(p) == 1)
        await asyncio.sleep(0.5)  # past the commit delay
        await first.stop()
        # While no triggerer runs: one success, one failure, one success.
        down = [
            await in_thread(run_to_end, emulator, hook, job, outcome)
            for outcome in ("SUCCEEDED", "FAILED", "SUCCEEDED")
        ]
        second = Running(CdmJobRunEventTrigger(**kwargs).run())  # rebuilt from its kwargs, as after a restart
        await second.until(lambda p: len(p) == 2)
        await asyncio.sleep(10 * POLL)
        await second.stop()
        assert ids(first.payloads) == [(job, before)]
        assert ids(second.payloads) == [(job, down[0]), (job, down[2])]

    asyncio.run(scenario())


def test_cdms_own_schedule_and_a_name_filter(emulator: EmulatorProcess, hook: CdmHook, store: MemoryStore) -> None:
    prefix = f"nightly_{uuid.uuid4().hex[:6]}"
    scheduled = {"schedulerConfig.isSchedulerJob": "true", "schedulerConfig.cycleType": "hour",
                 "schedulerConfig.runAt": "0"}  # fmt: skip
    first, second = new_job(hook, prefix, **scheduled), new_job(hook, prefix, **scheduled)
    other = new_job(hook, "unwatched", **scheduled)

    async def scenario() -> None:
        running = Running(CdmJobRunEventTrigger(name_filter=prefix, poll_interval=POLL).run())
        await running.until(lambda _: store.value is not None)
        for job in (first, second, other):
            emulator.script_job(job, "SUCCEEDED", duration_s=0.3, count=1)
            await in_thread(emulator.fire_schedule, job)  # CDM's scheduler starts it: Airflow did not
        one, two = await in_thread(wait_ended, emulator, first, 1), await in_thread(wait_ended, emulator, second, 1)
        await in_thread(wait_ended, emulator, other, 1)
        await running.until(lambda p: len(p) >= 2)
        await asyncio.sleep(10 * POLL)
        await running.stop()
        assert sorted(ids(running.payloads)) == sorted([(first, one), (second, two)])

    asyncio.run(scenario())


def test_sibling_triggers_share_one_stream_and_each_keeps_its_own_statuses(
    emulator: EmulatorProcess, hook: CdmHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = new_job(hook)
    stores: dict[str, MemoryStore] = {}

    async def choose(asset_state_store: Any, key: str) -> MemoryStore:
        return stores.setdefault(key, MemoryStore())

    monkeypatch.setattr(_run_sweeps, "choose_store", choose)
    successes = CdmJobRunEventTrigger(job_names=job, poll_interval=POLL)
    failures = CdmJobRunEventTrigger(job_names=job, poll_interval=POLL, statuses=["FAILED"])
    assert successes.shared_stream_key() == failures.shared_stream_key()

    async def scenario() -> None:
        queues: list[asyncio.Queue[Any]] = [asyncio.Queue(), asyncio.Queue()]
        sweeps_read = 0

        async def fan_out() -> None:  # what Airflow's SharedStreamManager does with the one stream
            nonlocal sweeps_read
            async for sweep in CdmJobRunEventTrigger.open_shared_stream(successes.serialize()[1]):
                sweeps_read += 1
                for queue in queues:
                    queue.put_nowait(sweep)

        async def from_queue(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
            while True:
                yield await queue.get()

        pump = asyncio.ensure_future(fan_out())
        ok_side = Running(successes.filter_shared_stream(from_queue(queues[0])))
        failed_side = Running(failures.filter_shared_stream(from_queue(queues[1])))
        await ok_side.until(lambda _: len(stores) == 2 and all(s.value is not None for s in stores.values()))
        ok = await in_thread(run_to_end, emulator, hook, job)
        bad = await in_thread(run_to_end, emulator, hook, job, "FAILED")
        await ok_side.until(lambda p: len(p) == 1)
        await failed_side.until(lambda p: len(p) == 1)
        for running in (ok_side, failed_side):
            await running.stop()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        assert ids(ok_side.payloads) == [(job, ok)]
        assert ids(failed_side.payloads) == [(job, bad)]
        assert failed_side.payloads[0]["status"] == "FAILED" and failed_side.payloads[0]["error_summary"]
        assert sweeps_read > 0

    asyncio.run(scenario())


def list_calls(emulator: EmulatorProcess) -> int:
    return sum(emulator.stats()["requests"].get("list_jobs", {}).values())


def test_without_airflows_shared_streams_siblings_of_one_loop_share_one_poll(
    emulator: EmulatorProcess, hook: CdmHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run()`` (what Airflow 3.0-3.2 calls): two watchers of one selection read one job list per look."""
    job = new_job(hook)
    stores: dict[str, MemoryStore] = {}

    async def choose(asset_state_store: Any, key: str) -> MemoryStore:
        return stores.setdefault(key, MemoryStore())

    monkeypatch.setattr(_run_sweeps, "choose_store", choose)
    monkeypatch.setattr(_run_sweeps, "COMMIT_AFTER_S", 0.2)

    async def scenario() -> None:
        ok_side = Running(CdmJobRunEventTrigger(job_names=job, poll_interval=POLL).run())
        failed_side = Running(CdmJobRunEventTrigger(job_names=job, poll_interval=POLL, statuses=["FAILED"]).run())
        await ok_side.until(lambda _: len(stores) == 2 and all(s.value is not None for s in stores.values()))
        (streams,) = [streams for streams in _run_sweeps._LOCAL_STREAMS.values() if streams]
        (stream,) = streams.values()
        assert len(stream.queues) == 2
        calls, began = list_calls(emulator), time.monotonic()
        ok = await in_thread(run_to_end, emulator, hook, job)
        bad = await in_thread(run_to_end, emulator, hook, job, "FAILED")
        await ok_side.until(lambda p: len(p) == 1)
        await failed_side.until(lambda p: len(p) == 1)
        looks = (time.monotonic() - began) / POLL
        assert list_calls(emulator) - calls <= looks + 3  # one poll, not one per trigger
        for running in (ok_side, failed_side):
            await running.stop()
        assert ids(ok_side.payloads) == [(job, ok)] and ids(failed_side.payloads) == [(job, bad)]
        assert not any(_run_sweeps._LOCAL_STREAMS.values())  # the last one out stopped the poll

    asyncio.run(scenario())
