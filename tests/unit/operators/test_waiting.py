"""execute_complete for every event kind and for malformed events, and the waits' run binding, against
a mocked CDM that records every request (so a test also proves which requests were, or were not, sent)."""

from __future__ import annotations

from typing import Any

import pytest
import requests_mock
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_cdm.api.counters import COUNTER_NAMES
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.operators._waiting import failure_message, run_result
from airflow_provider_cdm.operators.cdm import CdmJobFailedError, CdmJobTimeoutError, CdmStartJobOperator
from airflow_provider_cdm.progress import outcome_text, progress_text
from tests.unit.client.helpers import CLUSTER, cdm_url, job_url, shown_job, submission
from tests.unit.operators.helpers import RecordingTI, task_context

JOB = "orders_daily"
RUN = RunRef(JOB, CLUSTER, 7, 1_700_000_000_000)
COUNTERS = {
    "org.apache.sqoop.submission.counter.SqoopCounters": {
        "ROWS_READ": 10,
        "ROWS_WRITTEN": 9,
        "BYTES_READ": 640,
        "BYTES_WRITTEN": 576,
    }
}


def run_json(submission_id: int, status: str, **fields: Any) -> dict[str, Any]:
    """A Submission as CDM sends it, for this job."""
    return submission(submission_id, status, JOB, **fields)


def as_event_submission(submission_id: int, status: str, **fields: Any) -> dict[str, Any]:
    """A Submission as the trigger's event carries it (``Submission.to_json()``)."""
    return Submission.from_api(run_json(submission_id, status, **fields)).to_json()


SUCCEEDED = as_event_submission(7, "SUCCEEDED", progress=100.0, counters=COUNTERS, write_rows=9)
FAILED = as_event_submission(
    7,
    "FAILED",
    progress=-1,
    **{"error-summary": "Table orders does not exist", "error-details": "SqoopException: no such table"},
)


def event(status: str, submission: Any = None, run: Any = None, message: str = "") -> dict[str, Any]:
    return {
        "status": status,
        "run": RUN.to_json() if run is None else run,
        "submission": submission,
        "message": message,
    }


def operator(**kwargs: Any) -> CdmStartJobOperator:
    return CdmStartJobOperator(task_id="migrate", job_name=JOB, **kwargs)


def complete(op: CdmStartJobOperator, payload: Any, **kwargs: Any) -> Any:
    return op.execute_complete(task_context(), payload, **{"run": RUN.to_json(), **kwargs})


def test_success_returns_the_json_result_without_a_request(cdm: requests_mock.Mocker) -> None:
    result = complete(operator(), event("success", SUCCEEDED, message="done"))
    assert result == {
        "job_name": JOB,
        "cluster_id": CLUSTER,
        "submission_id": 7,
        "status": "SUCCEEDED",
        "progress": 100.0,
        "rows_read": 10,
        "rows_written": 9,
        "bytes_read": 640,
        "bytes_written": 576,
        "counters": {
            **dict.fromkeys(COUNTER_NAMES),  # every documented counter, None where CDM did not report it
            "ROWS_READ": 10,
            "ROWS_WRITTEN": 9,
            "BYTES_READ": 640,
            "BYTES_WRITTEN": 576,
        },
        "started_at": "2023-11-14T22:13:21+00:00",
        "ended_at": "2023-11-14T22:13:22+00:00",
    }
    assert cdm.call_count == 0


def test_failed_raises_with_cdms_status_summary_and_details(cdm: requests_mock.Mocker) -> None:
    with pytest.raises(CdmJobFailedError) as raised:
        complete(operator(), event("failed", FAILED, message="run 7 failed"))
    message = str(raised.value)
    assert f"run 7 of CDM job '{JOB}' in cluster {CLUSTER} ended with status FAILED" in message
    assert "error summary: Table orders does not exist" in message
    assert "error details: SqoopException: no such table" in message
    assert raised.value.run == RUN and raised.value.submission == FAILED
    assert cdm.call_count == 0


def test_failed_without_a_submission_uses_the_events_message(cdm: requests_mock.Mocker) -> None:
    with pytest.raises(CdmJobFailedError, match="failed: the run was superseded and is not in the history"):
        complete(operator(), event("failed", None, message="the run was superseded and is not in the history"))


