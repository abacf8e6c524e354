"""Typed results: built leniently from CDM's JSON, strict about shape, and back to plain JSON."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_cdm.api.statuses import ClusterStatus, JobStatus
from airflow_provider_cdm.client.models import (
    Cluster,
    CreateJobResult,
    Job,
    ResponseShapeError,
    Submission,
    ValidationMessage,
    epoch_ms_to_datetime,
)
from tests.jobs import job_definition
from tests.unit.client.helpers import read_back, submission

MOMENT = datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)  # 1_700_000_000_000 ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000_000, MOMENT),
        ("1700000000000", MOMENT),
        (" 1700000000000 ", MOMENT),
        (1_700_000_000_000.0, MOMENT),
        ("1700000000500", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=timezone.utc)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        (10**30, None),
    ],
)
def test_epoch_milliseconds_become_aware_utc_datetimes(value: object, expected: datetime | None) -> None:
    result = epoch_ms_to_datetime(value)
    assert result == expected
    assert result is None or result.tzinfo is timezone.utc


def succeeded() -> dict[str, Any]:
    return submission(
        7,
        "SUCCEEDED",
        progress=100,
        **{
            "creation-date": "1700000000000",
            "write_rows": "1200",
            "update_rows": 3,
            "delete_rows": 0,
            "external-id": "job_local_7",
            "isIncrementing": False,
            "counters": {
                "org.apache.sqoop.submission.counter.SqoopCounters": {
                    "BYTES_WRITTEN": 2048,
                    "ROWS_READ": "1200",
                    "ROWS_WRITTEN": 1200,
                    "NOT_A_NUMBER": "n/a",
                }
            },
        },
    )


def test_submission_from_api() -> None:
    run = Submission.from_api(succeeded())

    assert (run.job_name, run.submission_id, run.status, run.status_text) == (
        "orders to obs ✓ 订单",
        7,
        JobStatus.SUCCEEDED,
        "SUCCEEDED",
    )
    assert run.progress == 100.0
    assert run.creation_date == MOMENT
    assert run.last_update_date == datetime(2023, 11, 14, 22, 13, 22, tzinfo=timezone.utc)
    assert (run.creation_user, run.last_update_user) == ("etl_user", "etl_user")
    assert (run.rows_written, run.rows_updated, run.rows_deleted) == (1200, 3, 0)
    assert run.counters == {"BYTES_WRITTEN": 2048, "ROWS_READ": 1200, "ROWS_WRITTEN": 1200}
    assert run.external_id == "job_local_7"
    assert run.raw["isIncrementing"] is False
    assert run.is_success and run.is_terminal and not run.is_active and not run.is_failure


def test_failed_submission_carries_its_error() -> None:
    run = Submission.from_api(
        submission(3, "FAILED", progress=-1, **{"error-summary": "stopped by user", "error-details": "trace"})
    )
    assert run.is_failure and run.is_terminal and not run.is_success
    assert (run.progress, run.error_summary, run.error_details) == (-1.0, "stopped by user", "trace")
    assert run.counters == {}


def test_a_status_this_code_does_not_know_is_kept_as_text_and_is_nothing() -> None:
    run = Submission.from_api(submission(1, "SUSPENDED", **{"submission-id": "x"}))
    assert run.status is None
    assert run.status_text == "SUSPENDED"
    assert run.submission_id is None
    assert not (run.is_active or run.is_terminal or run.is_success or run.is_failure)


@pytest.mark.parametrize("status", ["BOOTING", "RUNNING", "running"])
def test_active_statuses(status: str) -> None:
    assert Submission.from_api(submission(1, status)).is_active


def test_submission_to_json_is_plain_json() -> None:
    data = Submission.from_api(succeeded()).to_json()

    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "SUCCEEDED"
    assert data["creation_date"] == "2023-11-14T22:13:20+00:00"
    assert data["counters"]["ROWS_WRITTEN"] == 1200
    assert data["submission_id"] == 7
    assert Submission.from_api(submission(1, "WEIRD")).to_json()["status"] == "WEIRD"


@pytest.mark.parametrize("bad", [None, [], "text", 3])
def test_submission_must_be_an_object(bad: object) -> None:
    with pytest.raises(ResponseShapeError):
        Submission.from_api(bad)


def test_job_definition_decodes_read_back_values_and_drops_server_fields() -> None:
    sent = job_definition("orders")
    job = Job.from_api(read_back(sent, status="RUNNING", **{"update-date": 1}))

    assert job.status is JobStatus.RUNNING
    assert (job.from_connector, job.from_link, job.to_connector, job.to_link) == (
        "generic-jdbc-connector",
        "pg_link",
        "obs-connector",
        "obs_link",
    )
    assert job.raw["from-config-values"] != sent["from-config-values"]  # encoded on the wire
    assert job.definition() == sent
    assert job.matches(sent)
    assert json.loads(json.dumps(job.to_json())) == job.to_json()
    assert job.to_json()["definition"] == sent


def test_job_definition_reads_empty_configs_cdm_sends_as_objects_as_empty_lists() -> None:
    # CDM writes an empty config's inputs as {} (the API reference's own examples): the definition has [].
    stored = read_back(job_definition("orders"))
    stored["driver-config-values"]["configs"].append({"name": "jarConfig", "inputs": {}})
    stored["to-config-values"] = {"configs": {}}
    job = Job.from_api(stored)
    assert job.definition()["driver-config-values"]["configs"][-1] == {"name": "jarConfig", "inputs": []}
    assert job.definition()["to-config-values"] == {"configs": []}


def test_job_matches_ignores_defaults_the_server_added() -> None:
    sent = job_definition("orders")
    stored = read_back(sent)
    stored["driver-config-values"]["configs"][0]["inputs"].append(
        {"name": "throttlingConfig.maxErrorRecords", "value": "0"}
    )
    assert Job.from_api(stored).matches(sent)


@pytest.mark.parametrize("encoded", [True, False])
def test_job_matches_values_read_back_encoded_or_not(encoded: bool) -> None:
    # "Values read back may be URL-encoded": a value that holds %41 must match either way.
    sent = job_definition("orders")
    sent["from-config-values"]["configs"][0]["inputs"][1]["value"] = "sales%41 100% ok"
    stored = read_back(sent) if encoded else {**sent, "status": "NEW", "id": 42}

    job = Job.from_api(stored)

    assert job.matches(sent)
    assert job.creation_date == (MOMENT if encoded else None)


def test_job_matches_does_not_decode_a_mismatch_into_a_match() -> None:
    sent = job_definition("orders")
    sent["from-config-values"]["configs"][0]["inputs"][1]["value"] = "sales%41"
    stored = read_back(job_definition("orders"))
    stored["from-config-values"]["configs"][0]["inputs"][1]["value"] = "salesB"
    assert not Job.from_api(stored).matches(sent)


@pytest.mark.parametrize(
    "change",
    [
        lambda job: job["from-config-values"]["configs"][0]["inputs"][1].update(value="customers"),
        lambda job: job.update({"to-link-name": "other_link"}),
        lambda job: job.update({"job_type": "BATCH_JOB"}),
        lambda job: job["to-config-values"]["configs"][0]["inputs"].pop(),
    ],
)
def test_job_matches_notices_a_different_definition(change: Any) -> None:
    sent = job_definition("orders")
    stored = job_definition("orders")
    change(stored)
    assert not Job.from_api(read_back(stored)).matches(sent)


def test_cluster_from_api() -> None:
    cluster = Cluster.from_api({"id": "c1", "name": "cdm-a", "status": "200", "flavor": {"id": "f"}})
    assert (cluster.id, cluster.name, cluster.status) == ("c1", "cdm-a", ClusterStatus.NORMAL)
    assert cluster.status is not None and cluster.status.can_run_jobs
    assert cluster.to_json() == {"id": "c1", "name": "cdm-a", "status": "200"}
    odd = Cluster.from_api({"id": "c2", "name": "b", "status": "777"})
    assert odd.status is None
    assert odd.to_json()["status"] == "777"


def test_validation_messages_and_create_result() -> None:
    messages = ValidationMessage.list_from(
        {"validation-result": [{"message": "bad link", "status": "error"}, {"message": "slow", "status": "WARNING"}]}
    )
    assert [(m.message, m.is_error) for m in messages] == [("bad link", True), ("slow", False)]
    assert ValidationMessage.list_from({}) == []
    with pytest.raises(ResponseShapeError):
        ValidationMessage.list_from({"validation-result": "none"})

    result = CreateJobResult("orders", (messages[1],))
    assert json.loads(json.dumps(result.to_json())) == {
        "name": "orders",
        "warnings": [{"message": "slow", "status": "WARNING"}],
    }


def test_a_job_objects_last_run_reads_as_a_submission_without_an_id() -> None:
    entry = {
        **job_definition("orders"),
        "status": "SUCCEEDED",
        "execute_create_date": 1_790_000_000_123,
        "execute_start_date": "1790000000500",  # dates may come as text
        "execute_update_date": 1_790_000_060_000,
        "rows_read": 10, "rows_written": 9, "bytes_written": 900, "files_read": "x",  # an odd value is left out
        "write_rows": 9, "external_id": "job_local1_0001",
    }  # fmt: skip
    run = Job.from_api(entry).last_run()
    assert run is not None
    assert (run.job_name, run.submission_id, run.status, run.external_id) == (
        "orders", None, JobStatus.SUCCEEDED, "job_local1_0001",
    )  # fmt: skip
    assert run.creation_date == datetime.fromtimestamp(1_790_000_000.123, tz=timezone.utc)
    assert run.execute_date == datetime.fromtimestamp(1_790_000_000.5, tz=timezone.utc)
    assert dict(run.counters) == {"ROWS_READ": 10, "ROWS_WRITTEN": 9, "BYTES_WRITTEN": 900}
    assert run.rows_written == 9 and run.progress == 100.0 and run.error_summary is None  # a success is complete
    assert Job.from_api({**entry, "execute_create_date": None}).last_run() is None  # cannot be pinned
    assert Job.from_api({**job_definition("orders"), "status": "NEW"}).last_run() is None  # never ran
