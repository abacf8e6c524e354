"""The operators and the sensor against a real emulator process: every branch of execute, execute_complete
and on_kill, checked through what the emulator saw (starts, stops, run states)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowSkipException, TaskDeferred

from airflow_provider_cdm.client.exceptions import CdmJobNotFoundError
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmDeleteJobOperator,
    CdmJobFailedError,
    CdmJobTimeoutError,
    CdmStartJobOperator,
    CdmStopJobOperator,
)
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from tests.jobs import job_definition
from tests.triggering import run_trigger
from tests.unit.operators.helpers import RecordingTI, task_context

pytestmark = pytest.mark.integration

JOB = "orders_daily"
FAST = 0.05  # poll interval of the tests: the emulator's runs last tenths of a second


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Any:
    cdm = CdmHook()
    yield cdm
    cdm.close()


@pytest.fixture
def job(hook: CdmHook) -> str:
    hook.create_job(job_definition(JOB))
    return JOB


def start(**kwargs: Any) -> CdmStartJobOperator:
    return CdmStartJobOperator(**{"task_id": "migrate", "job_name": JOB, "poll_interval": FAST, **kwargs})


def runs(emulator: EmulatorProcess, job_name: str = JOB) -> list[dict[str, Any]]:
    """The job's runs as the emulator's admin view shows them (oldest first)."""
    return emulator.runs(job_name)


def run_id(emulator: EmulatorProcess, index: int = -1, job_name: str = JOB) -> int:
    """A run's id as CDM gave it (the admin view): start answers may carry none (sparse, row 12)."""
    return int(runs(emulator, job_name)[index]["submission_id"])


def operations(emulator: EmulatorProcess) -> dict[str, int]:
    return {name: sum(codes.values()) for name, codes in emulator.stats()["requests"].items()}


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# --- start: success and failures ---------------------------------------------------------------------


def test_start_waits_and_returns_the_runs_result(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0.4)
    ti = RecordingTI()
    result = start(variables={"date": "2026-11-22", "limit": 100}).execute(task_context(ti))

    assert (result["job_name"], result["cluster_id"], result["status"]) == (job, emulator.cluster_id, "SUCCEEDED")
    assert result["progress"] == 100.0
    assert result["rows_read"] == result["rows_written"] == result["counters"]["ROWS_WRITTEN"] > 0
    assert result["bytes_read"] == result["bytes_written"] == result["counters"]["BYTES_WRITTEN"] > 0
    assert datetime.fromisoformat(result["ended_at"]) > datetime.fromisoformat(result["started_at"])
    json.dumps(result)  # an XCom value
    assert ti.xcom["submission_id"] == result["submission_id"] == runs(emulator)[0]["submission_id"]
    assert ti.xcom["cdm_run"]["submission_id"] in (result["submission_id"], None)  # None: a sparse start answer
    assert runs(emulator)[0]["variables"] == {"date": "2026-11-22", "limit": "100"}
    assert operations(emulator)["job_status"] >= 3  # it polled while the run was under way


@pytest.mark.parametrize(
    ("outcome", "summary"),
    [("FAILED", "Table public.orders does not exist"), ("FAILURE_ON_SUBMIT", "Not enough resources in the cluster")],
)
def test_a_failed_run_raises_with_cdms_error(emulator: EmulatorProcess, job: str, outcome: str, summary: str) -> None:
    emulator.script_job(job, outcome, duration_s=0.3, error_summary=summary)
    ti = RecordingTI()
    with pytest.raises(CdmJobFailedError) as raised:
        start().execute(task_context(ti))
    message, run_id = str(raised.value), ti.xcom["submission_id"]
    assert f"run {run_id} of CDM job '{job}' in cluster {emulator.cluster_id} ended with status {outcome}" in message
    assert f"error summary: {summary}" in message
    assert f"error details: org.apache.sqoop.common.SqoopException: {summary}" in message
    assert raised.value.submission is not None and raised.value.submission["status"] == outcome


def test_failure_on_submit_fails_from_the_start_answer(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "FAILURE_ON_SUBMIT")
    with pytest.raises(CdmJobFailedError, match="ended with status FAILURE_ON_SUBMIT"):
        start(deferrable=True).execute(task_context())  # not deferred: the run ended already
    seen = operations(emulator)
    assert (seen["create_job"], seen["start_job"]) == (1, 1)
    assert seen.get("job_status", 0) <= 1  # the start answer decided: no polling (at most a sparse answer's id read)


