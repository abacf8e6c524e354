"""Job options that change what a waiter sees, end to end against the emulator process (issue 11):
a sensor started before the job's first run, jobs CDM deletes after their run (``disposableType``),
CDM's own retries of a failed run (``RETRY_TRIPLE``), a run history longer than one page.

Each test runs under the session's dialect (``CDM_TEST_DIALECT``: observed by default, and reference and
sparse in ``make test-dialects``), so each behaviour is proven in every answer shape.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_cdm.client import follow
from airflow_provider_cdm.client.exceptions import CdmJobNotFoundError
from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmJobFailedError, CdmStartJobOperator
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from tests.jobs import job_definition, with_driver_inputs
from tests.triggering import run_trigger
from tests.unit.operators.helpers import RecordingTI, task_context

pytestmark = pytest.mark.integration

JOB = "orders_once"
FAST = 0.05
DISPOSAL = "schedulerConfig.disposableType"
# A daily schedule whose first run is far off: the tests fire its runs (as CDM's scheduler would).
SCHEDULED = {
    "schedulerConfig.isSchedulerJob": "true",
    "schedulerConfig.cycleType": "day",
    "schedulerConfig.cycle": "1",
    "schedulerConfig.startDate": "2099-01-01 00:00:00",
}
RETRY = "retryJobConfig.retryJobType"


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Any:
    cdm = CdmHook()
    yield cdm
    cdm.close()


def runs(emulator: EmulatorProcess, job_name: str = JOB) -> list[dict[str, Any]]:
    return emulator.runs(job_name)


def start(**kwargs: Any) -> CdmStartJobOperator:
    return CdmStartJobOperator(**{"task_id": "migrate", "job_name": JOB, "poll_interval": FAST, **kwargs})


def deferred_result(operator: CdmStartJobOperator) -> dict[str, Any]:
    """Defer, run the trigger as the triggerer would, resume: the task's result (or its error)."""
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context())
    event = asyncio.run(run_trigger(deferred.value.trigger))
    return operator.execute_complete(task_context(), event, **deferred.value.kwargs)


# --- a sensor started before the first run -------------------------------------------------------------


def test_a_sensor_started_before_the_jobs_first_run_waits_for_it(emulator: EmulatorProcess, hook: CdmHook) -> None:
    """CDM answers a never-run job with an empty list or Sqoop's NEVER_EXECUTED run (dialect): not yet."""
    hook.create_job(job_definition(JOB))
    emulator.script_job(JOB, "SUCCEEDED", duration_s=0.2)
    sensor = CdmJobStatusSensor(task_id="wait", job_name=JOB, poke_interval=FAST, timeout=20)
    assert sensor.poke(task_context()) is False  # no run yet: neither a failure nor a success
    starter = threading.Timer(0.5, hook.start_job, args=(JOB,))
    starter.start()
    try:
        value = sensor.execute(task_context())
    finally:
        starter.join()
    assert value["status"] == "SUCCEEDED"
    assert len(runs(emulator)) == 1


# --- disposable jobs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_delete_after_succeed_job_deleted_by_cdm_after_its_run_is_a_success(
    emulator: EmulatorProcess, hook: CdmHook, deferrable: bool
) -> None:
    hook.create_job(with_driver_inputs(job_definition(JOB), **{DISPOSAL: "DELETE_AFTER_SUCCEED"}))
    emulator.script_job(JOB, "SUCCEEDED", duration_s=0.6)
    operator = start(deferrable=deferrable, timeout=30)
    result = deferred_result(operator) if deferrable else operator.execute(task_context())
    assert result["status"] == "SUCCEEDED"
    assert result["job_name"] == JOB
    with pytest.raises(CdmJobNotFoundError):
        hook.get_job_status(JOB)  # CDM deleted it, as its definition asked


def test_a_one_off_job_created_and_started_in_one_call_is_a_success_too(emulator: EmulatorProcess) -> None:
    """The create-and-start operator knows the definition: its wait needs no read of the job's options."""
    emulator.script_job(JOB, "SUCCEEDED", duration_s=0.6)
    job = with_driver_inputs(job_definition(JOB), **{DISPOSAL: "DELETE_AFTER_SUCCEED"})
    result = CdmCreateAndStartJobOperator(task_id="once", job=job, poll_interval=FAST, timeout=30).execute(
        task_context()
    )
    assert result["status"] == "SUCCEEDED"
    assert "show_job" not in emulator.stats()["requests"]


def test_a_delete_job_that_failed_and_vanished_fails_saying_cdm_deleted_it(
    emulator: EmulatorProcess, hook: CdmHook
) -> None:
    hook.create_job(with_driver_inputs(job_definition(JOB), **{DISPOSAL: "DELETE"}))
    emulator.script_job(JOB, "FAILED", duration_s=0.6, error_summary="disk full")
    with pytest.raises(CdmJobFailedError, match="before the run's outcome could be read"):
        start(timeout=30).execute(task_context())


