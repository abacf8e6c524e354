"""The shared poller against the in-process emulator: one poller per (loop, connection, cluster) that
starts with its first subscriber and stops with its last; one answer serves every subscriber of a job;
one list page answers many jobs (filtered, only the pages that hold them); a terminal list status is
confirmed by one run read; a failing or cancelled trigger leaves the others alone; a rebuilt trigger
subscribes again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.async_transport import aload_settings
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers import _shared_poller
from airflow_provider_cdm.triggers._shared_poller import Listed, RunRead, Subscription, common_prefix, pollers
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.jobs import job_definition
from tests.triggering import run_trigger
from tests.unit.triggers.helpers import HOOK_PARAMS, make_trigger, requests_of

pytestmark = pytest.mark.asyncio


def start(emu: EmulatorThread, name: str, outcome: str = "STUCK", **script: Any) -> RunRef:
    """Create (if needed) and start ``name`` straight in the backend: no request is counted."""
    backend, cluster = emu.server.app.backend, emu.cluster_id or ""
    emu.script_job(name, outcome, **script)
    if name not in {job["name"] for c in emu.state()["clusters"] for job in c["jobs"]}:
        backend.create_job(cluster, job_definition(name), "user")
    answer = backend.start_job(cluster, name, {}, "user")
    return RunRef.of(Submission.from_api(answer["submissions"][0]), cluster)


def create(emu: EmulatorThread, *names: str) -> None:
    for name in names:
        emu.server.app.backend.create_job(emu.cluster_id or "", job_definition(name), "user")


def subscribe(run: RunRef, poll_interval: float, **kwargs: Any) -> contextlib.AbstractAsyncContextManager[Subscription]:
    params = kwargs.pop("hook_params", HOOK_PARAMS)
    return _shared_poller.subscribe(
        conn_id="cdm_default",
        hook_params=params,
        run=run,
        rules=kwargs.pop("rules", StatusRules()),
        poll_interval=poll_interval,
        load_settings=lambda: aload_settings("cdm_default", hook=CdmHook, **params),
    )


@contextlib.asynccontextmanager
async def subscribed(runs: list[RunRef], poll_interval: float) -> AsyncIterator[list[Subscription]]:
    """Subscribe to all ``runs`` at once (before the poller's first read)."""
    async with contextlib.AsyncExitStack() as stack:
        yield list(await asyncio.gather(*(stack.enter_async_context(subscribe(run, poll_interval)) for run in runs)))


async def answer(subscription: Subscription, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(subscription.next_answer(), timeout)


async def run_read(subscription: Subscription, timeout: float = 5.0) -> RunRead:
    """Answers until a run read (list progress before it is skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await answer(subscription, deadline - time.monotonic())
        if isinstance(got, RunRead):
            return got
        assert isinstance(got, Listed)


def record_list_calls(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    backend = emu.server.app.backend
    original = backend.list_jobs
    calls: list[tuple[str, int]] = []

    def recording(cluster_id: str, **query: Any) -> Any:
        calls.append((query.get("name_filter", ""), query.get("page_no", 1)))
        return original(cluster_id, **query)

    monkeypatch.setattr(backend, "list_jobs", recording)
    return calls


async def test_one_status_answer_serves_every_subscriber_of_a_job(emu: EmulatorThread) -> None:
    run = start(emu, "orders")
    async with subscribed([run, run, run], poll_interval=60.0) as subscriptions:
        answers = [await answer(s) for s in subscriptions]
        assert answers[0] is answers[1] is answers[2]
        assert isinstance(answers[0], RunRead) and answers[0].source == "status"
        ours = answers[0].submission
        assert ours is not None and run.relation(ours) == 0  # the run (a BOOTING answer may carry no id: row 12)
        assert ours.submission_id in (run.submission_id, None)
        assert len(pollers()) == 1
    assert requests_of(emu, "job_status") == {"200": 1}  # one read for three subscribers
    assert "list_jobs" not in emu.stats()["requests"]  # few jobs: status calls


async def test_one_filtered_list_page_answers_many_jobs(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    create(emu, *(f"archive-{i:02d}" for i in range(30)))  # unrelated jobs in the same cluster
    runs = [start(emu, f"nightly-{i}") for i in range(5)]
    list_calls = record_list_calls(emu, monkeypatch)
    async with subscribed(runs, poll_interval=1.0) as subscriptions:
        answers = [await answer(s) for s in subscriptions]
    assert all(isinstance(a, Listed) and a.status in (JobStatus.BOOTING, JobStatus.RUNNING) for a in answers)
    assert list_calls == [("nightly-", 1)]  # one page, narrowed to the watched names
    assert "job_status" not in emu.stats()["requests"]
    assert common_prefix(["nightly-1", "nightly-2", "nightly-10"]) == "nightly-" and common_prefix([]) == ""


async def test_a_sweep_reads_only_the_pages_that_hold_due_jobs(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"job-{i:03d}" for i in range(300)]  # three pages; the filter "job-" narrows nothing
    watched = names[:10] + names[200:210]  # on pages 1 and 3
    create(emu, *names)  # listed in the order created
    runs = [start(emu, name) for name in watched]
    list_calls = record_list_calls(emu, monkeypatch)
    async with subscribed(runs, poll_interval=0.3) as subscriptions:
        for _ in range(2):  # two sweeps
            for s in subscriptions:
                assert isinstance(await answer(s), Listed)
    assert list_calls[:5] == [("job-", 1), ("job-", 2), ("job-", 3), ("job-", 1), ("job-", 3)]


async def test_a_success_the_list_pins_is_the_result_and_an_unpinned_one_is_confirmed(emu: EmulatorThread) -> None:
    runs = [start(emu, f"stuck-{i}") for i in range(4)]
    ours = start(emu, "orders", "SUCCEEDED", duration_s=0.5)
    assert ours.skew_ms == 0  # bound by CDM's own creation date of the run
    by_local_clock = RunRef(ours.job_name, ours.cluster_id, None, ours.not_before_ms)  # pins nothing
    async with subscribed([*runs, ours, by_local_clock], poll_interval=0.2) as subscriptions:
        pinned, unpinned = subscriptions[4], subscriptions[5]
        first = await answer(pinned)
        assert isinstance(first, Listed)  # list mode
        from_list, confirmed = await run_read(pinned), await run_read(unpinned)
    assert from_list.source == "job list" and confirmed.source == "status"
    assert from_list.submission is not None and confirmed.submission is not None
    assert from_list.submission.status is JobStatus.SUCCEEDED
    assert from_list.submission.submission_id == ours.submission_id  # the run the entry was pinned to
    assert from_list.submission.progress == confirmed.submission.progress == 100.0
    for counter in ("ROWS_WRITTEN", "ROWS_READ", "BYTES_WRITTEN", "FILES_WRITTEN"):  # the status call's figures
        assert from_list.submission.counters[counter] == confirmed.submission.counters[counter] > 0
    assert from_list.submission.rows_written == confirmed.submission.rows_written
    assert requests_of(emu, "job_status") == {"200": 1}  # only the unpinned subscriber's confirmation
    assert "list_submissions" not in emu.stats()["requests"]  # a subscriber without a run id: status only


async def test_a_failure_in_the_list_is_confirmed_for_its_error_summary(emu: EmulatorThread) -> None:
    runs = [start(emu, f"stuck-{i}") for i in range(4)]
    ours = start(emu, "orders", "FAILED", duration_s=0.5, error_summary="disk full")
    async with subscribed([*runs, ours], poll_interval=0.2) as subscriptions:
        read = await run_read(subscriptions[4])
    assert read.source in ("status", "run history")
    assert read.submission is not None and read.submission.error_summary == "disk full"
    assert sum(requests_of(emu, "job_status").values()) + sum(requests_of(emu, "list_submissions").values()) == 1


async def test_an_older_run_in_the_list_is_not_taken_for_ours(emu: EmulatorThread) -> None:
    earlier = start(emu, "orders", "SUCCEEDED", duration_s=0.0)
    ours = dataclasses.replace(
        earlier, submission_id=(earlier.submission_id or 0) + 1, not_before_ms=(earlier.not_before_ms or 0) + 5_000
    )
    runs = [start(emu, f"stuck-{i}") for i in range(4)]
    async with subscribed([*runs, ours], poll_interval=0.2) as subscriptions:
        read = await run_read(subscriptions[4])  # the list shows SUCCEEDED of the earlier run: confirmed
        assert read.source == "status" and read.submission is not None
        assert read.submission.submission_id == earlier.submission_id
        assert StatusRules().judge(read.submission, ours).value == "waiting"


async def test_a_newer_run_in_the_list_is_read_at_once_whatever_its_status(emu: EmulatorThread) -> None:
    ours = start(emu, "orders", "SUCCEEDED", duration_s=0.0)
    await asyncio.sleep(0.01)  # runs of one job are never started within the same millisecond
    newer = start(emu, "orders")  # still running (STUCK): the list never shows ours again
    runs = [start(emu, f"stuck-{i}") for i in range(4)]
    async with subscribed([*runs, ours], poll_interval=0.2) as subscriptions:
        listed = await answer(subscriptions[4])
        assert isinstance(listed, Listed) and listed.status in (JobStatus.BOOTING, JobStatus.RUNNING)
        read = await run_read(subscriptions[4])  # confirmed now, not when the newer run ends
    assert read.source == "status" and read.submission is not None
    assert read.submission.submission_id in (newer.submission_id, None)  # None: a sparse BOOTING answer (row 12)
    assert newer.relation(read.submission) == 0
    assert StatusRules().judge(read.submission, ours).value == "superseded"  # the trigger reads the history


async def test_many_ends_are_confirmed_by_status_calls_and_run_history_pages(emu: EmulatorThread) -> None:
    runs = [start(emu, f"load-{i}", "FAILED", duration_s=0.4, error_summary=f"table {i} locked") for i in range(6)]
    async with subscribed(runs, poll_interval=0.2) as subscriptions:
        reads = [await run_read(s) for s in subscriptions]
    for i, (run, read) in enumerate(zip(runs, reads, strict=True)):
        assert read.submission is not None and read.submission.submission_id == run.submission_id
        assert read.submission.error_summary == f"table {i} locked"
    by_status = sum(requests_of(emu, "job_status").values())
    by_history = sum(requests_of(emu, "list_submissions").values())
    assert by_status + by_history == 6  # one confirmation per run
    assert by_history >= 1 and {r.source for r in reads} >= {"run history"}


async def test_a_failing_or_cancelled_trigger_does_not_disturb_the_others(emu: EmulatorThread) -> None:
    good = start(emu, "orders", "SUCCEEDED", duration_s=0.8)
    stuck = start(emu, "stuck")
    ghost = RunRef("ghost", emu.cluster_id or "", 1)  # no such job: Cdm.0100 for its trigger only
    tasks = {run.job_name: asyncio.ensure_future(run_trigger(make_trigger(run))) for run in (good, stuck, ghost)}
    event = await asyncio.wait_for(tasks["ghost"], 5)
    assert event["status"] == "error" and "Cdm.0100" in event["message"]
    (poller,) = pollers().values()
    tasks["stuck"].cancel()  # one trigger cancelled (task killed, triggerer redistribution)
    with pytest.raises(asyncio.CancelledError):
        await tasks["stuck"]
    assert poller.running and poller.subscribers == 1
    event = await asyncio.wait_for(tasks["orders"], 5)
    assert (event["status"], event["submission"]["submission_id"]) == ("success", good.submission_id)
    assert requests_of(emu, "job_status").get("400") == 1  # the missing job was read once
    assert pollers() == {} and not poller.running


async def test_the_poller_lives_from_the_first_subscriber_to_the_last(emu: EmulatorThread) -> None:
    a, b = start(emu, "a"), start(emu, "b")
    assert pollers() == {}
    async with subscribe(a, 60.0):
        (poller,) = pollers().values()
        async with subscribe(b, 60.0):
            assert list(pollers().values()) == [poller] and poller.subscribers == 2
            async with subscribe(b, 60.0, hook_params={**HOOK_PARAMS, "timeout": 30}):
                assert len(pollers()) == 2  # another connection set-up: its own poller
            other_cluster = RunRef("a", "c0000000-0000-4000-8000-000000000002", 1)
            async with subscribe(other_cluster, 60.0):
                assert len(pollers()) == 2  # (the previous one stopped) another cluster: its own
        assert poller.running and poller.subscribers == 1 and set(poller.jobs) == {"a"}
        in_other_loop: list[Any] = []

        def other_loop() -> None:
            async def watch() -> None:
                async with subscribe(a, 60.0):
                    in_other_loop.append(next(iter(pollers().values())))

            asyncio.run(watch())

        thread = threading.Thread(target=other_loop)
        thread.start()
        await asyncio.to_thread(thread.join)
        assert in_other_loop and in_other_loop[0] is not poller  # state is per running loop
        assert list(pollers().values()) == [poller]
    assert pollers() == {} and not poller.running


async def test_a_rebuilt_trigger_subscribes_again(emu: EmulatorThread) -> None:
    run = start(emu, "orders", "SUCCEEDED", duration_s=0.8)
    first = make_trigger(run)
    watching = asyncio.ensure_future(run_trigger(first))
    while "200" not in requests_of(emu, "job_status"):
        await asyncio.sleep(0.02)
    (poller,) = pollers().values()
    watching.cancel()  # the triggerer stops
    with pytest.raises(asyncio.CancelledError):
        await watching
    assert pollers() == {} and not poller.running  # the last subscriber took the poller down
    rebuilt = CdmJobStatusTrigger(**json.loads(json.dumps(first.serialize()[1])))
    event = await run_trigger(rebuilt)
    assert (event["status"], event["submission"]["submission_id"]) == ("success", run.submission_id)
    assert emu.stats()["starts"] == {"orders": 1}


async def test_in_list_mode_the_last_read_at_the_deadline_is_a_status_call(emu: EmulatorThread) -> None:
    runs = [start(emu, f"stuck-{i}") for i in range(3)]
    end_time = time.time() + 0.8
    triggers = [
        CdmJobStatusTrigger(run=run.to_json(), end_time=end_time, poll_interval=0.2, hook_params=HOOK_PARAMS)
        for run in runs
    ]
    events = await asyncio.gather(*(run_trigger(trigger) for trigger in triggers))
    for run, event in zip(runs, events, strict=True):
        assert event["status"] == "timeout" and "RUNNING" in event["message"]
        assert event["submission"]["submission_id"] == run.submission_id  # not just the list's status
    assert sum(requests_of(emu, "list_jobs").values()) >= 2  # they were watched through the list
    assert requests_of(emu, "job_status") == {"200": 3}  # one last read each, at the deadline


async def test_a_list_that_keeps_failing_falls_back_to_status_calls(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [start(emu, f"load-{i}", "SUCCEEDED", duration_s=0.3) for i in range(3)]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ApiError(errors.CDM_SYSTEM_ERROR, detail="list broken")

    monkeypatch.setattr(emu.server.app.backend, "list_jobs", broken)
    events = await asyncio.gather(*(run_trigger(make_trigger(run)) for run in runs))
    assert [event["status"] for event in events] == ["success"] * 3
    assert requests_of(emu, "list_jobs") == {"500": 4}  # one list read, retried by the policy, then given up
    assert requests_of(emu, "job_status").get("200", 0) >= 3


async def test_the_quota_share_comes_from_airflow_configuration(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _shared_poller.configured_quota_share() == 0.6
    monkeypatch.setenv("AIRFLOW__CDM__QUOTA_SHARE", "0.5")  # the option's former name
    assert _shared_poller.configured_quota_share() == 0.5
    monkeypatch.setenv("AIRFLOW__CDM__TRIGGERER_QUOTA_SHARE", "0.4")
    async with subscribe(start(emu, "orders"), 60.0):
        (poller,) = pollers().values()
        assert poller.limiter.share == 0.4
    monkeypatch.setenv("AIRFLOW__CDM__TRIGGERER_QUOTA_SHARE", "1.5")
    monkeypatch.delenv("AIRFLOW__CDM__QUOTA_SHARE")
    assert _shared_poller.configured_quota_share() == 0.6  # refused, with a warning
