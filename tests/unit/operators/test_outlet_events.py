"""A start task's outlets: the asset (Airflow 3) or dataset (2.11) event Airflow records carries the run's
figures in its extra; read back from Airflow's database after ``dag.test()`` against the emulator."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_cdm._dag_test import run_dag
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmStartJobOperator
from tests.jobs import job_definition

pytestmark = pytest.mark.integration

FIGURES = {
    "job_name",
    "cluster_id",
    "submission_id",
    "status",
    "rows_read",
    "rows_written",
    "bytes_read",
    "bytes_written",
    "started_at",
    "ended_at",
    "duration_s",
}


def _airflow_3() -> bool:
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    return bool(AIRFLOW_V_3_0_PLUS)


def make_asset(uri: str) -> Any:
    if _airflow_3():
        from airflow.sdk import Asset

        return Asset(name=uri, uri=uri)
    from airflow.datasets import Dataset

    return Dataset(uri)


def make_dag(dag_id: str) -> Any:
    from airflow.providers.common.compat.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)


def run_test_dag(dag: Any) -> dict[str, str]:
    """``dag.test()``; on Airflow 2 the DAG is written to the database first, as the scheduler would, so that
    its datasets exist there (2.11 records no event of a dataset it does not know)."""
    if not _airflow_3():
        dag.sync_to_db()
    return dict(run_dag(dag))


def events_of(uri: str) -> list[dict[str, Any]]:
    """The extras of the asset's (dataset's) events in Airflow's database, oldest first."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if _airflow_3():
        from airflow.models.asset import AssetEvent, AssetModel

        with create_session() as session:
            asset_id = session.scalar(select(AssetModel.id).where(AssetModel.uri == uri))
            rows = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset_id).order_by(AssetEvent.id))
            return [dict(row.extra or {}) for row in rows]
    from airflow.models.dataset import DatasetEvent, DatasetModel

    with create_session() as session:
        dataset_id = session.scalar(select(DatasetModel.id).where(DatasetModel.uri == uri))
        rows = session.scalars(
            select(DatasetEvent).where(DatasetEvent.dataset_id == dataset_id).order_by(DatasetEvent.id)
        )
        return [dict(row.extra or {}) for row in rows]


@pytest.fixture(scope="module")
def airflow_db() -> None:
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Any:
    cdm = CdmHook()
    yield cdm
    cdm.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferred"])
def test_a_waiting_start_task_gives_each_outlet_event_the_runs_figures(
    airflow_db: None, emulator: EmulatorProcess, hook: CdmHook, deferrable: bool
) -> None:
    job = unique("outlet_orders")
    hook.create_job(job_definition(job))
    first, second = f"cdm://test/{job}/a", f"cdm://test/{job}/b"
    with make_dag(unique("outlets")) as dag:
        CdmStartJobOperator(
            task_id="migrate",
            job_name=job,
            poll_interval=0.05,
            deferrable=deferrable,
            outlets=[make_asset(first), make_asset(second)],
        )
    result = run_test_dag(dag)
    assert result == {"migrate": "success"}, result

    (run,) = emulator.runs(job)
    for uri in (first, second):
        (extra,) = events_of(uri)
        assert set(extra) == FIGURES, extra
        assert extra["job_name"] == job
        assert extra["cluster_id"] == emulator.cluster_id
        assert extra["submission_id"] == run["submission_id"]
        assert extra["status"] == "SUCCEEDED"
        assert isinstance(extra["rows_written"], int) and extra["rows_written"] > 0
        assert isinstance(extra["bytes_read"], int) and extra["bytes_read"] > 0
        assert isinstance(extra["duration_s"], float) and extra["duration_s"] >= 0
        assert extra["ended_at"] >= extra["started_at"]


def test_a_task_that_does_not_wait_names_only_the_run(
    airflow_db: None, emulator: EmulatorProcess, hook: CdmHook
) -> None:
    emulator.set_dialect("reference")  # start answers that carry the run's id (sparse ones may not: then None)
    job = unique("outlet_nowait")
    hook.create_job(job_definition(job))
    uri = f"cdm://test/{job}"
    with make_dag(unique("outlets_nowait")) as dag:
        CdmStartJobOperator(task_id="start", job_name=job, wait_for_completion=False, outlets=[make_asset(uri)])
    assert run_test_dag(dag) == {"start": "success"}
    (run,) = emulator.runs(job)
    assert events_of(uri) == [
        {"job_name": job, "cluster_id": emulator.cluster_id, "submission_id": run["submission_id"]}
    ]


def test_create_and_start_names_the_cluster_that_ran_the_job(airflow_db: None, emulator: EmulatorProcess) -> None:
    job = unique("outlet_created")
    uri = f"cdm://test/{job}"
    with make_dag(unique("outlets_created")) as dag:
        CdmCreateAndStartJobOperator(
            task_id="run", job=job_definition(job), poll_interval=0.05, outlets=[make_asset(uri)]
        )
    assert run_test_dag(dag) == {"run": "success"}
    (extra,) = events_of(uri)
    assert (extra["job_name"], extra["cluster_id"], extra["status"]) == (job, emulator.cluster_id, "SUCCEEDED")


def test_a_failed_run_records_no_event(airflow_db: None, emulator: EmulatorProcess, hook: CdmHook) -> None:
    job = unique("outlet_failed")
    hook.create_job(job_definition(job))
    emulator.script_job(job, "FAILED", error_summary="disk full")
    uri = f"cdm://test/{job}"
    with make_dag(unique("outlets_failed")) as dag:
        CdmStartJobOperator(task_id="migrate", job_name=job, poll_interval=0.05, retries=0, outlets=[make_asset(uri)])
    assert run_test_dag(dag)["migrate"] == "failed"
    assert events_of(uri) == []


def test_an_outlet_airflow_cannot_resolve_costs_its_figures_not_the_task(caplog: pytest.LogCaptureFixture) -> None:
    """An ``AssetRef`` outlet is resolved when its accessor is asked for, and that can raise: the run succeeded,
    so the task must too (the other outlets still get the figures)."""
    from airflow_provider_cdm.operators._outlets import record_outlet_extras

    class AssetRef:
        def __repr__(self) -> str:
            return "AssetRef(name='gone')"

    class Accessor:
        extra: dict[str, Any] | None = None

    ref, asset, accessor = AssetRef(), make_asset("cdm://test/kept"), Accessor()

    class OutletEvents:
        def __getitem__(self, key: Any) -> Accessor:
            if key is ref:
                raise RuntimeError("no asset named 'gone'")
            return accessor

    task = SimpleNamespace(outlets=[ref, asset])
    result = {"job_name": "j", "cluster_id": "c1", "submission_id": 4}
    with caplog.at_level("WARNING"):
        assert record_outlet_extras({"outlet_events": OutletEvents()}, task, result, waited=False) is result
    assert accessor.extra == result
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "AssetRef(name='gone')" in warning.getMessage()
