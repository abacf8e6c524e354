"""CdmJobStatusTrigger against a real emulator process: jobs started with the sync hook, watched by the
trigger to its one event; a trigger rebuilt from its serialized kwargs resumes without a second start."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.jobs import job_definition
from tests.triggering import run_trigger, with_cdm_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

HOOK_PARAMS = {"retry_policy": {"max_attempts": 3, "initial_backoff_s": 0.05, "max_backoff_s": 0.2}}


def start(emulator: EmulatorProcess, name: str, outcome: str | None = None, **script: Any) -> RunRef:
    if outcome is not None:
        emulator.script_job(name, outcome, **script)
    hook = CdmHook()
    try:
        hook.create_job(job_definition(name))
        return with_cdm_id(RunRef.of(hook.start_job(name), emulator.cluster_id or ""), emulator)
    finally:
        hook.close()


def trigger_for(run: RunRef, timeout_s: float = 15.0, **kwargs: Any) -> CdmJobStatusTrigger:
    values: dict[str, Any] = {"poll_interval": 0.1, "hook_params": HOOK_PARAMS, **kwargs}
    return CdmJobStatusTrigger(run=run.to_json(), end_time=time.time() + timeout_s, **values)


async def test_a_run_that_succeeds(emulator: EmulatorProcess) -> None:
    run = start(emulator, "daily orders")
    event = await run_trigger(trigger_for(run))
    assert (event["status"], event["run"]) == ("success", run.to_json())
    assert event["submission"]["status"] == "SUCCEEDED"
    assert event["submission"]["rows_written"] > 0


async def test_a_scripted_failure_reports_cdms_summary(emulator: EmulatorProcess) -> None:
    run = start(emulator, "daily orders", "FAILED", error_summary="Cdm.0037: source link unreachable")
    event = await run_trigger(trigger_for(run))
    assert event["status"] == "failed"
    assert "Cdm.0037: source link unreachable" in event["message"]


async def test_a_stuck_run_times_out_at_the_deadline(emulator: EmulatorProcess) -> None:
    run = start(emulator, "daily orders", "STUCK")
    trigger = trigger_for(run, timeout_s=1.0, poll_interval=5.0)
    event = await run_trigger(trigger)
    assert event["status"] == "timeout"
    assert time.time() - trigger.end_time < 0.5
    assert event["submission"]["status"] == "RUNNING"


async def test_a_rebuilt_trigger_resumes_the_run_with_exactly_one_start(emulator: EmulatorProcess) -> None:
    run = start(emulator, "daily orders", "SUCCEEDED", duration_s=1.2)
    first = trigger_for(run, stop_on_kill=True)

    async def watch() -> list[Any]:
        return [event async for event in first.run()]

    watching = asyncio.ensure_future(watch())
    await asyncio.sleep(0.3)  # a few polls, then the triggerer restarts
    watching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watching
    await first.cleanup()
    assert emulator.stats()["requests"]["job_status"]["200"] >= 2

    classpath, kwargs = first.serialize()
    assert classpath == "airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger"
    event = await run_trigger(CdmJobStatusTrigger(**json.loads(json.dumps(kwargs))))
    assert event["status"] == "success"
    assert event["submission"]["submission_id"] == run.submission_id
    stats = emulator.stats()
    assert stats["starts"] == {"daily orders": 1}
    assert "stop_job" not in stats["requests"]
