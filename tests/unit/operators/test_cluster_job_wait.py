"""The start operators' opt-in wait for a running cluster (``wait_for_cluster``), against an in-process emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmStartJobOperator
from airflow_provider_cdm.operators.cluster import CdmClusterFailedError, CdmClusterTimeoutError
from tests.clusters import RUNNING, STOPPED, afresh, cluster_emulator
from tests.jobs import job_definition
from tests.triggering import run_trigger
from tests.unit.operators.helpers import RecordingTI, task_context

RUNNING_2 = "c0000000-0000-4000-8000-000000000002"
FAST: dict[str, Any] = {"poll_interval": 0.05, "hook_params": {"retry_policy": {"max_attempts": 2}}}


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    yield from cluster_emulator("--job-duration", "0.2")


@pytest.fixture
def emu(emulator_thread: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    return afresh(emulator_thread, monkeypatch)


def requests(emu: EmulatorThread, operation: str) -> int:
    return sum(emu.stats()["requests"].get(operation, {}).values())


def start_task(cluster_id: str, **kwargs: Any) -> CdmStartJobOperator:
    return CdmStartJobOperator(task_id="migrate", job_name="orders", cluster_id=cluster_id, **{**FAST, **kwargs})


def test_a_normal_cluster_costs_one_show_cluster_call(emu: EmulatorThread) -> None:
    CdmHook().create_job(job_definition("orders"), RUNNING)
    result = start_task(RUNNING, wait_for_cluster=True).execute(task_context())
    assert result["status"] == "SUCCEEDED"
    assert requests(emu, "show_cluster") == 1


def test_without_the_wait_a_stopped_cluster_refuses_the_start(emu: EmulatorThread) -> None:
    CdmHook().create_job(job_definition("orders"), STOPPED)
    with pytest.raises(CdmApiError, match="Cdm.0037"):
        start_task(STOPPED).execute(task_context())
    assert requests(emu, "show_cluster") == 0  # the default costs nothing


def test_a_starting_cluster_is_waited_for_then_the_job_starts(emu: EmulatorThread) -> None:
    hook = CdmHook()
    hook.create_job(job_definition("orders"), STOPPED)
    hook.start_cluster(STOPPED)  # e.g. a start-cluster task upstream that did not wait
    result = start_task(STOPPED, wait_for_cluster=True).execute(task_context())
    assert result["status"] == "SUCCEEDED" and result["cluster_id"] == STOPPED
    assert requests(emu, "show_cluster") >= 2 and emu.stats()["starts"] == {"orders": 1}


def test_a_cluster_that_stays_stopped_times_out_without_starting_the_job(emu: EmulatorThread) -> None:
    CdmHook().create_job(job_definition("orders"), STOPPED)
    with pytest.raises(CdmClusterTimeoutError) as caught:
        start_task(STOPPED, wait_for_cluster=True, cluster_timeout=0.3).execute(task_context())
    assert str(caught.value) == (
        f"the job was not started: cluster cdm-emulator-stopped ({STOPPED}) was still Stopped (900) when "
        "cluster_timeout 0.3 s ran out"
    )
    assert requests(emu, "start_job") == 0


def test_a_frozen_cluster_fails_at_once(emu: EmulatorThread) -> None:
    emu.set_cluster_status(RUNNING, "800")
    with pytest.raises(CdmClusterFailedError, match=r"is frozen \(800\)"):
        start_task(RUNNING, wait_for_cluster=True, deferrable=True).execute(task_context())
    assert requests(emu, "show_cluster") == 1 and requests(emu, "start_job") == 0


def test_create_and_start_waits_until_any_candidate_runs(emu: EmulatorThread) -> None:
    emu.set_cluster_status(RUNNING, "300")  # failed: the other candidate may still start
    CdmHook().start_cluster(STOPPED)
    task = CdmCreateAndStartJobOperator(
        task_id="copy", job=job_definition("snapshot"), clusters=[RUNNING, STOPPED], wait_for_cluster=True, **FAST
    )
    result = task.execute(task_context())
    assert result["status"] == "SUCCEEDED" and result["cluster_id"] == STOPPED


def test_create_and_start_fails_when_every_candidate_failed(emu: EmulatorThread) -> None:
    emu.set_cluster_status(RUNNING, "300")
    emu.set_cluster_status(RUNNING_2, "800")
    task = CdmCreateAndStartJobOperator(
        task_id="copy", job=job_definition("snapshot"), clusters=[RUNNING, RUNNING_2], wait_for_cluster=True, **FAST
    )
    with pytest.raises(CdmClusterFailedError, match=r"(?s)failed \(300\).*frozen \(800\)"):
        task.execute(task_context())
    assert requests(emu, "create_and_start_job") == 0


def test_deferrable_waits_in_the_trigger_then_starts_the_job_and_defers_on_it(emu: EmulatorThread) -> None:
    hook = CdmHook()
    hook.create_job(job_definition("orders"), STOPPED)
    hook.start_cluster(STOPPED)
    ti = RecordingTI()
    task = start_task(STOPPED, wait_for_cluster=True, deferrable=True, cluster_timeout=60)
    with pytest.raises(TaskDeferred) as for_cluster:
        task.execute(task_context(ti))
    assert for_cluster.value.method_name == "execute_after_cluster"
    trigger = for_cluster.value.trigger
    assert type(trigger).__name__ == "CdmClusterStatusTrigger" and requests(emu, "start_job") == 0

    event = asyncio.run(run_trigger(trigger))
    assert event["status"] == "success"
    with pytest.raises(TaskDeferred) as for_job:
        task.execute_after_cluster(task_context(ti), event, **(for_cluster.value.kwargs or {}))
    assert for_job.value.method_name == "execute_complete"
    assert emu.stats()["starts"] == {"orders": 1}


def test_the_trigger_timing_out_fails_the_task_without_starting_the_job(emu: EmulatorThread) -> None:
    task = start_task(STOPPED, wait_for_cluster=True, cluster_timeout=120)
    event = {
        "status": "timeout",
        "cluster_ids": [STOPPED],
        "cluster_id": None,
        "clusters": [{"id": STOPPED, "name": "cdm-emulator-stopped", "status": "900"}],
        "message": "not there",
    }
    with pytest.raises(CdmClusterTimeoutError, match=r"was still Stopped \(900\) when cluster_timeout 120 s ran out"):
        task.execute_after_cluster(task_context(), event, cluster_ids=[STOPPED])
    assert requests(emu, "start_job") == 0


def test_cluster_timeout_is_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match=r"^cluster_timeout=0 is not valid"):
        CdmStartJobOperator(task_id="t", job_name="orders", cluster_timeout=0)


def test_airflow_giving_up_on_the_cluster_wait_looks_for_no_run_to_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """``__fail__`` after the cluster trigger (no job started, no ``cdm_run`` XCom): no stop is attempted (the
    start operator's own handling would look for the run and warn); after the job's trigger it still is."""
    from airflow_provider_cdm.operators import _waiting

    looked: list[object] = []
    monkeypatch.setattr(_waiting, "deferred_run", lambda context, run: looked.append(run) or _waiting.RunRef("j", "c"))
    monkeypatch.setattr(CdmStartJobOperator, "on_kill", lambda self: None)
    task = start_task(STOPPED, wait_for_cluster=True)
    ti = RecordingTI()
    with pytest.raises(Exception, match="[Tt]imeout|[Dd]eferr"):  # Airflow's own error for a trigger given up on
        task.resume_execution("__fail__", {"error": "Trigger timeout"}, task_context(ti))
    assert looked == []
    ti.xcom[_waiting.RUN_KEY] = {"job_name": "orders", "cluster_id": STOPPED, "submission_id": 1}
    with pytest.raises(Exception, match="[Tt]imeout|[Dd]eferr"):
        task.resume_execution("__fail__", {"error": "Trigger timeout"}, task_context(ti))
    assert looked == [None]
