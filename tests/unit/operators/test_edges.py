"""Branches the emulator cannot provoke, against a mocked CDM: a start racing another one, CDM's older
create-and-execute answer, a job found in no candidate cluster, stops that CDM refuses or that hang."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests_mock
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_cdm.client.exceptions import CdmJobRunningError
from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmJobTimeoutError,
    CdmStartJobOperator,
    CdmStopJobOperator,
)
from tests.jobs import job_definition
from tests.unit.client.helpers import CLUSTER, cdm_url, job_url, submission
from tests.unit.operators.helpers import RecordingTI, task_context

JOB = "orders_daily"
OTHER_CLUSTER = "0f0f0f0f-76be-4262-8697-e7af1fac7920"
RUNNING = {"errCode": "Cdm.0052", "externalMessage": f"Job[{JOB}] is running."}
NOT_FOUND = {"errCode": "Cdm.0100", "externalMessage": f"Job[{JOB}] does not exist."}


def run_json(submission_id: int, status: str, **fields: Any) -> dict[str, Any]:
    return submission(submission_id, status, JOB, **fields)


def test_a_start_racing_another_attaches_to_the_run_that_won(cdm: requests_mock.Mocker) -> None:
    cdm.get(
        job_url(JOB, "/status"),
        [
            {"json": {"submissions": []}},  # idle when read...
            {"json": {"submissions": [run_json(5, "RUNNING")]}},  # ...but somebody started it meanwhile
            {"json": {"submissions": [run_json(5, "SUCCEEDED")]}},
        ],
    )
    cdm.put(job_url(JOB, "/start"), status_code=400, json=RUNNING)
    ti = RecordingTI()
    result = CdmStartJobOperator(task_id="migrate", job_name=JOB, poll_interval=0.01).execute(task_context(ti))
    assert (result["submission_id"], result["status"], ti.xcom["submission_id"]) == (5, "SUCCEEDED", 5)


@pytest.mark.parametrize("if_running", ["fail", "restart"])
def test_a_start_racing_another_fails_unless_waiting(cdm: requests_mock.Mocker, if_running: str) -> None:
    cdm.get(job_url(JOB, "/status"), json={"submissions": []})
    cdm.put(job_url(JOB, "/start"), status_code=400, json=RUNNING)
    with pytest.raises(CdmJobRunningError, match="Cdm.0052"):
        CdmStartJobOperator(task_id="migrate", job_name=JOB, if_running=if_running).execute(task_context())


def test_a_refused_start_of_a_job_that_is_not_running_is_not_hidden(cdm: requests_mock.Mocker) -> None:
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(4, "SUCCEEDED")]})
    cdm.put(job_url(JOB, "/start"), status_code=400, json=RUNNING)
    with pytest.raises(CdmJobRunningError):
        CdmStartJobOperator(task_id="migrate", job_name=JOB).execute(task_context())


def test_create_and_start_with_cdms_older_answer_reads_the_run(cdm: requests_mock.Mocker) -> None:
    cdm.post(cdm_url("/clusters/job", cluster=None), json={"name": JOB, "validation-result": []})
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(2, "SUCCEEDED")]})
    result = CdmCreateAndStartJobOperator(task_id="copy", job=job_definition(JOB)).execute(task_context())
    assert (result["cluster_id"], result["submission_id"], result["status"]) == (CLUSTER, 2, "SUCCEEDED")


def test_create_and_start_before_cdm_reports_a_run_follows_the_run_created_after_it(cdm: requests_mock.Mocker) -> None:
    """No run in the answer and none known yet: the run is the first one created after the request."""
    now_ms = int(time.time() * 1000)
    cdm.post(cdm_url("/clusters/job", cluster=None), json={"name": JOB, "validation-result": []})
    cdm.get(
        job_url(JOB, "/status"),
        [
            {"json": {"submissions": []}},
            {"json": {"submissions": [run_json(1, "SUCCEEDED")]}},  # created long before: not ours
            {
                "json": {
                    "submissions": [run_json(None, "SUCCEEDED", **{"creation-date": now_ms, "execute-date": now_ms})]
                }
            },
        ],
    )
    ti = RecordingTI()
    operator = CdmCreateAndStartJobOperator(task_id="copy", job=job_definition(JOB), poll_interval=0.01)
    result = operator.execute(task_context(ti))
    assert result["status"] == "SUCCEEDED" and result["started_at"].startswith(time.strftime("%Y-", time.gmtime()))
    assert ti.xcom["submission_id"] is None and ti.xcom["cdm_run"]["not_before_ms"] >= now_ms - 1000
    assert cdm.call_count == 4


def test_create_and_start_refuses_to_follow_a_job_found_in_no_cluster(cdm: requests_mock.Mocker) -> None:
    cdm.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [run_json(1, "BOOTING")]})
    for cluster in (CLUSTER, OTHER_CLUSTER):
        cdm.get(job_url(JOB, cluster=cluster), status_code=400, json=NOT_FOUND)
    operator = CdmCreateAndStartJobOperator(task_id="copy", job=job_definition(JOB), clusters=[CLUSTER, OTHER_CLUSTER])
    with pytest.raises(AirflowException, match=r"found in none of the clusters \[.*\]: cannot follow its run"):
        operator.execute(task_context())


def test_a_stop_that_cdm_refuses_fails_the_task(cdm: requests_mock.Mocker) -> None:
    refusal = {"validation-result": [{"message": "Job is committing its output", "status": "ERROR"}]}
    cdm.put(job_url(JOB, "/stop"), json=refusal)
    with pytest.raises(
        AirflowException, match="CDM refused to stop job 'orders_daily' .*ERROR: Job is committing its output"
    ):
        CdmStopJobOperator(task_id="stop", job_name=JOB).execute(task_context())


def test_a_stopped_run_that_does_not_end_fails_the_task(cdm: requests_mock.Mocker) -> None:
    cdm.put(job_url(JOB, "/stop"), json={"validation-result": []})
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(3, "RUNNING")]})
    with pytest.raises(AirflowException, match="is still RUNNING 0.2 s after it was stopped"):
        CdmStopJobOperator(task_id="stop", job_name=JOB, stop_timeout=0.2).execute(task_context())


def test_a_timeout_whose_stop_cdm_refuses_says_so(cdm: requests_mock.Mocker) -> None:
    run = RunRef(JOB, CLUSTER, 3)
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(3, "RUNNING")]})
    cdm.put(job_url(JOB, "/stop"), json={"validation-result": [{"message": "busy", "status": "ERROR"}]})
    event = {"status": "timeout", "run": run.to_json(), "submission": None, "message": ""}
    with pytest.raises(CdmJobTimeoutError, match="left the CDM job as it is") as raised:
        CdmStartJobOperator(task_id="migrate", job_name=JOB).execute_complete(task_context(), event, run=run.to_json())
    assert raised.value.stopped is False
