"""CdmJobStatusTrigger against the in-process emulator: one event per outcome, transient errors survived,
the event loop never blocked, and the CDM run stopped only by on_kill with stop_on_kill."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

import pytest

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.client.async_transport import AsyncTransport
from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.faults import FaultPlan
from airflow_provider_cdm.emulator.runs import STOPPED_BY_USER
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.triggering import run_trigger
from tests.unit.triggers.helpers import LoopTicks, ScriptedFaults, make_trigger, requests_of, start_job, wait_for

pytestmark = pytest.mark.asyncio

ACTIVE = ("BOOTING", "RUNNING")


def runs_of(emulator: EmulatorThread, job_name: str) -> list[dict[str, Any]]:
    for cluster in emulator.state()["clusters"]:
        for job in cluster["jobs"]:
            if job["name"] == job_name:
                return list(job["runs"])
    raise AssertionError(f"no job {job_name}")


async def test_success_event_carries_the_run_submission_and_rows(emu: EmulatorThread) -> None:
    run = start_job(emu, "orders ✓ 订单")
    event = await run_trigger(make_trigger(run))
    assert event["status"] == "success"
    assert event["run"] == run.to_json()
    assert event["submission"]["submission_id"] == run.submission_id
    assert event["submission"]["status"] == "SUCCEEDED"
    rows = event["submission"]["rows_written"]
    assert rows and f"wrote {rows:,} rows" in event["message"]
    assert requests_of(emu, "job_status").keys() == {"200"}


async def test_a_run_started_without_an_id_is_followed_by_its_creation_date(emu: EmulatorThread) -> None:
    """A sparse start answer (row 12) names no run id: the trigger pins the run by CDM's creation date,
    takes its id from the status answers, and says so in its event (``followed``)."""
    emu.set_dialect("observed")
    run = start_job(emu, "orders", "SUCCEEDED", duration_s=0.4, with_id=False)
    assert run.submission_id is None and run.not_before_ms is not None
    start_job(emu, "other_job", "STUCK")  # another job's run, created later: nothing to do with ours
    event = await run_trigger(make_trigger(run))
    ours = runs_of(emu, "orders")[-1]["submission_id"]
    assert (event["status"], event["submission"]["submission_id"]) == ("success", ours)
    assert event["followed"]["submission_id"] == ours


async def test_failed_event_names_cdm_error_summary(emu: EmulatorThread) -> None:
    run = start_job(emu, "nightly", "FAILED", duration_s=0.2, error_summary="Cdm.0037: disk quota exceeded on obs")
    event = await run_trigger(make_trigger(run))
    assert event["status"] == "failed"
    assert "FAILED" in event["message"]
    assert "Cdm.0037: disk quota exceeded on obs" in event["message"]
    assert event["submission"]["error_summary"] == "Cdm.0037: disk quota exceeded on obs"


async def test_timeout_fires_at_the_deadline_not_a_poll_interval_later(emu: EmulatorThread) -> None:
    run = start_job(emu, "stuck", "STUCK")
    trigger = make_trigger(run, timeout_s=0.6, poll_interval=30.0)
    started = time.time()
    event = await run_trigger(trigger)
    assert event["status"] == "timeout"
    assert trigger.end_time <= time.time() < trigger.end_time + 0.5, time.time() - started
    assert "did not end before the deadline" in event["message"]
    assert "RUNNING" in event["message"] and event["submission"]["status"] == "RUNNING"
    assert runs_of(emu, "stuck")[-1]["status"] == "RUNNING"  # a timeout does not stop the run


async def test_a_job_that_does_not_exist_is_an_error_event(emu: EmulatorThread) -> None:
    ghost = RunRef("ghost", emu.cluster_id or "", 1, None)
    event = await run_trigger(make_trigger(ghost))
    assert event["status"] == "error"
    assert "Cdm.0100" in event["message"]
    assert event["submission"] is None
    assert requests_of(emu, "job_status") == {"400": 1}  # not retried


async def test_refused_credentials_are_an_error_event_without_the_secret(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start_job(emu, "orders")
    wrong_secret = "wrong-secret-key-0123456789"
    monkeypatch.setenv("AIRFLOW_CONN_CDM_WRONG", json.dumps({**emu.connection, "password": wrong_secret}))
    event = await run_trigger(make_trigger(run, cdm_conn_id="cdm_wrong"))
    assert event["status"] == "error"
    assert re.search(r"APIGW?\.0301", event["message"])  # either gateway prefix (cdm-dialects.md row 11)
    assert wrong_secret not in json.dumps(event)


async def test_a_missing_connection_is_an_error_event(emu: EmulatorThread) -> None:
    event = await run_trigger(make_trigger(RunRef("j", "c", 1), cdm_conn_id="cdm_nowhere"))
    assert event["status"] == "error"
    assert "cdm_nowhere" in event["message"]


async def test_superseded_run_is_judged_from_the_run_history(emu: EmulatorThread) -> None:
    ours = start_job(emu, "orders", "FAILED", duration_s=0.05, error_summary="source table locked", count=1)
    await wait_for(lambda: runs_of(emu, "orders")[-1]["status"] == "FAILED")
    newer = start_job(emu, "orders", "STUCK")  # someone started the job again
    assert newer.submission_id and ours.submission_id and newer.submission_id > ours.submission_id
    event = await run_trigger(make_trigger(ours))
    assert event["status"] == "failed"
    assert event["submission"]["submission_id"] == ours.submission_id
    assert "source table locked" in event["message"]
    assert requests_of(emu, "list_submissions") == {"200": 1}


async def test_superseded_run_missing_from_the_history_is_an_error(emu: EmulatorThread) -> None:
    start_job(emu, "orders")
    unknown = RunRef("orders", emu.cluster_id or "", 0, None)  # older than every run CDM knows
    event = await run_trigger(make_trigger(unknown))
    assert event["status"] == "error"
    assert "not in the job's run history" in event["message"]


async def test_the_previous_runs_success_is_not_taken_for_ours(emu: EmulatorThread) -> None:
    previous = start_job(emu, "orders", "SUCCEEDED", duration_s=0.05, count=1)
    await wait_for(lambda: runs_of(emu, "orders")[-1]["status"] == "SUCCEEDED")
    assert previous.submission_id is not None
    # Our start was accepted, but CDM's status still shows the previous run for a while.
    ours = RunRef("orders", previous.cluster_id, previous.submission_id + 1, None)
    emu.script_job("orders", "FAILED", duration_s=0.1, error_summary="ours failed")
    waiting = asyncio.ensure_future(run_trigger(make_trigger(ours)))
    await wait_for(lambda: sum(requests_of(emu, "job_status").values()) >= 3)
    assert not waiting.done()  # the previous run's SUCCEEDED did not end the wait
    await asyncio.to_thread(start_job, emu, "orders")
    event = await waiting
    assert (event["status"], event["submission"]["submission_id"]) == ("failed", ours.submission_id)


async def test_one_503_does_not_fail_the_wait(emu: EmulatorThread, faults: ScriptedFaults) -> None:
    run = start_job(emu, "orders")
    faults.queue(FaultPlan(error_status=503))
    event = await run_trigger(make_trigger(run))
    assert event["status"] == "success"
    assert requests_of(emu, "job_status")["503"] == 1


async def test_a_429_is_retried_after_its_retry_after(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    run = start_job(emu, "orders")
    app = emu.server.app
    seen: list[float] = []

    def throttle_once(user: str, endpoint: Any) -> None:
        seen.append(time.monotonic())
        if len(seen) == 1:
            raise ApiError(errors.APIG_THROTTLED, limit=120)

    emu.set_faults(quotas=True, retry_after_s=0.4)
    monkeypatch.setattr(app.quotas, "check", throttle_once)
    event = await run_trigger(make_trigger(run))
    assert event["status"] == "success"
    assert requests_of(emu, "job_status")["429"] == 1
    assert seen[1] - seen[0] >= 0.38  # Retry-After, not the 0.05 s backoff


async def test_the_event_loop_keeps_running_while_an_answer_is_slow(
    emu: EmulatorThread, faults: ScriptedFaults
) -> None:
    run = start_job(emu, "orders")
    faults.queue(FaultPlan(latency_s=0.6))  # the first status answer takes 0.6 s
    async with LoopTicks() as loop:
        started = time.monotonic()
        event = await run_trigger(make_trigger(run))  # connection lookup, client set-up, slow read, sleeps
        elapsed = time.monotonic() - started
    assert event["status"] == "success"
    assert elapsed >= 0.6
    assert loop.ticks >= 0.5 * elapsed / 0.01, (loop.ticks, elapsed)


async def test_a_rebuilt_trigger_resumes_the_same_run_without_starting_anything(emu: EmulatorThread) -> None:
    run = start_job(emu, "orders", "SUCCEEDED", duration_s=0.8)
    first = make_trigger(run, stop_on_kill=True)
    watching = asyncio.ensure_future(run_trigger(first))
    await wait_for(lambda: "200" in requests_of(emu, "job_status"))
    watching.cancel()  # triggerer shut down: cancelled, cleaned up, no on_kill
    with pytest.raises(asyncio.CancelledError):
        await watching
    classpath, kwargs = first.serialize()
    assert classpath == "airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger"
    event = await run_trigger(CdmJobStatusTrigger(**json.loads(json.dumps(kwargs))))
    assert event["status"] == "success"
    assert event["submission"]["submission_id"] == run.submission_id
    assert emu.stats()["starts"] == {"orders": 1}
    assert "stop_job" not in emu.stats()["requests"]


# --- on_kill and cleanup ------------------------------------------------------------------------


async def cancel_while_watching(emu: EmulatorThread, trigger: CdmJobStatusTrigger) -> None:
    """Start the trigger, let it poll, then cancel it as the triggerer does (before on_kill/cleanup)."""

    async def watch() -> list[Any]:
        return [event async for event in trigger.run()]

    task = asyncio.ensure_future(watch())
    await wait_for(lambda: "200" in requests_of(emu, "job_status"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_arriving_with_an_answer_is_not_swallowed(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    trigger = make_trigger(RunRef("orders", emu.cluster_id or "", 1), poll_interval=0.01)
    reads = 0

    async def answer_and_get_cancelled(self: AsyncTransport, call: Any) -> None:
        nonlocal reads
        reads += 1
        watching.cancel()  # the triggerer cancels just as CDM's answer arrives

    monkeypatch.setattr(AsyncTransport, "execute", answer_and_get_cancelled)

    async def watch() -> list[Any]:
        return [event async for event in trigger.run()]

    watching = asyncio.ensure_future(watch())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(watching), 2)
    await trigger.cleanup()
    assert reads == 1  # it stopped instead of polling on


async def test_on_kill_stops_the_run_when_stop_on_kill(emu: EmulatorThread) -> None:
    run = start_job(emu, "orders", "STUCK")
    trigger = make_trigger(run, stop_on_kill=True)
    await cancel_while_watching(emu, trigger)
    await trigger.on_kill()
    await trigger.cleanup()
    last = runs_of(emu, "orders")[-1]
    assert (last["status"], last["stopped"]) == ("FAILED", True)
    assert requests_of(emu, "stop_job") == {"200": 1}
    stopped = CdmHook().get_job_status("orders")
    assert stopped is not None and stopped.error_summary == STOPPED_BY_USER


@pytest.mark.parametrize("stop_on_kill", [False, True])
async def test_cleanup_alone_never_stops_the_run(emu: EmulatorThread, stop_on_kill: bool) -> None:
    run = start_job(emu, "orders", "STUCK")
    trigger = make_trigger(run, stop_on_kill=stop_on_kill)
    await cancel_while_watching(emu, trigger)
    await trigger.cleanup()  # triggerer restart or redistribution
    if not stop_on_kill:
        await trigger.on_kill()  # a user kill, but the task said not to stop
        await trigger.cleanup()
    assert runs_of(emu, "orders")[-1]["status"] in ACTIVE
    assert "stop_job" not in emu.stats()["requests"]


async def test_on_kill_takes_not_running_as_done(
    emu: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = start_job(emu, "orders", "STUCK")
    backend = emu.server.app.backend
    original = backend.stop_job

    def run_ends_first(cluster_id: str, job_name: str) -> Any:
        original(cluster_id, job_name)  # the run ends between the status read and the stop
        return original(cluster_id, job_name)  # -> Cdm.0053

    monkeypatch.setattr(backend, "stop_job", run_ends_first)
    trigger = make_trigger(run, stop_on_kill=True)
    with caplog.at_level(logging.INFO):
        await trigger.on_kill()
        await trigger.cleanup()
    assert requests_of(emu, "stop_job") == {"400": 1}
    logged = caplog.text + capsys.readouterr().out  # Airflow 2 logs through logging, 3 through structlog
    assert "had ended already" in logged
    assert "Could not stop" not in logged


async def test_on_kill_leaves_a_newer_run_alone(emu: EmulatorThread) -> None:
    ours = start_job(emu, "orders", "SUCCEEDED", duration_s=0.05, count=1)
    await wait_for(lambda: runs_of(emu, "orders")[-1]["status"] == "SUCCEEDED")
    start_job(emu, "orders", "STUCK")  # someone else's run
    trigger = make_trigger(ours, stop_on_kill=True)
    await trigger.on_kill()
    await trigger.cleanup()
    assert runs_of(emu, "orders")[-1]["status"] in ACTIVE
    assert "stop_job" not in emu.stats()["requests"]
