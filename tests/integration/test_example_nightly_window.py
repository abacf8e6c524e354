"""The cluster example DAGs end to end under ``dag.test()`` against an emulator process of their own.

``example_cdm_nightly_window``: a stopped cluster is started, the mapped copies run, and the cluster ends
stopped; polling and deferred; and when one copy fails, the cluster is stopped all the same and the DAG
run still ends failed (the stop is a teardown: its success does not hide the failure).
``example_cdm_cluster_maintenance``: the sensor sees the cluster up, the restart restarts it.

The DAG files read ``CDM_EXAMPLE_*`` when they are parsed: each test parses them afresh with its own. Every
test that runs a DAG takes ``capfd``: Airflow 2's ``dag.test()`` binds its task log handler to the stdout of
its first run, and only under ``capfd`` is that the process's, which later tests capture."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm._dag_test import load_dag, run_dag
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters
from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator

pytestmark = pytest.mark.integration

TABLES = ("orders", "customers", "payments")
JOBS = [f"nightly_{table}_to_obs" for table in TABLES]


@pytest.fixture(scope="module")
def window_emulator() -> Iterator[EmulatorProcess]:
    with run_emulator(
        "--cluster-transition-s",
        "0.3",
        "--job-duration",
        "0.3",
        "--dialect",
        os.environ.get("CDM_TEST_DIALECT", "observed"),
    ) as process:
        yield process


@pytest.fixture(scope="module")
def airflow_db() -> None:
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def emu(window_emulator: EmulatorProcess, airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    window_emulator.reset()
    reset_shared_limiters()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", window_emulator.connection_json)
    monkeypatch.setenv("CDM_EXAMPLE_POLL_INTERVAL", "0.2")
    return window_emulator


def nightly(monkeypatch: pytest.MonkeyPatch, *, deferrable: bool) -> Any:
    monkeypatch.setenv("CDM_EXAMPLE_DEFERRABLE", "true" if deferrable else "false")
    dag = load_dag("example_cdm_nightly_window")
    assert dag.get_task("start_cluster").deferrable is deferrable
    assert dag.get_task("stop_cluster").deferrable is deferrable
    return dag


def counts(emu: EmulatorProcess, cluster_id: str) -> dict[str, int]:
    return {name: count for name, count in emu.cluster(cluster_id)["action_counts"].items() if count}


def test_the_window_starts_the_cluster_copies_every_table_and_stops_it(
    emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Polling; the next test runs the same DAG deferred."""
    cluster = emu.cluster_id
    assert cluster is not None
    emu.set_cluster_status(cluster, "900")  # the night begins with the cluster stopped
    result = run_dag(nightly(monkeypatch, deferrable=False))
    assert dict(result) == {
        "start_cluster": "success",
        **{f"create_jobs[{index}]": "success" for index in range(3)},
        **{f"migrate[{index}]": "success" for index in range(3)},
        "stop_cluster": "success",
    }
    assert result.state == "success"
    assert emu.cluster(cluster)["status"] == "900"
    assert counts(emu, cluster) == {"start": 1, "stop": 1}
    assert emu.stats()["starts"] == dict.fromkeys(JOBS, 1)


def test_a_failed_copy_still_stops_the_cluster_and_fails_the_run(
    emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    cluster = emu.cluster_id
    assert cluster is not None
    emu.set_cluster_status(cluster, "900")
    emu.script_job(
        "nightly_customers_to_obs", "FAILED", duration_s=0.2, error_summary="Table public.customers is locked"
    )
    result = run_dag(nightly(monkeypatch, deferrable=True))  # every wait in the triggerer (inline)
    assert result["start_cluster"] == "success"
    assert result["migrate[1]"] == "failed"
    assert result["migrate[0]"] == result["migrate[2]"] == "success"
    assert result["stop_cluster"] == "success"
    assert result.state == "failed"  # the teardown's success does not hide the failed copy
    assert emu.cluster(cluster)["status"] == "900"
    assert counts(emu, cluster) == {"start": 1, "stop": 1}
    out = "".join(capfd.readouterr())
    assert "error summary: Table public.customers is locked" in out
    assert f"cluster cdm-emulator-1 ({cluster}) stopped: Stopped (900)" in out


def test_a_start_that_fails_still_runs_the_stop(
    emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A teardown's usual rule skips it when its setup failed; this stop's ``all_done`` runs it (a start that
    timed out may leave a cluster that comes up later and runs all night). Here the cluster failed (300)
    while starting, so the stop, which runs, fails too: a failed cluster cannot be stopped."""
    cluster = emu.cluster_id
    assert cluster is not None
    emu.set_cluster_status(cluster, "900")
    emu.script_cluster(cluster, "failed")
    result = run_dag(nightly(monkeypatch, deferrable=False))
    assert result["start_cluster"] == "failed" and result["stop_cluster"] == "failed"
    others = {state for task, state in result.items() if task not in ("start_cluster", "stop_cluster")}
    assert others == {"upstream_failed"}
    assert result.state == "failed"
    assert emu.stats()["starts"] == {} and counts(emu, cluster) == {"start": 1}
    assert (
        f"cluster cdm-emulator-1 ({cluster}) failed (300): see the cluster's events in the CDM console (no stop sent)"
        in "".join(capfd.readouterr())
    )


def test_the_maintenance_dag_sees_the_cluster_up_and_restarts_it(
    emu: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_dag("example_cdm_cluster_maintenance")
    assert dict(result) == {"wait_until_up": "success", "restart_service": "success"}
    cluster = emu.cluster_id
    assert cluster is not None
    assert counts(emu, cluster) == {"restart": 1} and emu.cluster(cluster)["status"] == "200"