def test_unknown_fails_instead_of_waiting_forever(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "UNKNOWN", duration_s=0.3)
    with pytest.raises(CdmJobFailedError, match="ended with status UNKNOWN"):
        start().execute(task_context())


# --- an active run: wait, fail, restart; a retried task ------------------------------------------------


def test_if_running_wait_attaches_to_the_active_run(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0.5)
    hook.start_job(job)
    result = start(if_running="wait").execute(task_context())
    assert (result["submission_id"], result["status"]) == (run_id(emulator), "SUCCEEDED")
    assert emulator.stats()["starts"] == {job: 1}


def test_if_running_fail_refuses_and_leaves_the_run(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "STUCK")
    hook.start_job(job)
    with pytest.raises(
        AirflowException, match=rf"(run {run_id(emulator)}|the run) of CDM job '{job}' .* already \(if_running='fail'\)"
    ):
        start(if_running="fail").execute(task_context())
    assert emulator.stats()["starts"] == {job: 1}
    assert runs(emulator)[-1]["stopped"] is False


def test_if_running_restart_stops_the_active_run_then_starts(
    emulator: EmulatorProcess, hook: CdmHook, job: str
) -> None:
    emulator.script_job(job, "STUCK", count=1)  # the next run hangs; later ones succeed
    hook.start_job(job)
    first = run_id(emulator)
    result = start(if_running="restart").execute(task_context())
    first_run, second_run = runs(emulator)
    assert first_run["submission_id"] == first and first_run["stopped"] is True
    assert result["submission_id"] == second_run["submission_id"] != first
    assert (result["status"], second_run["status"]) == ("SUCCEEDED", "SUCCEEDED")
    assert emulator.stats()["starts"] == {job: 2}


def test_a_retried_task_attaches_to_the_run_its_first_try_started(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0.8)
    first_try = start(wait_for_completion=False).execute(task_context())  # then the worker died
    assert first_try["status"] in ("BOOTING", "RUNNING") and first_try["ended_at"] is None
    retry = start().execute(task_context())
    assert (retry["submission_id"], retry["status"]) == (run_id(emulator), "SUCCEEDED")
    assert first_try["submission_id"] in (run_id(emulator), None)  # None: a sparse start answer
    assert emulator.stats()["starts"] == {job: 1}


# --- timeout and on_kill -----------------------------------------------------------------------------


def test_timeout_stops_the_run_and_raises(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "STUCK")
    began = time.monotonic()
    with pytest.raises(CdmJobTimeoutError) as raised:
        start(timeout=0.5).execute(task_context())
    assert 0.5 <= time.monotonic() - began < 5
    run = runs(emulator)[0]
    assert (run["stopped"], run["status"]) == (True, "FAILED")
    assert raised.value.stopped is True and raised.value.elapsed_s >= 0.5
    assert f"run {run['submission_id']} of CDM job '{job}'" in str(raised.value)
    assert "had not finished after 0." in str(raised.value) and "(timeout 0.5 s); stopped the CDM job" in str(
        raised.value
    )


def test_timeout_without_stop_on_timeout_leaves_the_run(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "STUCK")
    with pytest.raises(CdmJobTimeoutError, match="left the CDM job as it is"):
        start(timeout=0.3, stop_on_timeout=False).execute(task_context())
    assert runs(emulator)[0]["stopped"] is False
    assert "stop_job" not in operations(emulator)


def test_on_kill_stops_the_run_the_task_started(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "STUCK")
    operator, ti = start(), RecordingTI()

    def kill_once_started() -> None:  # as Airflow does when a user marks the running task failed
        wait_for(lambda: "submission_id" in ti.xcom)
        operator.on_kill()

    killer = threading.Thread(target=kill_once_started)
    killer.start()
    with pytest.raises(CdmJobFailedError, match="The job was stopped by the user."):  # its wait sees the stop
        operator.execute(task_context(ti))
    killer.join(10)
    assert runs(emulator)[0]["stopped"] is True


