"""The start operators' OpenLineage facets: with the OpenLineage provider (skipped where it is not
installed), and without it (simulated by hiding it, so this part runs everywhere)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.links import Link
from airflow_provider_cdm.client.models import Job
from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmStartJobOperator
from tests.jobs import job_definition
from tests.unit.operators.helpers import RecordingTI, use_mocked_cdm

PASSWORD = "pg-pa55word-never-seen"
CLUSTER = "c-1"
COUNTERS = {
    "ROWS_READ": 120,
    "ROWS_WRITTEN": 118,
    "ROWS_WRITTEN_SKIPPED": 2,
    "BYTES_READ": 4096,
    "BYTES_WRITTEN": 4000,
    "FILES_READ": 0,
    "FILES_WRITTEN": 3,
}


class FakeHook:
    """The hook calls lineage makes, answered from memory and counted."""

    def __init__(self, job: dict[str, Any], links: dict[str, Link]) -> None:
        self.job, self.links, self.calls = job, links, []

    def get_job(self, job_name: str, cluster_id: str | None = None) -> Job:
        self.calls.append(("get_job", job_name, cluster_id))
        return Job.from_api(self.job)

    def get_link(self, link_name: str, cluster_id: str | None = None) -> Link:
        self.calls.append(("get_link", link_name, cluster_id))
        if link_name not in self.links:
            raise CdmApiError("Link[x] does not exist.", http_status=400, code="Cdm.0101")
        return self.links[link_name]


def pg_link() -> Link:
    config = {"databaseType": "POSTGRESQL", "host": "10.0.0.5", "port": "5432", "database": "sales", "username": "etl"}
    return Link("pg_link", "generic-jdbc-connector", config)


def finished_start(hook: FakeHook, **kwargs: Any) -> CdmStartJobOperator:
    """A start operator as after its run: its result known, its hook the fake."""
    operator = CdmStartJobOperator(task_id="migrate", job_name="orders", **kwargs)
    operator.__dict__["lineage_hook"] = hook
    operator.run_result = {
        "job_name": "orders",
        "cluster_id": CLUSTER,
        "submission_id": 7,
        "status": "SUCCEEDED",
        "counters": dict(COUNTERS),
    }
    return operator


# --- without the OpenLineage provider -----------------------------------------------------------------


@pytest.fixture
def without_openlineage(monkeypatch: pytest.MonkeyPatch) -> Any:
    """OpenLineage made unimportable for one test; modules imported meanwhile are forgotten afterwards."""
    hidden = ("airflow.providers.openlineage", "openlineage", "airflow.providers.common.compat.openlineage")
    before = set(sys.modules)
    for name in list(sys.modules):
        if name.startswith((*hidden, "airflow_provider_cdm.lineage.facets")):
            monkeypatch.delitem(sys.modules, name)
    for name in (*hidden, "airflow.providers.openlineage.extractors"):
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
    yield
    for name in set(sys.modules) - before:  # only what may hold the hiding: Airflow's own models stay loaded
        if name.startswith((*hidden, "airflow_provider_cdm.lineage")):
            del sys.modules[name]


@pytest.mark.usefixtures("without_openlineage")
def test_without_the_provider_there_are_no_facets_and_no_calls() -> None:
    hook = FakeHook(job_definition("orders"), {"pg_link": pg_link()})
    assert finished_start(hook).get_openlineage_facets_on_complete(RecordingTI()) is None
    assert hook.calls == []


def test_importing_the_operators_loads_no_lineage_module() -> None:
    probe = (
        "import sys\n"
        "try:\n    import airflow.sdk\nexcept ImportError:\n    import airflow\n"  # Airflow's own start-up
        "before = set(sys.modules)\n"
        "import airflow_provider_cdm.operators.cdm\n"
        "ours = 'airflow_provider_cdm.lineage'\n"
        "print(sorted(m for m in set(sys.modules) - before if 'openlineage' in m or m.startswith(ours)))\n"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --- with the OpenLineage provider --------------------------------------------------------------------


@pytest.fixture
def openlineage() -> Any:
    return pytest.importorskip("airflow.providers.openlineage.extractors")


def as_json(lineage: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return {
        "inputs": [Serde.to_dict(item) for item in lineage.inputs],
        "outputs": [Serde.to_dict(item) for item in lineage.outputs],
        "run": {name: Serde.to_dict(facet) for name, facet in lineage.run_facets.items()},
    }


def test_a_finished_start_run_names_its_table_and_bucket_with_its_counters(openlineage: Any) -> None:
    job = job_definition("orders")
    job["to-config-values"]["configs"][0]["inputs"][1]["value"] = "/orders/${date}/"
    hook = FakeHook(job, {"pg_link": pg_link()})
    lineage = finished_start(hook, variables={"date": "2026-11-22"}).get_openlineage_facets_on_complete(RecordingTI())
    event = as_json(lineage)

    (source,) = event["inputs"]
    assert (source["namespace"], source["name"]) == ("postgres://10.0.0.5:5432", "sales.public.orders")
    read = source["inputFacets"]["inputStatistics"]
    assert (read["rowCount"], read["size"], read["fileCount"]) == (120, 4096, 0)
    (target,) = event["outputs"]
    assert (target["namespace"], target["name"]) == ("obs://warehouse", "orders/2026-11-22")
    stats = target["outputFacets"]["outputStatistics"]
    assert (stats["rowCount"], stats["size"], stats["fileCount"]) == (118, 4000, 3)
    run = event["run"]
    assert run["cdm_run"]["counters"]["ROWS_WRITTEN_SKIPPED"] == 2
    assert (run["cdm_run"]["submissionId"], run["cdm_run"]["status"]) == (7, "SUCCEEDED")
    assert run["externalQuery"]["externalQueryId"] == "7"
    assert hook.calls == [("get_job", "orders", CLUSTER), ("get_link", "pg_link", CLUSTER)]  # OBS needs no link
    assert PASSWORD not in json.dumps(event) and "etl" not in json.dumps(event)


def test_an_unreadable_link_names_its_datasets_by_the_link(openlineage: Any, caplog: pytest.LogCaptureFixture) -> None:
    hook = FakeHook(job_definition("orders"), {})
    lineage = finished_start(hook).get_openlineage_facets_on_complete(RecordingTI())
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("cdm://c-1/pg_link", "public.orders")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("obs://warehouse", "orders")]
    assert "CDM link 'pg_link' unreadable" in caplog.text


def test_an_unreadable_job_gives_no_facets_rather_than_failing(openlineage: Any) -> None:
    class Gone(FakeHook):
        def get_job(self, job_name: str, cluster_id: str | None = None) -> Job:
            raise CdmApiError("Job[orders] does not exist.", http_status=400, code="Cdm.0100")

    assert finished_start(Gone({}, {})).get_openlineage_facets_on_complete(RecordingTI()) is None


def test_several_source_paths_share_no_read_statistics(openlineage: Any) -> None:
    job = job_definition("files")
    job["from-connector-name"], job["from-link-name"] = "obs-connector", "obs_in"
    job["from-config-values"] = {
        "configs": [
            {
                "name": "fromJobConfig",
                "inputs": [
                    {"name": "fromJobConfig.bucketName", "value": "raw"},
                    {"name": "fromJobConfig.inputDirectory", "value": "/a.csv|/b.csv"},
                ],
            }
        ]
    }
    lineage = finished_start(FakeHook(job, {})).get_openlineage_facets_on_complete(RecordingTI())
    assert [d.name for d in lineage.inputs] == ["a.csv", "b.csv"]
    assert all(d.inputFacets == {} for d in lineage.inputs)
    assert "outputStatistics" in lineage.outputs[0].outputFacets


def test_the_result_is_read_from_xcom_when_the_operator_object_did_not_run(openlineage: Any) -> None:
    hook = FakeHook(job_definition("orders"), {"pg_link": pg_link()})
    operator = finished_start(hook)
    ti = RecordingTI()
    ti.xcom["return_value"], operator.run_result = operator.run_result, None
    lineage = operator.get_openlineage_facets_on_complete(ti)
    assert lineage is not None and lineage.run_facets["cdm_run"].submissionId == 7
    assert ti.pulls == [{"task_ids": "migrate", "key": "return_value", "map_indexes": -1}]
    nothing = CdmStartJobOperator(task_id="x", job_name="orders")
    nothing.__dict__["lineage_hook"] = hook
    assert nothing.get_openlineage_facets_on_complete(RecordingTI()) is None


def test_create_and_start_names_the_definition_it_sent_without_asking_cdm(openlineage: Any) -> None:
    definition = CdmJobDefinition(
        name="one_off",
        from_connector="generic-jdbc-connector",
        from_link="pg_link",
        from_config={"schemaName": "public", "tableName": "orders_${date}"},
        to_connector="obs-connector",
        to_link="obs_link",
        to_config={"bucketName": "lake", "outputDirectory": "/one_off/${date}"},
    )
    hook = FakeHook({}, {"pg_link": pg_link()})
    operator = CdmCreateAndStartJobOperator(task_id="copy", job=definition, variables={"date": "20261122"})
    operator.__dict__["lineage_hook"] = hook
    operator.run_result = {"job_name": "one_off", "cluster_id": CLUSTER, "submission_id": 1, "status": "SUCCEEDED"}
    lineage = operator.get_openlineage_facets_on_complete(RecordingTI())
    assert [d.name for d in lineage.inputs] == ["sales.public.orders_20261122"]
    assert [d.name for d in lineage.outputs] == ["one_off/20261122"]
    assert [call[0] for call in hook.calls] == ["get_link"]


def test_lineage_reads_cdm_on_a_short_budget_with_the_tasks_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_cdm.operators._lineage import LINEAGE_RETRY, LINEAGE_TIMEOUT_S

    use_mocked_cdm(monkeypatch)
    operator = CdmStartJobOperator(task_id="t", job_name="orders", hook_params={"region": "cn-north-4"})
    settings = operator.lineage_hook.settings
    assert settings.retry == LINEAGE_RETRY and LINEAGE_RETRY.max_elapsed_s <= 10  # OpenLineage's few seconds
    assert settings.timeout == LINEAGE_TIMEOUT_S and settings.region == "cn-north-4"
    assert operator.hook.settings.retry != LINEAGE_RETRY  # the task's own calls keep the full policy
