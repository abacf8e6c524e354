"""Every example DAG runs end to end with ``dag.test()`` against the emulator process.

``tests/conftest.py`` sets AIRFLOW_HOME and points the DAGs folder at ``example_dags`` before Airflow is
imported (on Airflow 3.3 ``dag.test()`` only runs DAGs from the DAGs folder); the database is reset
once. Deferrable tasks run their trigger inline under ``dag.test()``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.jobs import job_definition

pytestmark = pytest.mark.integration

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAG_IDS = {
    "example_cdm_create_and_start",
    "example_cdm_start_existing",
    "example_cdm_parallel_tables",
    "example_cdm_failing_job",
    "example_cdm_cleanup",
    "example_cdm_one_off_copy",
    "example_cdm_nightly_window",
    "example_cdm_cluster_maintenance",
} | ({"example_cdm_asset_watch"} if AIRFLOW_V_3_0_PLUS else set())  # asset watchers are Airflow 3's


@pytest.fixture(scope="session")
def example_dags() -> Any:
    """The example DAGs, parsed from the DAGs folder, on a freshly reset database."""
    assert Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) == EXAMPLE_DAGS
    os.environ["CDM_EXAMPLE_POLL_INTERVAL"] = "0.2"  # read when the DAG files are parsed
    from airflow.utils import db

    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    db.resetdb()
    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    return bag


def run_dag(example_dags: Any, dag_id: str) -> tuple[Any, dict[tuple[str, int], str]]:
    dag_run = example_dags.get_dag(dag_id).test()
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
    return dag_run, states


def ds_of(dag_run: Any) -> str:
    return (getattr(dag_run, "logical_date", None) or dag_run.execution_date).strftime("%Y-%m-%d")


def job_runs(emulator: EmulatorProcess, job_name: str) -> list[dict[str, Any]]:
    for cluster in emulator.state()["clusters"]:
        for job in cluster["jobs"]:
            if job["name"] == job_name:
                return list(job["runs"])
    return []


def test_every_example_dag_is_documented_and_parses(example_dags: Any) -> None:
    assert set(example_dags.dag_ids) == DAG_IDS
    for dag_id in DAG_IDS:
        dag = example_dags.get_dag(dag_id)
        assert dag.doc_md and len(dag.doc_md) > 200, dag_id
        assert "example" in dag.tags


def test_create_and_start_defers_and_reports_the_counters(
    example_dags: Any, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger

    watched: list[RunRef] = []
    original = CdmJobStatusTrigger.run

    async def spied_run(self: CdmJobStatusTrigger) -> AsyncIterator[Any]:  # the real trigger, observed
        watched.append(self.run_ref)
        async for event in original(self):
            yield event

    monkeypatch.setattr(CdmJobStatusTrigger, "run", spied_run)
    dag_run, states = run_dag(example_dags, "example_cdm_create_and_start")

    assert states == {("create_job", -1): "success", ("migrate_orders", -1): "success", ("report", -1): "success"}
    (run,) = job_runs(emulator, "orders_to_obs")
    assert run["status"] == "SUCCEEDED" and run["variables"] == {"date": ds_of(dag_run)}
    assert [ref.job_name for ref in watched] == ["orders_to_obs"]
    assert watched[0].submission_id in (run["submission_id"], None)  # None: a sparse start answer (row 12)
    assert emulator.stats()["starts"] == {"orders_to_obs": 1}
    out = capfd.readouterr().out
    assert f"CDM job orders_to_obs run {run['submission_id']} in cluster {emulator.cluster_id}: SUCCEEDED" in out
    assert "ROWS_WRITTEN" in out


def test_start_existing_then_a_rescheduling_sensor(example_dags: Any, emulator: EmulatorProcess) -> None:
    CdmHook().create_job(job_definition("orders_daily"))
    dag_run, states = run_dag(example_dags, "example_cdm_start_existing")
    assert states == {("start_job", -1): "success", ("wait_for_job", -1): "success"}
    assert example_dags.get_dag("example_cdm_start_existing").get_task("wait_for_job").mode == "reschedule"
    (run,) = job_runs(emulator, "orders_daily")
    assert run["status"] == "SUCCEEDED"
    assert run["variables"] == {"date": ds_of(dag_run), "full_load": "false"}


def test_parallel_tables_map_one_task_per_table(example_dags: Any, emulator: EmulatorProcess) -> None:
    dag_run, states = run_dag(example_dags, "example_cdm_parallel_tables")
    assert states == {
        **{("create_jobs", index): "success" for index in range(3)},
        **{("migrate", index): "success" for index in range(3)},
        ("summarize", -1): "success",
    }
    jobs = ["sales_orders_to_obs", "sales_customers_to_obs", "sales_payments_to_obs"]
    assert emulator.stats()["starts"] == dict.fromkeys(jobs, 1)
    assert all(job_runs(emulator, name)[0]["variables"] == {"date": ds_of(dag_run)} for name in jobs)


def test_a_failing_job_fails_its_task_with_cdms_error_summary(
    example_dags: Any, emulator: EmulatorProcess, capfd: pytest.CaptureFixture[str]
) -> None:
    summary = "Table public.orders_archive does not exist"
    emulator.script_job("orders_archive_to_obs", "FAILED", duration_s=0.3, error_summary=summary)
    dag_run, states = run_dag(example_dags, "example_cdm_failing_job")
    assert states == {("create_job", -1): "success", ("migrate_archive", -1): "failed"}
    assert str(dag_run.state) == "failed"
    output = "".join(capfd.readouterr())
    assert f"ended with status FAILED\nerror summary: {summary}" in output  # the task log and its exception
    assert f"CDM run 1 of orders_archive_to_obs failed: {summary}" in output  # the failure callback


def test_cleanup_stops_and_deletes_and_tolerates_missing_jobs(example_dags: Any, emulator: EmulatorProcess) -> None:
    hook = CdmHook()
    hook.create_job(job_definition("sales_orders_to_obs"))
    hook.create_job(job_definition("sales_customers_to_obs"))  # sales_payments_to_obs does not exist
    emulator.script_job("sales_orders_to_obs", "STUCK")
    hook.start_job("sales_orders_to_obs")

    _, states = run_dag(example_dags, "example_cdm_cleanup")
    assert set(states.values()) == {"success"} and len(states) == 7
    assert hook.list_jobs() == []
    requests = emulator.stats()["requests"]
    stops = requests["stop_job"]  # one run stopped; an idle job, a missing one (400, or 500 under row 8)
    assert stops.get("200") == 1 and sum(stops.get(code, 0) for code in ("400", "500")) == 2
    deletes = requests["delete_job"]  # a missing job: 400, or 500 (row 8); a delete: 200, or 204 (row 16)
    assert sum(deletes.values()) == 3 and sum(deletes.get(code, 0) for code in ("400", "500")) == 1


def test_one_off_copy_runs_in_a_running_cluster_then_deletes_the_job(
    example_dags: Any, emulator: EmulatorProcess
) -> None:
    running = [c.id for c in CdmHook().list_clusters() if c.status is not None and c.status.can_run_jobs]
    assert len(running) == 2  # the emulator's third cluster is stopped: never a candidate
    _, states = run_dag(example_dags, "example_cdm_one_off_copy")
    assert states == {
        ("running_clusters", -1): "success",
        ("copy_snapshot", -1): "success",
        ("drop_job", -1): "success",
    }
    stats = emulator.stats()
    assert stats["starts"] == {"orders_snapshot_to_obs": 1}
    assert stats["requests"]["create_and_start_job"] == {"200": 1}
    deletes = stats["requests"]["delete_job"]  # in the cluster that took the job, found at once
    assert sum(deletes.values()) == 1 and set(deletes) <= {"200", "204"}  # 204 under row 16
    assert all(not cluster["jobs"] for cluster in emulator.state()["clusters"])