def test_on_kill_stops_nothing_it_does_not_own(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    start().on_kill()  # nothing started yet: not even a request
    assert operations(emulator) == {"create_job": 1}  # the fixture's
    emulator.script_job(job, "SUCCEEDED", duration_s=0, count=1)
    operator = start()
    operator.execute(task_context())  # its run ended
    emulator.script_job(job, "STUCK")
    hook.start_job(job)  # somebody else's run
    operator.on_kill()
    assert [run["stopped"] for run in runs(emulator)] == [False, False]
    assert "stop_job" not in operations(emulator)


# --- deferrable --------------------------------------------------------------------------------------


def test_deferrable_defers_with_a_json_only_trigger(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0.4)
    operator = start(deferrable=True, timeout=600, poll_interval=0.1, hook_params={"timeout": 30})
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context())
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    run = RunRef.from_json(kwargs["run"])
    assert (run.job_name, run.cluster_id, run.submission_id or run_id(emulator)) == (
        job,
        emulator.cluster_id,
        runs(emulator)[0]["submission_id"],
    )
    assert abs(kwargs["end_time"] - (time.time() + 600)) < 5
    assert (kwargs["poll_interval"], kwargs["stop_on_kill"], kwargs["cdm_conn_id"]) == (0.1, True, "cdm_default")
    assert kwargs["rules"] == StatusRules().to_json()
    assert kwargs["hook_params"] == {"timeout": 30}
    assert deferred.value.timeout is None  # the trigger's deadline hands control back, never a TaskDeferralTimeout
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs["run"] == kwargs["run"]

    event = asyncio.run(run_trigger(deferred.value.trigger))
    result = start(deferrable=True).execute_complete(task_context(), event, **deferred.value.kwargs)
    assert (result["submission_id"], result["status"]) == (run_id(emulator), "SUCCEEDED")


def test_deferrable_without_timeout_sets_a_far_deadline(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "STUCK")
    with pytest.raises(TaskDeferred) as deferred:
        start(deferrable=True).execute(task_context())
    assert deferred.value.trigger.serialize()[1]["end_time"] > time.time() + 5 * 365 * 24 * 3600


def test_deferrable_does_not_defer_a_run_that_ended(emulator: EmulatorProcess, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0)
    result = start(deferrable=True).execute(task_context())
    assert result["status"] == "SUCCEEDED"


def test_a_timeout_event_stops_the_run(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "STUCK")
    run = RunRef.of(hook.start_job(job), emulator.cluster_id)
    event = {"status": "timeout", "run": run.to_json(), "submission": None, "message": "deadline passed"}
    with pytest.raises(CdmJobTimeoutError, match=r"after [0-9.]+ s \(timeout 60 s\); stopped the CDM job"):
        start(timeout=60).execute_complete(task_context(), event, run=run.to_json(), started_at=time.time() - 61)
    assert runs(emulator)[0]["stopped"] is True


# --- create and start --------------------------------------------------------------------------------


def test_create_and_start_runs_in_the_cluster_that_took_the_job(emulator: EmulatorProcess, hook: CdmHook) -> None:
    clusters = [c.id for c in hook.list_clusters() if c.status is not None and c.status.can_run_jobs]
    assert len(clusters) == 2
    emulator.script_job("orders_once", "SUCCEEDED", duration_s=0.3)
    ti = RecordingTI()
    operator = CdmCreateAndStartJobOperator(
        task_id="copy",
        job=job_definition("orders_once"),
        clusters=clusters,
        variables={"date": "2026-11-22"},
        poll_interval=FAST,
    )
    result = operator.execute(task_context(ti))
    assert result["cluster_id"] in clusters and result["status"] == "SUCCEEDED"
    assert ti.xcom["submission_id"] == result["submission_id"]
    stored = hook.get_job("orders_once", result["cluster_id"]).definition()
    where = {i["name"]: i["value"] for c in stored["from-config-values"]["configs"] for i in c["inputs"]}
    assert where["fromJobConfig.whereClause"] == "order_date = '2026-11-22'"
    assert emulator.stats()["starts"] == {"orders_once": 1}


def test_create_and_start_defers_and_fails_like_the_start_operator(emulator: EmulatorProcess) -> None:
    emulator.script_job("orders_once", "STUCK", count=1)
    with pytest.raises(TaskDeferred) as deferred:
        CdmCreateAndStartJobOperator(task_id="copy", job=job_definition("orders_once"), deferrable=True).execute(
            task_context()
        )
    assert deferred.value.trigger.serialize()[1]["run"]["cluster_id"] == emulator.cluster_id
    emulator.script_job("orders_twice", "FAILED", duration_s=0.2, error_summary="disk full")
    with pytest.raises(CdmJobFailedError, match="error summary: disk full"):
        CdmCreateAndStartJobOperator(task_id="copy", job=job_definition("orders_twice"), poll_interval=FAST).execute(
            task_context()
        )