# --- CDM's own retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_retry_triple_job_is_followed_through_cdms_retries_to_the_last_run(
    emulator: EmulatorProcess, hook: CdmHook, deferrable: bool
) -> None:
    hook.create_job(with_driver_inputs(job_definition(JOB), **{RETRY: "RETRY_TRIPLE"}))
    emulator.script_job(JOB, "FAILED", duration_s=0.3, error_summary="network blip", count=2)  # then a success
    ti = RecordingTI()
    operator = start(deferrable=deferrable, timeout=60)
    result = deferred_result(operator) if deferrable else operator.execute(task_context(ti))
    history = runs(emulator)
    assert [run["status"] for run in history] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert (result["status"], result["submission_id"]) == ("SUCCEEDED", history[-1]["submission_id"])
    if not deferrable:
        assert ti.xcom["submission_id"] == history[-1]["submission_id"]  # the run whose outcome is the task's


def test_a_retry_triple_job_that_fails_every_time_reports_the_last_failure(
    emulator: EmulatorProcess, hook: CdmHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow, "RETRY_GRACE_S", 3.0)  # CDM has no fourth retry: do not wait 2 minutes for it
    hook.create_job(with_driver_inputs(job_definition(JOB), **{RETRY: "RETRY_TRIPLE"}))
    emulator.script_job(JOB, "FAILED", duration_s=0.2, error_summary="table locked")
    with pytest.raises(CdmJobFailedError, match="error summary: table locked") as raised:
        start(timeout=60).execute(task_context())
    history = runs(emulator)
    assert len(history) == 4  # the run and CDM's three retries
    assert raised.value.submission is not None
    assert raised.value.submission["submission_id"] == history[-1]["submission_id"]


def test_without_retry_triple_a_failure_is_reported_at_once(emulator: EmulatorProcess, hook: CdmHook) -> None:
    hook.create_job(job_definition(JOB))
    emulator.script_job(JOB, "FAILED", duration_s=0.2, error_summary="table locked")
    with pytest.raises(CdmJobFailedError, match="table locked"):
        start(timeout=60).execute(task_context())
    assert len(runs(emulator)) == 1
    assert emulator.stats()["requests"]["show_job"] == {"200": 1}  # the job's options, read once, on the failure


# --- a long run history ---------------------------------------------------------------------------------


def test_a_sensor_bound_to_an_old_run_finds_it_beyond_the_first_history_page(
    emulator: EmulatorProcess, hook: CdmHook
) -> None:
    """Real CDM may page its run history by 10 whatever ``page_size`` says: the walk goes by ``total``."""
    hook.create_job(job_definition(JOB))
    emulator.script_job(JOB, "SUCCEEDED", duration_s=0)
    first = hook.start_job(JOB)
    first_id = first.submission_id or runs(emulator)[0]["submission_id"]
    for _ in range(12):
        hook.start_job(JOB)
    sensor = CdmJobStatusSensor(task_id="wait", job_name=JOB, submission_id=first_id, poke_interval=FAST, timeout=10)
    value = sensor.execute(task_context())
    assert (value["submission_id"], value["status"]) == (first_id, "SUCCEEDED")
    assert len(runs(emulator)) == 13


# --- runs CDM queues, and runs CDM starts itself -------------------------------------------------------


def test_a_run_queued_past_the_clusters_concurrency_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """PENDING (cdm-dialects.md row 13): under way, not idle; the task waits through the queue."""
    with run_emulator("--cluster-concurrency", "1", "--job-duration", "0.8") as busy:
        monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", busy.connection_json)
        hook = CdmHook()
        try:
            for name in ("first", "second"):
                hook.create_job(job_definition(name))
            hook.start_job("first")
            result = start(job_name="second", timeout=30).execute(task_context())
            assert result["status"] == "SUCCEEDED"
            queued = [event for event in busy.state()["events"] if event["event"] == "queued"]
            assert [event["job_name"] for event in queued] == ["second"]  # it read PENDING, then ran
        finally:
            hook.close()


def test_a_run_cdm_started_on_its_schedule_is_what_a_sensor_reports(emulator: EmulatorProcess, hook: CdmHook) -> None:
    job = with_driver_inputs(
        job_definition(JOB),
        **SCHEDULED,
    )
    hook.create_job(job)
    emulator.script_job(JOB, "SUCCEEDED", duration_s=0.3)
    fired = emulator.fire_schedule(JOB)
    assert fired["fired"] is True
    value = CdmJobStatusSensor(task_id="wait", job_name=JOB, poke_interval=FAST, timeout=10).execute(task_context())
    assert value["status"] == "SUCCEEDED"
    assert runs(emulator)[-1]["auto"] is True  # CDM's scheduler started it, not a start call


def test_a_start_that_meets_a_scheduled_run_under_way_attaches_to_it(emulator: EmulatorProcess, hook: CdmHook) -> None:
    job = with_driver_inputs(
        job_definition(JOB),
        **SCHEDULED,
    )
    hook.create_job(job)
    emulator.script_job(JOB, "SUCCEEDED", duration_s=0.6)
    emulator.fire_schedule(JOB)
    result = start(if_running="wait", timeout=30).execute(task_context())
    assert result["status"] == "SUCCEEDED"
    assert len(runs(emulator)) == 1  # no second run: the task waited for CDM's own
