"""Bad parameters are refused, naming the value and what is expected: static ones when the DAG is parsed,
templated ones at the start of execute, before any request reaches CDM."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock

from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmDeleteJobOperator,
    CdmStartJobOperator,
    CdmStopJobOperator,
)
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from tests.jobs import job_definition
from tests.unit.operators.helpers import task_context


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="j", if_running="ignore"),
            r"if_running='ignore'.*'wait', 'fail', 'restart'",
        ),
        (
            lambda: CdmCreateJobOperator(task_id="t", job=job_definition("j"), if_exists="overwrite"),
            r"if_exists='overwrite'.*'fail', 'skip', 'update', 'replace'",
        ),
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="j", poll_interval=0),
            r"poll_interval=0 .*positive number of seconds",
        ),
        (lambda: CdmStartJobOperator(task_id="t", job_name="j", poll_interval=-5), r"poll_interval=-5 "),
        (lambda: CdmStartJobOperator(task_id="t", job_name="j", poll_interval="10"), r"poll_interval='10' "),
        (lambda: CdmStartJobOperator(task_id="t", job_name="j", timeout=0), r"timeout=0 .*or None"),
        (lambda: CdmStartJobOperator(task_id="t", job_name="j", timeout=float("inf")), r"timeout=inf "),
        (lambda: CdmCreateAndStartJobOperator(task_id="t", job=job_definition("j"), timeout=-1), r"timeout=-1 "),
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="j", success_statuses=["DONE"]),
            r"success_statuses.*'DONE'",
        ),
        (
            lambda: CdmStartJobOperator(
                task_id="t", job_name="j", success_statuses=["FAILED"], failure_statuses=["FAILED"]
            ),
            r"both success and failure",
        ),
        (
            lambda: CdmJobStatusSensor(task_id="t", job_name="j", failure_statuses=["BROKEN"]),
            r"failure_statuses.*'BROKEN'",
        ),
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="j", hook_params=["region"]),
            r"hook_params=\['region'\].*a dict",
        ),
        (lambda: CdmDeleteJobOperator(task_id="t", job_name="j", stop_timeout=0), r"stop_timeout=0 "),
        (lambda: CdmStopJobOperator(task_id="t", job_name="j", stop_timeout=None), r"stop_timeout=None "),
        (
            lambda: CdmCreateJobOperator(task_id="t", job={**job_definition("j"), "job_type": "NIGHTLY"}),
            r"job_type.*'NIGHTLY'",
        ),
        (lambda: CdmCreateAndStartJobOperator(task_id="t", job={"name": "j"}), r"from-connector-name"),
    ],
)
def test_static_parameters_are_checked_when_the_dag_is_parsed(make: Any, message: str) -> None:
    with requests_mock.Mocker() as mocker, pytest.raises((ValueError, TypeError), match=message):
        make()
    assert mocker.call_count == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CdmStartJobOperator(task_id="t", job_name="daily/orders"), r"job_name.*'/'"),
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="x" * 241),
            r"job_name: is 241 characters long; expected at most 240",
        ),
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="j", variables={"date": ["2026"]}),
            r"variables\['date'\].*string, number or boolean",
        ),
        (
            lambda: CdmStartJobOperator(task_id="t", job_name="j", variables="date=2026"),
            r"variables: got a str; expected a mapping",
        ),
        (lambda: CdmStartJobOperator(task_id="t", job_name="j", cluster_id="a/b"), r"cluster_id.*'/'"),
        (lambda: CdmStopJobOperator(task_id="t", job_name=".."), r"job_name"),
        (lambda: CdmDeleteJobOperator(task_id="t", job_name=""), r"job_name"),
        (lambda: CdmCreateJobOperator(task_id="t", job='{"name": "j"'), r"job: .*invalid JSON"),
        (lambda: CdmCreateJobOperator(task_id="t", job="orders.json"), r"looks like a file name"),
        (
            lambda: CdmCreateAndStartJobOperator(task_id="t", job=job_definition("j"), clusters="c1"),
            r"clusters: got 'c1'; expected a non-empty list",
        ),
        (
            lambda: CdmCreateAndStartJobOperator(task_id="t", job=job_definition("j"), clusters=[]),
            r"clusters: got \[\]",
        ),
        (
            lambda: CdmCreateAndStartJobOperator(task_id="t", job=job_definition("j"), variables={"d": None}),
            r"variables\['d'\]",
        ),
        (
            lambda: CdmJobStatusSensor(task_id="t", job_name="j", submission_id="latest"),
            r"submission_id: got 'latest'; expected a CDM submission id",
        ),
        (lambda: CdmJobStatusSensor(task_id="t", job_name="j/k"), r"job_name"),
    ],
)
def test_rendered_parameters_are_checked_before_any_request(cdm: requests_mock.Mocker, make: Any, message: str) -> None:
    operator = make()
    run = operator.poke if isinstance(operator, CdmJobStatusSensor) else operator.execute
    with pytest.raises(CdmConfigError, match=message):
        run(task_context())
    assert cdm.call_count == 0


def test_a_missing_cluster_is_refused_before_any_request(
    cdm: requests_mock.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CDM_NOCLUSTER",
        '{"conn_type": "huaweicloud_cdm", "host": "http://127.0.0.1:1", "login": "AK", "password": "SK12345",'
        ' "extra": {"project_id": "p", "region": "r"}}',
    )
    with pytest.raises(
        CdmConfigError, match=r"cluster_id: not given, and connection 'cdm_nocluster' has no cluster_id extra"
    ):
        CdmStartJobOperator(task_id="t", job_name="j", cdm_conn_id="cdm_nocluster").execute(task_context())
    assert cdm.call_count == 0


def test_valid_parameters_are_kept() -> None:
    operator = CdmStartJobOperator(
        task_id="t",
        job_name="j",
        poll_interval=0.5,
        timeout=60,
        success_statuses=["succeeded", "unknown"],
        failure_statuses=["FAILED", "FAILURE_ON_SUBMIT"],
    )
    assert (operator.poll_interval, operator.timeout, operator.if_running) == (0.5, 60.0, "wait")
    assert operator.rules.to_json()["success"] == ["SUCCEEDED", "UNKNOWN"]
    assert operator.rules.to_json()["failure"] == ["FAILED", "FAILURE_ON_SUBMIT"]
    # A template or an XCom reference cannot be checked before it is rendered: accepted now.
    assert CdmCreateJobOperator(task_id="c", job="{{ var.json.orders_job }}").job == "{{ var.json.orders_job }}"