def test_a_retried_create_and_start_attaches_to_the_active_run_of_its_own_job(emulator: EmulatorProcess) -> None:
    emulator.script_job("orders_once", "SUCCEEDED", duration_s=0.8)

    def copy(**kwargs: Any) -> CdmCreateAndStartJobOperator:
        return CdmCreateAndStartJobOperator(
            task_id="copy", job=job_definition("orders_once"), poll_interval=FAST, **kwargs
        )

    first_try = copy(wait_for_completion=False).execute(task_context())  # then the worker died
    retry = copy().execute(task_context())  # CDM answers "job exists": the retry attaches
    assert (retry["submission_id"], retry["status"]) == (first_try["submission_id"], "SUCCEEDED")
    assert emulator.stats()["starts"] == {"orders_once": 1}
    with pytest.raises(AirflowException, match="Cdm.0104"):  # a finished run is never taken as this task's
        copy().execute(task_context())
    assert emulator.stats()["starts"] == {"orders_once": 1}


# --- create ------------------------------------------------------------------------------------------


def table_of(hook: CdmHook, name: str) -> str:
    definition = hook.get_job(name).definition()
    return {i["name"]: i["value"] for c in definition["from-config-values"]["configs"] for i in c["inputs"]}[
        "fromJobConfig.tableName"
    ]


