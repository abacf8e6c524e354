"""Templated fields render: a ``.json`` job file is read and rendered (template_ext), then parsed and sent."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import requests_mock
from airflow.providers.common.compat.sdk import DAG

from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.job_definition import CdmJobDefinition, apply_variables, load_job_definition
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmCreateJobOperator, CdmStartJobOperator
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from tests.jobs import job_definition
from tests.unit.client.helpers import CLUSTER, cdm_url, job_url, submission
from tests.unit.operators.helpers import RecordingTI, task_context

CONTEXT = {"ds": "2026-11-22", "params": {"job": "orders_daily", "cluster": CLUSTER, "table": "orders_v2"}}


def a_dag(tmp_path: Path) -> DAG:
    return DAG("templates", schedule=None, start_date=datetime(2026, 1, 1), template_searchpath=[str(tmp_path)])


def inputs(job: dict[str, Any], field: str) -> dict[str, str]:
    return {item["name"]: item["value"] for config in job[field]["configs"] for item in config["inputs"]}


def test_a_json_job_file_is_read_rendered_parsed_and_sent(tmp_path: Path, cdm: requests_mock.Mocker) -> None:
    template = job_definition("orders_{{ ds_nodash }}", table="{{ params.table }}", where="order_date = '{{ ds }}'")
    (tmp_path / "orders.json").write_text(json.dumps({"jobs": [template]}))  # a console export
    with a_dag(tmp_path):
        operator = CdmCreateJobOperator(task_id="create", job="orders.json", cluster_id="{{ params.cluster }}")
    operator.render_template_fields({**CONTEXT, "ds_nodash": "20261122"})

    definition = load_job_definition(operator.job)
    assert definition["name"] == "orders_20261122"
    assert inputs(definition, "from-config-values")["fromJobConfig.tableName"] == "orders_v2"
    assert operator.cluster_id == CLUSTER

    cdm.post(cdm_url("/cdm/job"), json={"name": "orders_20261122", "validation-result": []})
    assert operator.execute(task_context()) == "orders_20261122"
    sent = cdm.last_request.json()["jobs"][0]
    assert inputs(sent, "from-config-values")["fromJobConfig.whereClause"] == "order_date = '2026-11-22'"


def test_a_builder_passes_rendering_unchanged(tmp_path: Path, cdm: requests_mock.Mocker) -> None:
    builder = CdmJobDefinition.from_api(job_definition("orders_copy"))
    with a_dag(tmp_path):
        operator = CdmCreateAndStartJobOperator(
            task_id="create_and_start",
            job=builder,
            clusters=["{{ params.cluster }}"],
            variables={"date": "{{ ds }}"},
            wait_for_completion=False,
        )
    operator.render_template_fields(CONTEXT)
    assert operator.job == builder
    assert (operator.clusters, operator.variables) == ([CLUSTER], {"date": "2026-11-22"})

    cdm.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [submission(5, "BOOTING", "orders_copy")]})
    result = operator.execute(task_context())
    assert (result["cluster_id"], result["submission_id"], result["status"]) == (CLUSTER, 5, "BOOTING")
    sent = cdm.last_request.json()
    assert sent["clusters"] == [CLUSTER]
    # create-and-execute carries no variables: they fill the definition's ${date} placeholders
    assert inputs(sent["jobs"][0], "from-config-values")["fromJobConfig.whereClause"] == "order_date = '2026-11-22'"


def test_start_fields_render_into_the_request(tmp_path: Path, cdm: requests_mock.Mocker) -> None:
    with a_dag(tmp_path):
        operator = CdmStartJobOperator(
            task_id="start",
            job_name="{{ params.job }}",
            cluster_id="{{ params.cluster }}",
            variables={"date": "{{ ds }}", "full": True},
            wait_for_completion=False,
        )
    operator.render_template_fields(CONTEXT)
    cdm.get(job_url("orders_daily", "/status"), json={"submissions": []})
    cdm.put(job_url("orders_daily", "/start"), json={"submissions": [submission(9, "BOOTING", "orders_daily")]})
    ti = RecordingTI()
    result = operator.execute(task_context(ti))
    assert cdm.last_request.json() == {"variables": {"date": "2026-11-22", "full": "true"}}
    assert (result["job_name"], result["submission_id"], ti.xcom["submission_id"]) == ("orders_daily", 9, 9)


def test_the_sensor_renders_a_pulled_submission_id(tmp_path: Path, cdm: requests_mock.Mocker) -> None:
    with a_dag(tmp_path):
        sensor = CdmJobStatusSensor(task_id="wait", job_name="{{ params.job }}", submission_id="{{ params.run }}")
        latest = CdmJobStatusSensor(task_id="latest", job_name="orders_daily", submission_id="{{ params.none }}")
    sensor.render_template_fields({"params": {"job": "orders_daily", "run": 12}})
    latest.render_template_fields({"params": {"none": None}})  # an upstream that pushed no id
    assert sensor.watched_run() == RunRef("orders_daily", CLUSTER, 12)
    assert latest.watched_run() == RunRef("orders_daily", CLUSTER, None)
    assert cdm.call_count == 0


def test_variables_fill_only_their_own_placeholders() -> None:
    job = job_definition("orders", where="order_date = '${date}' AND region = '${region}' AND note = '$date'")
    filled = apply_variables(job, {"date": "2026-11-22", "limit": 5})
    assert inputs(filled, "from-config-values")["fromJobConfig.whereClause"] == (
        "order_date = '2026-11-22' AND region = '${region}' AND note = '$date'"
    )
    assert inputs(job, "from-config-values")["fromJobConfig.whereClause"].startswith("order_date = '${date}'")
