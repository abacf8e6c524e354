"""Process faults against the emulator: a task that times out, a triggerer that restarts, a task retried
after its worker died, checked through what CDM saw (starts, stops, run states).

Covered elsewhere, not repeated here (``test_operators_emulator.py``): ``on_kill`` from another thread
while execute polls (``test_on_kill_stops_the_run_the_task_started``), a retry of a polling task whose
first try died after the start answered (``test_a_retried_task_attaches_to_the_run_its_first_try_started``,
and its create-and-start twin), a timeout event handed to ``execute_complete``
(``test_a_timeout_event_stops_the_run``); and in ``test_trigger_emulator.py`` a trigger rebuilt from its
serialized form (``test_a_rebuilt_trigger_resumes_the_run_with_exactly_one_start``).

Airflow's own code runs the timeouts: ``execution_timeout`` goes through the task runner's execute
wrapper of each line (it raises ``AirflowTaskTimeout`` inside ``execute`` by SIGALRM, then calls the
task's ``on_kill``: ``airflow.sdk.execution_time.task_runner._run_execute_callable`` on Airflow 3,
``airflow.models.taskinstance._execute_task`` on 2.11), and a deferred task's trigger timeout comes
back through the operator's ``resume_execution`` as Airflow's scheduler sends it (``__fail__``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_cdm.emulator.faults import FaultPlan
from airflow_provider_cdm.emulator.testing import EmulatorHandle, EmulatorProcess, EmulatorThread, emulator_in_thread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmJobFailedError,
    CdmJobTimeoutError,
    CdmStartJobOperator,
)
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.jobs import job_definition
from tests.triggering import run_trigger
from tests.unit.operators.helpers import RecordingTI, task_context
from tests.unit.triggers.helpers import ScriptedFaults

pytestmark = pytest.mark.integration

JOB = "orders_daily"
FAST = 0.05  # poll interval: the emulator's runs last tenths of a second
# A retry that waits long after the first failed attempt: the task is interrupted while it waits.
SLOW_RETRY = {"retry_policy": {"initial_backoff_s": 30, "max_backoff_s": 30, "jitter": False}}


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Iterator[CdmHook]:
    cdm = CdmHook()
    yield cdm
    cdm.close()


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    """An emulator on a thread of this process, for faults scripted request by request."""
    with emulator_in_thread("--job-duration", "0.6") as running:
        yield running


@pytest.fixture
def threaded(emulator_thread: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    emulator_thread.reset()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", emulator_thread.connection_json)
    return emulator_thread


@pytest.fixture
def faults(threaded: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> ScriptedFaults:
    return ScriptedFaults(threaded, monkeypatch)


def create(emulator: EmulatorHandle, outcome: str, **script: Any) -> None:
    emulator.script_job(JOB, outcome, **script)
    hook = CdmHook()
    try:
        hook.create_job(job_definition(JOB))
    finally:
        hook.close()


def start(**kwargs: Any) -> CdmStartJobOperator:
    return CdmStartJobOperator(**{"task_id": "migrate", "job_name": JOB, "poll_interval": FAST, **kwargs})


def runs(emulator: EmulatorHandle, job_name: str = JOB) -> list[dict[str, Any]]:
    """The job's runs as the emulator's admin view shows them (oldest first)."""
    jobs = [job for cluster in emulator.state()["clusters"] for job in cluster["jobs"]]
    return [run for job in jobs if job["name"] == job_name for run in job["runs"]]


def operations(emulator: EmulatorHandle) -> dict[str, int]:
    return {name: sum(codes.values()) for name, codes in emulator.stats()["requests"].items()}


def run_with_execution_timeout(operator: Any, context: dict[str, Any]) -> Any:
    """``operator.execute`` as Airflow's task runner runs it when ``execution_timeout`` is set."""
    try:
        from airflow.sdk.execution_time.task_runner import _run_execute_callable  # Airflow 3
    except ImportError:  # Airflow 2.11
        from airflow.models.taskinstance import _execute_task

        ti = SimpleNamespace(task=operator, next_method=None, next_kwargs=None, start_date=None)
        return _execute_task(ti, context, operator)
    return _run_execute_callable(context, operator.execute, operator)


def task_timeout_error() -> type[BaseException]:
    try:
        from airflow.sdk.exceptions import AirflowTaskTimeout  # Airflow 3
    except ImportError:  # Airflow 2.11
        from airflow.exceptions import AirflowTaskTimeout  # type: ignore[no-redef,attr-defined,unused-ignore]
    return AirflowTaskTimeout


