"""CdmJobStatusSensor against a mocked CDM, for the answers the emulator never gives (NEVER_EXECUTED,
statuses CDM may add later, an empty answer forever), and its execute_complete for each event kind."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock
from airflow.providers.common.compat.sdk import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.operators.cdm import CdmJobFailedError
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from tests.unit.client.helpers import CLUSTER, job_url, shown_job, submission
from tests.unit.operators.helpers import task_context

JOB = "orders_daily"
RUN = RunRef(JOB, CLUSTER, None)


def status_answer(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"submissions": list(runs)}


def sensor(**kwargs: Any) -> CdmJobStatusSensor:
    return CdmJobStatusSensor(**{"task_id": "wait", "job_name": JOB, "poke_interval": 0.05, "timeout": 5, **kwargs})


def test_a_job_that_never_ran_is_waited_for_until_its_first_run(cdm: requests_mock.Mocker) -> None:
    """Sqoop 2 answers NEVER_EXECUTED (dated now, no id) for a job that never ran: not yet, not a failure."""
    never = submission(None, "NEVER_EXECUTED", JOB, progress=-1)
    cdm.get(
        job_url(JOB, "/status"),
        [
            {"json": status_answer(never)},
            {"json": status_answer(never)},
            {"json": status_answer(submission(3, "RUNNING", JOB))},
            {"json": status_answer(submission(3, "SUCCEEDED", JOB))},
        ],
    )
    assert sensor().execute(task_context())["status"] == "SUCCEEDED"
    assert cdm.call_count == 4


def test_failure_statuses_can_be_narrowed(cdm: requests_mock.Mocker) -> None:
    cdm.get(job_url(JOB, "/status"), json=status_answer(submission(3, "UNKNOWN", JOB)))
    lenient = sensor(success_statuses=["SUCCEEDED", "UNKNOWN"], failure_statuses=["FAILED"])
    assert lenient.poke(task_context()).xcom_value["status"] == "UNKNOWN"


@pytest.mark.parametrize("answer", [status_answer(), status_answer(submission(3, "RESUMING", JOB))])
def test_an_empty_or_unfamiliar_answer_keeps_waiting_until_the_timeout(
    cdm: requests_mock.Mocker, answer: dict[str, Any]
) -> None:
    cdm.get(job_url(JOB, "/status"), json=answer)
    assert sensor().poke(task_context()) is False
    with pytest.raises(AirflowSensorTimeout):
        sensor(timeout=0.2).execute(task_context())
    assert cdm.call_count > 3


def test_soft_fail_turns_a_failure_and_the_timeout_into_a_skip(cdm: requests_mock.Mocker) -> None:
    cdm.get(job_url(JOB, "/status"), json=status_answer(submission(3, "FAILED", JOB, **{"error-summary": "disk full"})))
    cdm.get(job_url(JOB), json=shown_job(JOB))
    with pytest.raises(AirflowSkipException, match="(?s)Skipped \\(soft_fail\\): .*error summary: disk full"):
        sensor(soft_fail=True).execute(task_context())
    cdm.get(job_url(JOB, "/status"), json=status_answer())
    with pytest.raises(AirflowSkipException):
        sensor(soft_fail=True, timeout=0.1).execute(task_context())


def as_event(
    status: str, submission_json: dict[str, Any] | None = None, message: str = "", run: RunRef = RUN
) -> dict[str, Any]:
    return {"status": status, "run": run.to_json(), "submission": submission_json, "message": message}


SUCCEEDED = Submission.from_api(submission(3, "SUCCEEDED", JOB)).to_json()
FAILED = Submission.from_api(
    submission(3, "FAILED", JOB, **{"error-summary": "disk full", "error-details": "trace"})
).to_json()


def test_execute_complete_success_returns_the_runs_json(cdm: requests_mock.Mocker) -> None:
    assert sensor().execute_complete(task_context(), as_event("success", SUCCEEDED), run=RUN.to_json()) == SUCCEEDED
    # without the run passed back (dag.test), the sensor's own fields name it
    assert sensor().execute_complete(task_context(), as_event("success", SUCCEEDED)) == SUCCEEDED
    assert cdm.call_count == 0


def test_execute_complete_failed_raises_or_skips(cdm: requests_mock.Mocker) -> None:
    with pytest.raises(
        CdmJobFailedError, match="ended with status FAILED\nerror summary: disk full\nerror details: trace"
    ):
        sensor().execute_complete(task_context(), as_event("failed", FAILED), run=RUN.to_json())
    with pytest.raises(AirflowSkipException, match="disk full"):
        sensor(soft_fail=True).execute_complete(task_context(), as_event("failed", FAILED), run=RUN.to_json())


def test_execute_complete_timeout_and_error(cdm: requests_mock.Mocker) -> None:
    timeout = as_event("timeout", None, "did not end before the deadline")
    with pytest.raises(AirflowSensorTimeout, match="did not end before the deadline"):
        sensor().execute_complete(task_context(), timeout, run=RUN.to_json())
    with pytest.raises(AirflowSkipException, match="did not end before the deadline"):
        sensor(soft_fail=True).execute_complete(task_context(), timeout, run=RUN.to_json())
    with pytest.raises(AirflowException, match="Could not watch: APIG.0301") as raised:
        sensor().execute_complete(
            task_context(), as_event("error", None, "Could not watch: APIG.0301"), run=RUN.to_json()
        )
    assert not isinstance(raised.value, (AirflowSensorTimeout, CdmJobFailedError))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], r"must be a dict; got list"),
        ({"status": "cancelled", "run": RUN.to_json()}, r"status 'cancelled'"),
        (as_event("success", SUCCEEDED, run=RunRef("other", CLUSTER)), r"about the run of CDM job 'other'"),
        (
            as_event("success", SUCCEEDED, run=RunRef(JOB, CLUSTER, 4)),
            r"about run 4 .* waits for the run of CDM job 'orders_daily'",
        ),
    ],
)
def test_execute_complete_refuses_malformed_events(cdm: requests_mock.Mocker, payload: Any, message: str) -> None:
    with pytest.raises(AirflowException, match=message):
        sensor().execute_complete(task_context(), payload, run=RUN.to_json())
    assert cdm.call_count == 0
