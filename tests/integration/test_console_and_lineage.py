"""The console link and the OpenLineage facets against a real emulator process: links defined in the
emulator, read back through the show-link API, runs whose counters become statistics; then a deferred
start task run with ``dag.test()``, its link resolved as the Airflow UI resolves it."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.console import XCOM_KEY, console_job_url
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmStartJobOperator
from tests.jobs import job_definition
from tests.unit.operators.helpers import RecordingTI, task_context

pytestmark = pytest.mark.integration

PASSWORD, OBS_SK = "pg-password-seen-by-no-one", "obs-secret-key-seen-by-no-one"
FAST = 0.05
EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


def define_links(emulator: EmulatorProcess, pg: str = "pg_link", obs: str = "obs_link") -> None:
    emulator.define_link(
        pg,
        "generic-jdbc-connector",
        databaseType="POSTGRESQL",
        host="pg.internal",
        port=5432,
        database="sales",
        username="etl",
        password=PASSWORD,
    )
    emulator.define_link(
        obs,
        "obs-connector",
        storageType="OBS",
        server="obs.cn-north-4.myhuaweicloud.com",
        port=443,
        accessKey="OBSAK0000000001",
        securityKey=OBS_SK,
    )


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Any:
    cdm = CdmHook()
    yield cdm
    cdm.close()


def expected_url(emulator: EmulatorProcess, job_name: str) -> str:
    return console_job_url(region="cn-north-4", cluster_id=str(emulator.cluster_id), job_name=job_name)


def test_a_link_reads_back_through_the_hook_without_its_credentials(emulator: EmulatorProcess, hook: CdmHook) -> None:
    define_links(emulator)
    link = hook.get_link("pg_link")
    assert (link.connector, link.value("host"), link.value("port")) == ("generic-jdbc-connector", "pg.internal", "5432")
    assert PASSWORD not in json.dumps(link.to_json()) and "password" not in link.config
    assert set(hook.get_link("obs_link").config) == {"storageType", "server", "port"}


def test_a_start_task_links_to_its_job_and_reports_what_it_moved(
    emulator: EmulatorProcess, hook: CdmHook, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("airflow.providers.openlineage.extractors")
    caplog.set_level(logging.DEBUG)
    define_links(emulator)
    job = job_definition("orders_daily")
    job["to-config-values"]["configs"][0]["inputs"][1]["value"] = "/orders/${date}/"
    hook.create_job(job)
    ti = RecordingTI()
    operator = CdmStartJobOperator(
        task_id="migrate", job_name="orders_daily", variables={"date": "2026-11-22"}, poll_interval=FAST
    )
    result = operator.execute(task_context(ti))
    assert ti.xcom[XCOM_KEY] == expected_url(emulator, "orders_daily")

    lineage = operator.get_openlineage_facets_on_complete(ti)
    counters = hook.get_job_status("orders_daily").counters  # CDM's own account of the run
    (source,), (target,) = lineage.inputs, lineage.outputs
    assert (source.namespace, source.name) == ("postgres://pg.internal:5432", "sales.public.orders")
    assert (target.namespace, target.name) == ("obs://warehouse", "orders/2026-11-22")
    read, written = source.inputFacets["inputStatistics"], target.outputFacets["outputStatistics"]
    assert (read.rowCount, read.size, read.fileCount) == (
        counters["ROWS_READ"],
        counters["BYTES_READ"],
        counters["FILES_READ"],
    )
    assert (written.rowCount, written.size) == (
        counters["ROWS_WRITTEN"],
        counters["BYTES_WRITTEN"],
    ) and written.rowCount > 0
    assert lineage.run_facets["cdm_run"].submissionId == result["submission_id"]
    assert emulator.stats()["requests"]["show_link"] == {"200": 1}  # the OBS side needs no link
    everything = repr(lineage) + json.dumps(ti.xcom) + json.dumps(result) + caplog.text
    assert PASSWORD not in everything and OBS_SK not in everything


def test_a_link_missing_in_cdm_names_the_datasets_by_the_link(emulator: EmulatorProcess, hook: CdmHook) -> None:
    pytest.importorskip("airflow.providers.openlineage.extractors")
    hook.create_job(job_definition("orders_daily"))
    operator = CdmStartJobOperator(task_id="migrate", job_name="orders_daily", poll_interval=FAST)
    operator.execute(task_context())
    lineage = operator.get_openlineage_facets_on_complete(RecordingTI())
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"cdm://{emulator.cluster_id}/pg_link", "public.orders")
    ]
    assert emulator.stats()["requests"]["show_link"] == {"400": 1}  # Cdm.0101, asked once, not retried


def test_create_and_start_links_to_the_cluster_that_took_the_job(emulator: EmulatorProcess) -> None:
    pytest.importorskip("airflow.providers.openlineage.extractors")
    define_links(emulator)
    ti = RecordingTI()
    operator = CdmCreateAndStartJobOperator(task_id="copy", job=job_definition("one_off"), poll_interval=FAST)
    result = operator.execute(task_context(ti))
    assert ti.xcom[XCOM_KEY] == expected_url(emulator, "one_off") and result["cluster_id"] == emulator.cluster_id
    lineage = operator.get_openlineage_facets_on_complete(ti)
    assert [d.namespace for d in lineage.inputs + lineage.outputs] == ["postgres://pg.internal:5432", "obs://warehouse"]
    assert "show_job" not in emulator.stats()["requests"]  # named from the definition it sent


# --- dag.test(): a deferred start task, its link as the UI resolves it ---------------------------------


@pytest.fixture(scope="module")
def example_dags() -> Any:
    assert Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) == EXAMPLE_DAGS
    os.environ["CDM_EXAMPLE_POLL_INTERVAL"] = "0.2"
    from airflow.utils import db

    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    db.resetdb()
    return DagBag(dag_folder=str(EXAMPLE_DAGS))


def as_the_ui_sees_it(dag: Any, task_id: str) -> Any:
    """The task as the web server (2.x) or API server (3.x) has it: from the serialized DAG."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization as Serializer  # 3.x
    except ImportError:
        from airflow.serialization.serialized_objects import SerializedDAG as Serializer  # type: ignore[no-redef]
    return Serializer.from_dict(Serializer.to_dict(dag)).get_task(task_id)