def trigger_timeout_reason() -> str:
    """What Airflow's scheduler puts in ``next_kwargs["error"]`` when a deferred task's trigger times out."""
    try:
        from airflow.sdk.bases.operator import TriggerFailureReason  # Airflow 3
    except ImportError:  # Airflow 2.11: airflow.jobs.scheduler_job_runner.check_trigger_timeouts
        return "Trigger/execution timeout"
    return str(TriggerFailureReason.TRIGGER_TIMEOUT.value)


def rebuilt(trigger: CdmJobStatusTrigger) -> CdmJobStatusTrigger:
    """The trigger as a (restarted) triggerer builds it: from its serialized classpath and JSON kwargs."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger"
    return CdmJobStatusTrigger(**json.loads(json.dumps(kwargs)))


def resume(deferred: TaskDeferred, operator: Any, ti: RecordingTI, event: dict[str, Any]) -> Any:
    """The method the task deferred to, on a new instance of it (a resumed task runs in a new process)."""
    return getattr(operator, deferred.method_name)(task_context(ti), event=event, **(deferred.kwargs or {}))


# --- a task-level execution_timeout ----------------------------------------------------------------------


def test_execution_timeout_while_polling_stops_the_run(emulator: EmulatorProcess) -> None:
    create(emulator, "STUCK")
    operator = start(execution_timeout=timedelta(seconds=1))
    began = time.monotonic()
    with pytest.raises(task_timeout_error()):
        run_with_execution_timeout(operator, task_context())  # Airflow calls on_kill, then re-raises
    assert time.monotonic() - began < 10
    (run,) = runs(emulator)
    assert (run["stopped"], run["status"]) == (True, "FAILED")
    assert emulator.stats()["starts"] == {JOB: 1}


@pytest.mark.parametrize("kind", ["start", "create_and_start"])
def test_execution_timeout_before_the_start_answered_stops_the_run(
    threaded: EmulatorThread, faults: ScriptedFaults, kind: str
) -> None:
    """The start reached CDM but its answer was lost; the task times out while it waits to retry.

    The task does not know the run yet, only when it asked for it: on_kill stops the job's active run
    that began after that (and no other run: there was none when the task asked)."""
    if kind == "start":
        create(threaded, "STUCK")
        operator: Any = start(execution_timeout=timedelta(seconds=1), hook_params=SLOW_RETRY)
        faults.queue(FaultPlan(reset="after"))  # the start is the first call: done by CDM, its answer lost
    else:
        threaded.script_job(JOB, "STUCK")
        operator = CdmCreateAndStartJobOperator(
            task_id="copy",
            job=job_definition(JOB),
            clusters=[threaded.cluster_id],
            poll_interval=FAST,
            execution_timeout=timedelta(seconds=1),
            hook_params=SLOW_RETRY,
        )
        faults.queue(FaultPlan(reset="after"))  # create-and-execute done, answer lost
    with pytest.raises(task_timeout_error()):
        run_with_execution_timeout(operator, task_context())
    (run,) = runs(threaded)
    assert (run["stopped"], run["status"]) == (True, "FAILED")
    assert threaded.stats()["starts"] == {JOB: 1}


# --- deferred: the trigger's deadline, Airflow's trigger timeout ---------------------------------------------


def test_a_deferred_task_times_out_at_its_deadline_and_stops_the_run(emulator: EmulatorProcess) -> None:
    create(emulator, "STUCK")
    ti = RecordingTI()
    with pytest.raises(TaskDeferred) as deferred:
        start(deferrable=True, timeout=1.5, poll_interval=0.2).execute(task_context(ti))
    event = asyncio.run(run_trigger(rebuilt(deferred.value.trigger)))
    assert event["status"] == "timeout" and event["submission"]["status"] == "RUNNING"
    with pytest.raises(CdmJobTimeoutError) as raised:
        resume(deferred.value, start(deferrable=True, timeout=1.5), ti, event)
    assert raised.value.stopped is True and raised.value.elapsed_s >= 1.5
    (run,) = runs(emulator)
    assert (run["stopped"], run["status"]) == (True, "FAILED")
    assert emulator.stats()["starts"] == {JOB: 1}


def test_airflow_failing_a_deferred_task_stops_the_run(emulator: EmulatorProcess) -> None:
    """Airflow's trigger timeout (``execution_timeout`` of a deferred task on Airflow 2.x) or a trigger
    that failed: the scheduler resumes the task with ``__fail__`` instead of the trigger's event."""
    create(emulator, "STUCK")
    ti = RecordingTI()
    with pytest.raises(TaskDeferred):
        start(deferrable=True, execution_timeout=timedelta(seconds=1)).execute(task_context(ti))
    resumed = start(deferrable=True, execution_timeout=timedelta(seconds=1))
    error = trigger_timeout_reason()
    with pytest.raises(Exception, match=error):
        resumed.resume_execution("__fail__", {"error": error}, task_context(ti))
    (run,) = runs(emulator)
    assert (run["stopped"], run["status"]) == (True, "FAILED")


