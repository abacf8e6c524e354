"""CdmClusterStatusSensor against an in-process emulator: targets as codes, names or members, failures
(and soft_fail), Airflow's timeout, reschedule's brief retries, and the deferrable path through the trigger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cluster import CdmClusterFailedError
from airflow_provider_cdm.sensors.cluster import RESCHEDULE_THROTTLED_S, CdmClusterStatusSensor
from tests.clusters import RUNNING, STOPPED, afresh, cluster_emulator
from tests.triggering import run_trigger
from tests.unit.operators.helpers import task_context

FAST_RETRY = {"max_attempts": 2, "initial_backoff_s": 0.01}


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    yield from cluster_emulator()


@pytest.fixture
def emu(emulator_thread: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    return afresh(emulator_thread, monkeypatch)


def sensor(**kwargs: Any) -> CdmClusterStatusSensor:
    values: dict[str, Any] = {
        "task_id": "wait_for_cluster",
        "poke_interval": 0.05,
        "timeout": 10,
        "hook_params": {"retry_policy": FAST_RETRY},
    }
    values.update(kwargs)
    return CdmClusterStatusSensor(**values)


def test_it_waits_until_the_cluster_is_normal(emu: EmulatorThread) -> None:
    CdmHook().start_cluster(STOPPED)
    result = sensor(cluster_id=STOPPED).execute(task_context())
    assert (result["cluster_id"], result["status"], result["status_label"]) == (STOPPED, "200", "Normal")
    assert result["action"] is None and result["waited_s"] >= 0.2
    assert sum(emu.stats()["requests"]["show_cluster"].values()) >= 3  # 920, ..., 200


@pytest.mark.parametrize("targets", [["STOPPED"], [900], "900", [ClusterStatus.STOPPED], ["stopped", "910"]])
def test_targets_may_be_names_codes_or_members(emu: EmulatorThread, targets: Any) -> None:
    CdmHook().stop_cluster(RUNNING)
    result = sensor(target_statuses=targets).execute(task_context())  # the connection's cluster
    assert result["cluster_id"] == RUNNING and result["status"] in ("900", "910")


def test_a_cluster_that_is_there_already_is_one_read(emu: EmulatorThread) -> None:
    assert sensor(cluster_id=STOPPED, target_statuses=["STOPPED"]).execute(task_context())["status"] == "900"
    assert emu.stats()["requests"]["show_cluster"] == {"200": 1}


def test_a_failed_cluster_fails_at_once_or_skips_with_soft_fail(emu: EmulatorThread) -> None:
    emu.set_cluster_status(STOPPED, "300")
    with pytest.raises(CdmClusterFailedError, match=r"^cluster cdm-emulator-stopped \(.*\) failed \(300\)"):
        sensor(cluster_id=STOPPED).execute(task_context())
    with pytest.raises(AirflowSkipException, match=r"^Skipped \(soft_fail\): cluster .* failed \(300\)"):
        sensor(cluster_id=STOPPED, soft_fail=True).execute(task_context())
    # Named as a target, 300 is what the user waits for.
    assert sensor(cluster_id=STOPPED, target_statuses=["FAILED"]).execute(task_context())["status"] == "300"


def test_a_status_in_neither_set_waits_until_airflows_timeout(emu: EmulatorThread) -> None:
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        sensor(cluster_id=STOPPED, timeout=0.3).execute(task_context())
    with pytest.raises(AirflowSkipException):
        sensor(cluster_id=STOPPED, timeout=0.3, soft_fail=True).execute(task_context())
    assert time.monotonic() - started < 5


def test_statuses_are_checked_when_the_dag_is_parsed_naming_the_value() -> None:
    with pytest.raises(CdmConfigError, match=r"^target_statuses: 'RUNNING' is not a CDM cluster status"):
        sensor(target_statuses=["NORMAL", "RUNNING"])
    with pytest.raises(CdmConfigError, match=r"^failure_statuses: \['200'\] are target statuses too"):
        sensor(failure_statuses=[200])
    assert sensor(target_statuses=[ClusterStatus.NORMAL, "stopped"]).target_statuses == ["200", "900"]


def test_a_rescheduling_poke_retries_throttling_only_briefly(emu: EmulatorThread) -> None:
    rescheduling = sensor(cluster_id=STOPPED, mode="reschedule", hook_params={"retry_policy": {"throttled_s": 300}})
    assert rescheduling.brief_hook.settings.retry.throttled_s == RESCHEDULE_THROTTLED_S
    assert rescheduling.poke(task_context()) is False  # Stopped: not yet


def test_deferrable_defers_to_the_trigger_and_returns_its_cluster(emu: EmulatorThread) -> None:
    CdmHook().start_cluster(STOPPED)
    waiting = sensor(cluster_id=STOPPED, deferrable=True, poke_interval=0.1, timeout=30)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(task_context())
    trigger, kwargs = deferred.value.trigger, deferred.value.kwargs or {}
    _, trigger_kwargs = trigger.serialize()
    assert trigger_kwargs["poll_interval"] == 1.0  # a trigger polls at most once a second for a sensor
    trigger_kwargs["poll_interval"] = 0.05
    rebuilt = type(trigger)(**trigger_kwargs)

    result = waiting.execute_complete(task_context(), asyncio.run(run_trigger(rebuilt)), **kwargs)
    assert result["status"] == "200" and result["waited_s"] > 0


def test_execute_complete_turns_the_events_into_results_and_errors() -> None:
    clusters = [{"id": STOPPED, "name": "nightly", "status": "920"}]
    base = {"cluster_ids": [STOPPED], "cluster_id": None, "clusters": clusters, "message": "m"}
    timeout = {**base, "status": "timeout"}
    with pytest.raises(AirflowSensorTimeout, match=r"was still Starting \(920\) when the sensor's timeout ran out"):
        sensor(cluster_id=STOPPED).execute_complete(task_context(), timeout, cluster_id=STOPPED)
    with pytest.raises(AirflowSkipException):
        sensor(cluster_id=STOPPED, soft_fail=True).execute_complete(task_context(), timeout, cluster_id=STOPPED)
    with pytest.raises(CdmClusterFailedError, match="broken"):
        failed = {**base, "status": "failed", "message": "broken"}
        sensor(cluster_id=STOPPED).execute_complete(task_context(), failed, cluster_id=STOPPED)
    with pytest.raises(AirflowException, match="Waiting for cluster .* failed: Cdm.0001"):
        error = {**base, "status": "error", "message": "Cdm.0001"}
        sensor(cluster_id=STOPPED).execute_complete(task_context(), error, cluster_id=STOPPED)
    with pytest.raises(AirflowException, match="is about clusters"):
        sensor(cluster_id=STOPPED).execute_complete(task_context(), {**base, "status": "success"}, cluster_id=RUNNING)