def test_error_raises_the_triggers_reason_and_stops_the_run_it_gives_up_on(cdm: requests_mock.Mocker) -> None:
    """The task fails without an outcome: its run must not go on unwatched (found in a real deployment)."""
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(7, "RUNNING")]})
    cdm.put(job_url(JOB, "/stop"), json={"validation-result": []})
    with pytest.raises(
        AirflowException, match=r"Waiting for run 7 of CDM job 'orders_daily'.*failed: APIG.0301: bad signature"
    ) as raised:
        complete(operator(), event("error", message="APIG.0301: bad signature"))
    assert not isinstance(raised.value, CdmJobFailedError)
    assert [request.method for request in cdm.request_history] == ["GET", "PUT"]


def test_an_error_after_the_run_ended_stops_nothing_and_a_failed_stop_keeps_the_error(
    cdm: requests_mock.Mocker,
) -> None:
    cdm.get(job_url(JOB, "/status"), [{"json": {"submissions": [run_json(7, "SUCCEEDED")]}}, {"status_code": 401}])
    with pytest.raises(AirflowException, match="failed: lost"):
        complete(operator(), event("error", message="lost"))
    assert [request.method for request in cdm.request_history] == ["GET"]
    with pytest.raises(AirflowException, match="failed: lost again"):  # the stop's own 401 is only logged
        complete(operator(), event("error", message="lost again"))


def test_timeout_stops_the_run_it_waited_for(cdm: requests_mock.Mocker) -> None:
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(7, "RUNNING")]})
    cdm.put(job_url(JOB, "/stop"), json={"validation-result": []})
    with pytest.raises(CdmJobTimeoutError) as raised:
        complete(operator(timeout=60), event("timeout", as_event_submission(7, "RUNNING")), started_at=0.0)
    assert raised.value.stopped is True
    assert f"run 7 of CDM job '{JOB}' in cluster {CLUSTER} had not finished after" in str(raised.value)
    assert "(timeout 60 s); stopped the CDM job" in str(raised.value)
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in cdm.request_history] == [("GET", "status"), ("PUT", "stop")]


def test_timeout_never_stops_another_run(cdm: requests_mock.Mocker) -> None:
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(8, "RUNNING")]})  # ours ended; someone started 8
    with pytest.raises(CdmJobTimeoutError, match="left the CDM job as it is") as raised:
        complete(operator(), event("timeout"))
    assert raised.value.stopped is False and raised.value.elapsed_s is None
    assert [r.method for r in cdm.request_history] == ["GET"]


def test_timeout_without_stop_on_timeout_sends_nothing(cdm: requests_mock.Mocker) -> None:
    with pytest.raises(CdmJobTimeoutError, match="left the CDM job as it is"):
        complete(operator(stop_on_timeout=False), event("timeout"), started_at=0.0)
    assert cdm.call_count == 0


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, r"event must be a dict; got NoneType None"),
        ("success", r"event must be a dict; got str 'success'"),
        ({"status": "done", "run": RUN.to_json()}, r"status 'done'; expected one of success, failed, timeout, error"),
        ({"run": RUN.to_json()}, r"status None"),
        ({"status": "success", "submission": SUCCEEDED}, r"names no run \(run=None\)"),
        ({"status": "success", "run": {"job_name": JOB}, "submission": SUCCEEDED}, r"names no run"),
        (
            event("success", SUCCEEDED, run={**RUN.to_json(), "submission_id": 6}),
            r"about run 6 of CDM job 'orders_daily'.*waits for run 7",
        ),
        (event("success", SUCCEEDED, run={**RUN.to_json(), "job_name": "other"}), r"about run 7 of CDM job 'other'"),
        (event("failed", ["FAILED"]), r"submission=\['FAILED'\]; expected a dict or None"),
        (event("success", None), r"success event carries no submission"),
    ],
)
def test_malformed_events_are_refused_naming_the_problem(cdm: requests_mock.Mocker, payload: Any, message: str) -> None:
    with pytest.raises(AirflowException, match=message):
        complete(operator(), payload)
    assert cdm.call_count == 0


def test_without_the_run_passed_back_the_tasks_own_xcom_names_it(cdm: requests_mock.Mocker) -> None:
    """dag.test() resumes a deferred task with the event only: the run comes from the cdm_run XCom."""
    ti = RecordingTI(task_id="migrate", map_index=3)
    ti.xcom["cdm_run"] = RUN.to_json()
    assert operator().execute_complete(task_context(ti), event("success", SUCCEEDED))["submission_id"] == 7
    assert ti.pulls == [{"task_ids": "migrate", "key": "cdm_run", "map_indexes": 3}]
    ti.xcom["cdm_run"] = {**RUN.to_json(), "submission_id": 8}
    with pytest.raises(AirflowException, match="about run 7 .* but this task waits for run 8"):
        operator().execute_complete(task_context(ti), event("success", SUCCEEDED))
    with pytest.raises(
        AirflowException, match="deferred on is unknown: not passed back to execute_complete and no 'cdm_run' XCom"
    ):
        operator().execute_complete(task_context(RecordingTI()), event("success", SUCCEEDED))
    assert cdm.call_count == 0