def test_a_deferred_start_task_under_dag_test(
    example_dags: Any, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # capfd: Airflow 2's dag.test() binds its task log handler to the sys.stdout of the first run; under
    # capfd that writes to the process's stdout, which later tests' capfd capture.
    define_links(emulator, pg="pg_sales", obs="obs_lake")
    ran: list[CdmStartJobOperator] = []
    original = CdmStartJobOperator.succeeded

    def spied(self: CdmStartJobOperator, *args: Any) -> dict[str, Any]:
        ran.append(self)
        return original(self, *args)

    monkeypatch.setattr(CdmStartJobOperator, "succeeded", spied)
    dag = example_dags.get_dag("example_cdm_create_and_start")
    dag_run = dag.test()
    instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    assert str(instances["migrate_orders"].state) == "success"

    task = as_the_ui_sees_it(dag, "migrate_orders")
    assert "CDM Console" in task.extra_links
    url = task.get_extra_links(instances["migrate_orders"], "CDM Console")
    assert url == expected_url(emulator, "orders_to_obs")
    assert "CDM Console" not in as_the_ui_sees_it(dag, "create_job").extra_links

    if importlib.util.find_spec("airflow.providers.openlineage") is None:
        return  # the link part ran; the lineage part needs the OpenLineage provider
    (operator,) = ran  # the operator object that ran the task, as the OpenLineage listener gets it
    lineage = operator.get_openlineage_facets_on_complete(instances["migrate_orders"])
    ds = (getattr(dag_run, "logical_date", None) or dag_run.execution_date).strftime("%Y-%m-%d")
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("postgres://pg.internal:5432", "sales.public.orders")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("obs://sales-lake", f"orders/{ds}")]
    assert lineage.outputs[0].outputFacets["outputStatistics"].rowCount > 0