# --- a triggerer restart, a task retried after its worker died ----------------------------------------------


def test_a_restarted_triggerer_resumes_the_run_without_a_new_start(emulator: EmulatorProcess) -> None:
    """The triggerer dies while a status read is under way; another one rebuilds the trigger."""
    create(emulator, "SUCCEEDED", duration_s=2.0)
    ti = RecordingTI()
    with pytest.raises(TaskDeferred) as deferred:
        start(deferrable=True, poll_interval=0.1, timeout=600).execute(task_context(ti))
    emulator.set_faults(latency_s=1.0)  # every answer takes a second: the restart comes mid-request

    async def killed_mid_request() -> None:
        watching = asyncio.ensure_future(run_trigger(rebuilt(deferred.value.trigger)))
        deadline = time.monotonic() + 30
        while not emulator.stats()["faults"].get("latency") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # until the emulator holds one of its requests
        await asyncio.sleep(0.2)
        watching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watching

    asyncio.run(killed_mid_request())  # the first triggerer's event loop, gone
    emulator.clear_faults()
    event = asyncio.run(run_trigger(rebuilt(deferred.value.trigger)))  # the next triggerer's
    result = resume(deferred.value, start(deferrable=True), ti, event)
    assert (result["status"], result["submission_id"]) == ("SUCCEEDED", runs(emulator)[0]["submission_id"])
    assert emulator.stats()["starts"] == {JOB: 1}
    assert "stop_job" not in operations(emulator)


def test_a_retried_deferrable_task_attaches_to_the_run_its_first_try_started(emulator: EmulatorProcess) -> None:
    """The first try deferred, then its task was lost (worker and trigger gone); the retry attaches."""
    create(emulator, "SUCCEEDED", duration_s=1.5)
    with pytest.raises(TaskDeferred) as first:
        start(deferrable=True, poll_interval=0.1).execute(task_context(RecordingTI()))
    ti = RecordingTI()  # the retry: a new try, nothing of the first one's state
    with pytest.raises(TaskDeferred) as second:
        start(deferrable=True, poll_interval=0.1).execute(task_context(ti))
    assert second.value.kwargs["run"] == first.value.kwargs["run"]
    event = asyncio.run(run_trigger(rebuilt(second.value.trigger)))
    result = resume(second.value, start(deferrable=True), ti, event)
    (only,) = emulator.runs(JOB)
    assert (result["status"], result["submission_id"]) == ("SUCCEEDED", only["submission_id"])
    assert emulator.stats()["starts"] == {JOB: 1}


@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
def test_a_retry_after_a_crash_mid_start_attaches(
    threaded: EmulatorThread, faults: ScriptedFaults, deferrable: bool
) -> None:
    """The first try's start reached CDM and the worker died before the answer came back (here: the
    answer is lost and the try has no retries left); the task's retry attaches to that run."""
    create(threaded, "SUCCEEDED", duration_s=1.5)
    faults.queue(FaultPlan(reset="after"))  # the start is the first call: done by CDM, its answer lost
    with pytest.raises(Exception, match="Connection to CDM lost"):
        start(hook_params={"retry_policy": {"max_attempts": 1}}).execute(task_context())
    assert threaded.stats()["starts"] == {JOB: 1}
    ti = RecordingTI()
    retry = start(deferrable=deferrable, poll_interval=0.1)
    try:
        result = retry.execute(task_context(ti))
    except TaskDeferred as deferred:
        event = asyncio.run(run_trigger(rebuilt(deferred.trigger)))
        result = resume(deferred, start(deferrable=True), ti, event)
    (run,) = runs(threaded)
    assert (result["status"], result["submission_id"]) == ("SUCCEEDED", run["submission_id"])
    assert threaded.stats()["starts"] == {JOB: 1}


def test_a_failed_run_adopted_by_a_retry_is_reported_as_failed(
    threaded: EmulatorThread, faults: ScriptedFaults
) -> None:
    """The same crash, but the run fails: the retry reports CDM's failure, never starts again."""
    create(threaded, "FAILED", duration_s=1.0, error_summary="disk full")
    faults.queue(FaultPlan(reset="after"))
    with pytest.raises(Exception, match="Connection to CDM lost"):
        start(hook_params={"retry_policy": {"max_attempts": 1}}).execute(task_context())
    with pytest.raises(CdmJobFailedError, match="error summary: disk full"):
        start().execute(task_context())
    assert threaded.stats()["starts"] == {JOB: 1}