def test_create_if_exists_fail_and_skip(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    newer = job_definition(JOB, table="orders_v2")
    with pytest.raises(AirflowException, match=rf"CDM job '{JOB}' exists in cluster .*if_exists='fail'.*Cdm.0104"):
        CdmCreateJobOperator(task_id="create", job=newer).execute(task_context())
    assert CdmCreateJobOperator(task_id="create", job=newer, if_exists="skip").execute(task_context()) == JOB
    assert table_of(hook, JOB) == "orders"


def test_create_if_exists_update(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    newer = job_definition(JOB, table="orders_v2")
    assert CdmCreateJobOperator(task_id="create", job=newer, if_exists="update").execute(task_context()) == JOB
    assert table_of(hook, JOB) == "orders_v2"
    assert operations(emulator)["update_job"] == 1


def test_create_if_exists_replace_stops_a_running_job_first(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "STUCK")
    hook.start_job(job)
    newer = job_definition(JOB, table="orders_v2")
    assert CdmCreateJobOperator(task_id="create", job=newer, if_exists="replace").execute(task_context()) == JOB
    assert table_of(hook, JOB) == "orders_v2"
    assert runs(emulator) == []  # a new job: no run history
    assert operations(emulator)["stop_job"] == 1 and emulator.stats()["creates"] == {JOB: 2}


def test_create_a_new_job(emulator: EmulatorProcess, hook: CdmHook) -> None:
    assert (
        CdmCreateJobOperator(task_id="create", job=job_definition("fresh"), if_exists="replace").execute(task_context())
        == "fresh"
    )
    assert hook.get_job("fresh").name == "fresh"
    assert "delete_job" not in operations(emulator)


# --- stop and delete ---------------------------------------------------------------------------------


def test_stop_of_an_idle_job_is_fine(emulator: EmulatorProcess, job: str) -> None:
    assert CdmStopJobOperator(task_id="stop", job_name=job).execute(task_context()) is False


def test_stop_ends_the_active_run(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "STUCK")
    hook.start_job(job)
    assert CdmStopJobOperator(task_id="stop", job_name=job).execute(task_context()) is True
    assert (runs(emulator)[0]["stopped"], runs(emulator)[0]["status"]) == (True, "FAILED")


def test_stop_of_a_missing_job(emulator: EmulatorProcess) -> None:
    with pytest.raises(CdmJobNotFoundError):
        CdmStopJobOperator(task_id="stop", job_name="missing").execute(task_context())
    assert CdmStopJobOperator(task_id="stop", job_name="missing", ignore_missing=True).execute(task_context()) is False


def test_delete_stops_a_running_job_first(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "STUCK")
    hook.start_job(job)
    assert CdmDeleteJobOperator(task_id="delete", job_name=job).execute(task_context()) is True
    with pytest.raises(CdmJobNotFoundError):
        hook.get_job(job)
    assert operations(emulator)["stop_job"] == 1


def test_delete_without_stop_if_running_refuses(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "STUCK")
    hook.start_job(job)
    with pytest.raises(AirflowException, match=r"is running; not stopped \(stop_if_running=False\)"):
        CdmDeleteJobOperator(task_id="delete", job_name=job, stop_if_running=False).execute(task_context())
    assert hook.get_job(job).name == job and runs(emulator)[0]["stopped"] is False


def test_delete_of_a_missing_job(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    assert CdmDeleteJobOperator(task_id="delete", job_name=job).execute(task_context()) is True
    with pytest.raises(CdmJobNotFoundError):
        CdmDeleteJobOperator(task_id="delete", job_name=job).execute(task_context())
    assert CdmDeleteJobOperator(task_id="delete", job_name=job, ignore_missing=True).execute(task_context()) is False


# --- the sensor --------------------------------------------------------------------------------------


def sensor(**kwargs: Any) -> CdmJobStatusSensor:
    return CdmJobStatusSensor(**{"task_id": "wait", "job_name": JOB, "poke_interval": FAST, "timeout": 10, **kwargs})


def test_sensor_returns_the_run_when_it_succeeds(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0.3)
    hook.start_job(job)
    value = sensor().execute(task_context())
    assert (value["submission_id"], value["status"]) == (run_id(emulator), "SUCCEEDED")
    assert value["counters"]["ROWS_WRITTEN"] > 0


@pytest.mark.parametrize("outcome", ["FAILED", "UNKNOWN"])
def test_sensor_fails_fast_with_cdms_error(emulator: EmulatorProcess, hook: CdmHook, job: str, outcome: str) -> None:
    emulator.script_job(job, outcome, duration_s=0.2, error_summary="Connection to pg_sales refused")
    hook.start_job(job)
    began = time.monotonic()
    with pytest.raises(CdmJobFailedError, match=f"ended with status {outcome}") as raised:
        sensor(timeout=60).execute(task_context())
    assert time.monotonic() - began < 5
    if outcome == "FAILED":
        assert "error summary: Connection to pg_sales refused" in str(raised.value)


def test_sensor_soft_fail_skips_a_failed_run(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "FAILED", duration_s=0, error_summary="disk full")
    hook.start_job(job)
    with pytest.raises(AirflowSkipException, match="disk full"):
        sensor(soft_fail=True).execute(task_context())


def test_sensor_bound_to_a_run_reads_it_from_the_history(emulator: EmulatorProcess, hook: CdmHook, job: str) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0, count=1)
    hook.start_job(job)
    first = run_id(emulator)
    emulator.script_job(job, "STUCK")
    hook.start_job(job)  # CDM's latest run is now another one
    value = sensor(submission_id=str(first)).execute(task_context())
    assert (value["submission_id"], value["status"]) == (first, "SUCCEEDED")
    assert operations(emulator)["list_submissions"] >= 1
    assert sensor().poke(task_context()) is False  # the latest run still runs


def test_deferrable_sensor_defers_with_its_timeout_as_deadline(
    emulator: EmulatorProcess, hook: CdmHook, job: str
) -> None:
    emulator.script_job(job, "STUCK")
    hook.start_job(job)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(deferrable=True, timeout=3600, poke_interval=5).execute(task_context())
    kwargs = deferred.value.trigger.serialize()[1]
    assert json.loads(json.dumps(kwargs)) == kwargs
    watched = RunRef.from_json(kwargs["run"])
    assert (watched.job_name, watched.cluster_id, watched.submission_id) == (job, emulator.cluster_id, None)
    assert abs(kwargs["end_time"] - (time.time() + 3600)) < 5
    assert (kwargs["poll_interval"], kwargs["stop_on_kill"]) == (5.0, False)
    assert deferred.value.timeout is None


def test_deferrable_sensor_returns_at_once_when_the_run_ended(
    emulator: EmulatorProcess, hook: CdmHook, job: str
) -> None:
    emulator.script_job(job, "SUCCEEDED", duration_s=0)
    hook.start_job(job)
    assert sensor(deferrable=True).execute(task_context())["status"] == "SUCCEEDED"