def test_a_run_that_a_newer_one_followed_is_read_from_the_history(cdm: requests_mock.Mocker) -> None:
    cdm.get(
        job_url(JOB, "/status"), [{"json": {"submissions": []}}, {"json": {"submissions": [run_json(8, "RUNNING")]}}]
    )
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    history = [run_json(8, "RUNNING"), run_json(7, "SUCCEEDED", counters=COUNTERS)]
    cdm.get(cdm_url("/cdm/submissions"), json={"submissions": history, "total": 2})
    ti = RecordingTI()
    result = operator(poll_interval=0.01).execute(task_context(ti))
    assert (result["submission_id"], result["status"], result["rows_written"]) == (7, "SUCCEEDED", 9)
    assert ti.xcom["submission_id"] == 7


def test_a_superseded_run_missing_from_the_history_fails(cdm: requests_mock.Mocker) -> None:
    cdm.get(
        job_url(JOB, "/status"), [{"json": {"submissions": []}}, {"json": {"submissions": [run_json(8, "RUNNING")]}}]
    )
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    cdm.get(cdm_url("/cdm/submissions"), json={"submissions": [run_json(8, "RUNNING")], "total": 1})
    with pytest.raises(
        CdmJobFailedError, match="run 7 of CDM job 'orders_daily'.* was followed by run 8 and is not in the run history"
    ):
        operator(poll_interval=0.01).execute(task_context())


def test_the_previous_runs_success_is_not_this_runs_result(cdm: requests_mock.Mocker) -> None:
    """The status read right after the start may still show the run before ours."""
    status = [
        {"json": {"submissions": [run_json(6, "SUCCEEDED")]}},  # before the start: idle
        {"json": {"submissions": [run_json(6, "SUCCEEDED")]}},  # CDM has not caught up yet
        {"json": {"submissions": [run_json(7, "FAILED", **{"error-summary": "disk full"})]}},
    ]
    cdm.get(job_url(JOB, "/status"), status)
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    cdm.get(job_url(JOB), json=shown_job(JOB))  # does CDM retry the failed run? (no: no retryJobType)
    with pytest.raises(CdmJobFailedError, match="error summary: disk full"):
        operator(poll_interval=0.01).execute(task_context())
    assert cdm.call_count == 5  # start, 3 status reads, and the job's options once the run failed


def test_an_empty_status_answer_is_never_success(cdm: requests_mock.Mocker) -> None:
    cdm.get(job_url(JOB, "/status"), json={"submissions": []})
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    cdm.put(
        job_url(JOB, "/stop"),
        status_code=400,
        json={"errCode": "Cdm.0053", "externalMessage": "Job[orders_daily] is not running."},
    )
    with pytest.raises(
        CdmJobTimeoutError, match=r"had not finished after 0\.[0-9] s \(timeout 0.2 s\); left the CDM job as it is"
    ):
        operator(poll_interval=0.05, timeout=0.2).execute(task_context())
    assert all(r.method == "GET" for r in cdm.request_history[2:])  # no stop: CDM shows no active run of ours


def test_result_and_messages_helpers() -> None:
    assert progress_text(None) == "no run yet"
    assert (
        progress_text(as_event_submission(7, "RUNNING", progress=42.5, write_rows=18917))
        == "RUNNING, 42.5%, 18,917 rows written"
    )
    assert progress_text(as_event_submission(7, "RUNNING", progress=42.0)) == "RUNNING, 42%"  # one format
    assert progress_text(SUCCEEDED) == "SUCCEEDED, 100%, 9 rows written"
    assert outcome_text(SUCCEEDED).startswith("SUCCEEDED")
    assert "wrote 9 rows (576 B)" in outcome_text(SUCCEEDED)
    assert failure_message(RUN, None, "lost") == f"run 7 of CDM job '{JOB}' in cluster {CLUSTER} failed: lost"
    running = run_result(RUN, as_event_submission(7, "RUNNING", write_rows=3))
    assert (running["ended_at"], running["rows_written"]) == (None, None)  # as counters.ROWS_WRITTEN: no result yet
    assert running["counters"] == dict.fromkeys(COUNTER_NAMES)  # the same keys, whatever CDM reported
