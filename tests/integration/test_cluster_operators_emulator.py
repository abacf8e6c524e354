"""The cluster operators and sensor under ``dag.test()`` against an emulator process: a stopped cluster started,
watched, restarted and stopped again (polling and deferred), and a failed start and a timed-out one failing
their tasks with the words a person reads in the log.

The module has its own emulator (cluster actions take 0.5 s), so that the session's clusters keep their
statuses. Every test that runs a DAG takes ``capfd`` (see ``test_example_nightly_window.py``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_cdm._dag_test import run_dag
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters
from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator
from airflow_provider_cdm.operators.cluster import (
    CdmRestartClusterOperator,
    CdmStartClusterOperator,
    CdmStopClusterOperator,
)
from airflow_provider_cdm.sensors.cluster import CdmClusterStatusSensor

pytestmark = pytest.mark.integration

RUNNING = "c0000000-0000-4000-8000-000000000001"
RUNNING_2 = "c0000000-0000-4000-8000-000000000002"
STOPPED = "c0000000-0000-4000-8000-000000000009"
POLL_S = 0.2


@pytest.fixture(scope="module")
def cluster_emulator() -> Iterator[EmulatorProcess]:
    with run_emulator(
        "--cluster-transition-s", "0.5", "--dialect", os.environ.get("CDM_TEST_DIALECT", "observed")
    ) as process:
        yield process


@pytest.fixture(scope="module")
def airflow_db() -> None:
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def emu(cluster_emulator: EmulatorProcess, airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    cluster_emulator.reset()
    reset_shared_limiters()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", cluster_emulator.connection_json)
    return cluster_emulator


def make_dag(prefix: str) -> Any:
    from airflow.providers.common.compat.sdk import DAG

    return DAG(
        f"{prefix}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        default_args={"retries": 0},
    )


def counts(emu: EmulatorProcess, cluster_id: str) -> dict[str, int]:
    return {name: count for name, count in emu.cluster(cluster_id)["action_counts"].items() if count}


@pytest.mark.parametrize("deferrable", [False, True], ids=["poll", "deferrable"])
def test_a_stopped_cluster_is_started_watched_restarted_and_stopped(
    emu: EmulatorProcess, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    waits: dict[str, Any] = {"poll_interval": POLL_S, "deferrable": deferrable, "cluster_id": STOPPED}
    with make_dag("cluster_cycle") as dag:
        start = CdmStartClusterOperator(task_id="start", **waits)
        up = CdmClusterStatusSensor(
            task_id="up", cluster_id=STOPPED, poke_interval=POLL_S, timeout=30, deferrable=deferrable
        )
        restart = CdmRestartClusterOperator(task_id="restart", **waits)
        stop = CdmStopClusterOperator(task_id="stop", stop_mode="GRACEFULLY", **waits)
        start >> up >> restart >> stop

    result = run_dag(dag)
    assert dict(result) == dict.fromkeys(["restart", "start", "stop", "up"], "success"), result
    assert result.state == "success"
    assert emu.cluster(STOPPED)["status"] == "900"
    assert counts(emu, STOPPED) == {"start": 1, "restart": 1, "stop": 1}
    out = "".join(capfd.readouterr())
    assert f"cluster cdm-emulator-stopped ({STOPPED}) started: Normal (200)" in out
    assert f"cluster cdm-emulator-stopped ({STOPPED}) restarted: Normal (200)" in out
    assert f"cluster cdm-emulator-stopped ({STOPPED}) stopped: Stopped (900)" in out


def test_a_start_that_fails_and_one_that_times_out_fail_their_tasks_in_plain_words(
    emu: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.set_cluster_status(RUNNING_2, "900")
    emu.script_cluster(RUNNING_2, "failed")
    emu.script_cluster(STOPPED, "ok", duration_s=30)
    with make_dag("cluster_failures") as dag:
        CdmStartClusterOperator(task_id="fails", cluster_id=RUNNING_2, poll_interval=POLL_S, deferrable=True)
        CdmStartClusterOperator(
            task_id="too_slow", cluster_id=STOPPED, poll_interval=POLL_S, timeout=1.5, deferrable=True
        )

    result = run_dag(dag)
    assert result.state == "failed"
    assert result["fails"] == "failed" and result["too_slow"] == "failed"
    assert emu.cluster(RUNNING_2)["status"] == "300" and emu.cluster(STOPPED)["status"] == "920"
    out = "".join(capfd.readouterr())
    assert f"cluster cdm-emulator-2 ({RUNNING_2}) failed (300) while starting" in out
    assert (
        f"gave up waiting for cluster {STOPPED} to start: cluster cdm-emulator-stopped ({STOPPED}) was still "
        "Starting (920) when timeout 1.5 s ran out"
    ) in out
