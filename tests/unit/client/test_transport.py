"""The sync transport against requests-mock: headers, retries, reconciliation, token refresh, redaction."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import requests_mock as rm

from airflow_provider_cdm.api import endpoints, signer
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.auth import TokenCache
from airflow_provider_cdm.client.exceptions import (
    CdmApiError,
    CdmAuthError,
    CdmJobExistsError,
    CdmJobNotFoundError,
    CdmJobRunningError,
    CdmThrottledError,
    CdmValidationError,
)
from airflow_provider_cdm.client.models import CreateJobResult
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.transport import SyncTransport, redact_headers
from tests.jobs import job_definition
from tests.unit.client.helpers import (
    AK,
    CLUSTER,
    IAM,
    IAM_DOMAIN,
    IAM_PASSWORD,
    IAM_USER,
    JOB,
    PROJECT,
    SECRETS,
    SECURITY_TOKEN,
    TOKEN,
    cdm_url,
    job_url,
    last,
    read_back,
    submission,
    verify_signature,
)

Build = Callable[..., SyncTransport]
CLUSTERS = cdm_url("/clusters", cluster=None)
CLUSTERS_BODY = {"clusters": [{"id": CLUSTER, "name": "cdm-a", "status": "200"}]}
TOKENS_URL = f"{IAM}/v3/auth/tokens"
START = job_url(suffix="/start")
STATUS = job_url(suffix="/status")
CREATE = cdm_url("/cdm/job")
CREATE_AND_START = cdm_url("/clusters/job", cluster=None)


def cdm_error(code: str, message: str = "refused", status: int = 400) -> dict[str, Any]:
    return {"status_code": status, "json": {"errCode": code, "externalMessage": message}}


def calls(mocker: rm.Mocker) -> list[str]:
    return [f"{request.method} {request.path.rsplit('/', 1)[-1]}" for request in mocker.request_history]


def iam_answer(token: str) -> dict[str, Any]:
    return {
        "status_code": 201,
        "headers": {"X-Subject-Token": token},
        "json": {"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}},
    }


def password_transport(make_transport: Build, **overrides: Any) -> SyncTransport:
    return make_transport(
        auth_type="password", login=IAM_USER, password=IAM_PASSWORD, domain=IAM_DOMAIN, iam_endpoint=IAM, **overrides
    )


# --- one request ------------------------------------------------------------------------------------


def test_request_headers_and_signature(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, json=CLUSTERS_BODY)

    clusters = transport.execute(ops.list_clusters())

    assert [cluster.id for cluster in clusters] == [CLUSTER]
    request = last(requests_mock)
    assert request.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert request.headers["X-Project-Id"] == PROJECT
    assert verify_signature(request) == AK
    assert signer.parse_authorization(request.headers["Authorization"]).signed_headers == (
        "content-type",
        "host",
        "x-project-id",
        "x-sdk-date",
    )
    assert request.timeout == (10.0, 60.0)
    assert request.verify is True or isinstance(request.verify, str)  # True, or REQUESTS_CA_BUNDLE from the env


def test_timeouts_verification_and_proxies_come_from_the_settings(
    make_transport: Build, requests_mock: rm.Mocker
) -> None:
    transport = make_transport(
        connect_timeout_s=2, read_timeout_s=7, verify=False, proxies={"http": "http://127.0.0.1:3128"}
    )
    requests_mock.get(CLUSTERS, json=CLUSTERS_BODY)

    transport.execute(ops.list_clusters())

    request = last(requests_mock)
    assert (request.timeout, request.verify) == ((2, 7), False)
    assert request.proxies["http"] == "http://127.0.0.1:3128"


def test_one_session_serves_every_call(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, json=CLUSTERS_BODY)
    session = transport.session
    transport.execute(ops.list_clusters())
    transport.execute(ops.list_clusters())
    assert transport.session is session
    transport.close()
    assert transport.session is not session


def test_an_escaped_job_name_is_sent_and_signed(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.get(STATUS, json={"submissions": [submission(2, "RUNNING")]})

    run = transport.execute(ops.job_status(CLUSTER, JOB))

    assert run is not None and run.job_name == JOB
    assert last(requests_mock).url == STATUS
    assert "%E8%AE%A2%E5%8D%95" in STATUS
    assert verify_signature(last(requests_mock)) == AK


def test_validation_errors_become_api_errors(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        CREATE, json={"name": "orders", "validation-result": [{"message": "no link", "status": "ERROR"}]}
    )

    with pytest.raises(CdmValidationError) as caught:
        transport.execute(ops.create_job(CLUSTER, job_definition("orders")))

    assert caught.value.validation == ["no link"]
    assert str(caught.value) == f"no link (HTTP 200, POST /v1.1/{PROJECT}/clusters/{CLUSTER}/cdm/job)"
    assert requests_mock.call_count == 1


# --- retries ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(
    status: int, transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(CLUSTERS, [{"status_code": status, "text": "busy"}, {"json": CLUSTERS_BODY}])

    assert len(transport.execute(ops.list_clusters())) == 1
    assert requests_mock.call_count == 2
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [("3", 3.0), ("0", 0.0), ("30", 30.0), (None, 1.0)],  # 30 s: above max_backoff_s (8), still honoured
)
def test_throttling_is_retried_after_the_advised_wait(
    retry_after: str | None, wait: float, transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    throttled = {
        "status_code": 429,
        "json": {"error_code": "APIG.0308", "error_msg": "over ratelimit"},
        "headers": {"Retry-After": retry_after} if retry_after else {},
    }
    requests_mock.get(CLUSTERS, [throttled, {"json": CLUSTERS_BODY}])

    transport.execute(ops.list_clusters())

    assert sleeps == [wait]


@pytest.mark.parametrize("retry_after", ["600", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_throttling_that_outlasts_the_time_budget_ends_at_once(
    retry_after: str, transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    throttled = {"error_code": "APIG.0308", "error_msg": "over ratelimit"}
    requests_mock.get(CLUSTERS, status_code=429, json=throttled, headers={"Retry-After": retry_after})

    with pytest.raises(CdmThrottledError, match="APIG.0308"):
        transport.execute(ops.list_clusters())  # throttling's budget is 300 s: waiting 600 s is no use

    assert requests_mock.call_count == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ConnectionError, requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout],
)
def test_transport_failures_are_retried(
    failure: type[Exception], transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(CLUSTERS, [{"exc": failure}, {"exc": failure}, {"json": CLUSTERS_BODY}])

    transport.execute(ops.list_clusters())

    assert requests_mock.call_count == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"errCode": "Cdm.0001", "externalMessage": "no such cluster"}, CdmApiError),
        (401, {"error_code": "APIG.0301", "error_msg": "verify aksk signature fail"}, CdmAuthError),
        (403, {"error_code": "APIG.0302", "error_msg": "no access"}, CdmAuthError),
        (404, {"error_code": "APIG.0101", "error_msg": "no such API"}, CdmApiError),
    ],
)
def test_client_errors_are_not_retried(
    status: int,
    body: dict[str, str],
    error: type[CdmApiError],
    transport: SyncTransport,
    requests_mock: rm.Mocker,
    sleeps: list[float],
) -> None:
    requests_mock.get(CLUSTERS, status_code=status, json=body)

    with pytest.raises(error) as caught:
        transport.execute(ops.list_clusters())

    assert caught.value.http_status == status
    assert requests_mock.call_count == 1
    assert sleeps == []


def test_a_server_error_carrying_a_definite_cdm_refusal_is_not_retried(
    transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(STATUS, **cdm_error("Cdm.0100", "Job does not exist.", status=500))

    with pytest.raises(CdmJobNotFoundError) as caught:
        transport.execute(ops.job_status(CLUSTER, JOB))

    assert (caught.value.http_status, caught.value.code) == (500, "Cdm.0100")
    assert (requests_mock.call_count, sleeps) == (1, [])


def test_a_start_refused_as_running_with_http_500_adopts_nothing(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    # CDM answered (with a 500): the start was refused, so the active run is someone else's.
    requests_mock.put(START, **cdm_error("Cdm.0052", "Job is running.", status=500))
    requests_mock.get(STATUS, json={"submissions": [submission(9, "RUNNING", **{"creation-date": ms_from_now(0)})]})

    with pytest.raises(CdmJobRunningError):
        transport.execute(ops.start_job(CLUSTER, JOB))
    assert calls(requests_mock) == ["PUT start"]


@pytest.mark.parametrize(
    "answer",
    [
        cdm_error("Cdm.0000", "System error", status=500),
        cdm_error("Cdm.9999", "something new", status=500),
        {"status_code": 500, "text": "Internal Server Error"},
    ],
)
def test_a_server_error_without_a_definite_refusal_stays_transient(
    answer: dict[str, Any], transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(STATUS, [answer, {"json": {"submissions": [submission(3, "RUNNING")]}}])

    assert transport.execute(ops.job_status(CLUSTER, JOB)).submission_id == 3
    assert sleeps == [1.0]


def test_attempts_are_bounded(transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    requests_mock.get(CLUSTERS, status_code=503, json={"errCode": "Cdm.0000", "externalMessage": "System error"})

    with pytest.raises(CdmApiError) as caught:
        transport.execute(ops.list_clusters())

    assert str(caught.value) == f"Cdm.0000: System error (HTTP 503, GET /v1.1/{PROJECT}/clusters)"
    assert requests_mock.call_count == 4
    assert sleeps == [1.0, 2.0, 4.0]


def test_total_time_is_bounded(make_transport: Build, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    policy = RetryPolicy(max_attempts=100, max_elapsed_s=6, initial_backoff_s=1, max_backoff_s=100, jitter=False)
    transport = make_transport(retry=policy)
    requests_mock.get(CLUSTERS, status_code=502, text="bad gateway")

    with pytest.raises(CdmApiError):
        transport.execute(ops.list_clusters())

    assert sleeps == [1.0, 2.0, 3.0]
    assert requests_mock.call_count == 4


def test_a_transport_failure_after_the_retries_is_an_api_error(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    requests_mock.get(CLUSTERS, exc=requests.exceptions.ConnectTimeout("connect timed out"))

    with pytest.raises(CdmApiError) as caught:
        transport.execute(ops.list_clusters())

    error = caught.value
    assert (error.http_status, error.code, error.method) == (None, None, "GET")
    assert str(error) == f"Could not connect to CDM: connect timed out (GET /v1.1/{PROJECT}/clusters)"
    assert isinstance(error.__cause__, requests.exceptions.ConnectTimeout)
    assert requests_mock.call_count == 4


def test_unreadable_answers_are_retried_then_reported(
    transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(CLUSTERS, [{"text": "<html>oops"}, {"json": CLUSTERS_BODY}])
    assert len(transport.execute(ops.list_clusters())) == 1

    requests_mock.get(CLUSTERS, json={"clusters": "not a list"})
    with pytest.raises(CdmApiError, match="Unreadable answer from CDM") as caught:
        transport.execute(ops.list_clusters())
    assert caught.value.http_status == 200


def test_answers_of_the_wrong_shape_are_not_retried(
    transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]
) -> None:
    requests_mock.get(CLUSTERS, json={"clusters": "not a list"})  # valid JSON: asking again gets the same
    with pytest.raises(CdmApiError, match="clusters is not a JSON array"):
        transport.execute(ops.list_clusters())
    assert (requests_mock.call_count, sleeps) == (1, [])

    requests_mock.put(START, json={"submissions": "none"})
    requests_mock.get(STATUS, json={"submissions": [submission(9, "RUNNING")]})
    with pytest.raises(CdmApiError, match="submissions is not a JSON array"):
        transport.execute(ops.start_job(CLUSTER, JOB))
    assert calls(requests_mock)[1:] == ["PUT start"]  # no status probe, no re-send


def test_truncated_answers_are_retried(transport: SyncTransport, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    whole = json.dumps(CLUSTERS_BODY)
    requests_mock.get(CLUSTERS, [{"text": whole[: len(whole) // 2]}, {"text": ""}, {"json": CLUSTERS_BODY}])

    assert len(transport.execute(ops.list_clusters())) == 1
    assert (requests_mock.call_count, sleeps) == (3, [1.0, 2.0])


def test_tls_failures_are_not_retried(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, exc=requests.exceptions.SSLError("certificate verify failed"))

    with pytest.raises(CdmApiError, match="check 'verify'"):
        transport.execute(ops.list_clusters())
    assert requests_mock.call_count == 1


# --- calls that are not safe to repeat ------------------------------------------------------------


def test_without_a_reconciler_an_ambiguous_failure_is_not_retried(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    blind = ops.CdmCall(endpoints.CREATE_JOB, lambda document: document, {"cluster_id": CLUSTER}, body={"jobs": []})
    requests_mock.post(CREATE, [{"status_code": 503, "text": "busy"}, {"exc": requests.exceptions.ReadTimeout}])

    with pytest.raises(CdmApiError):
        transport.execute(blind)
    with pytest.raises(CdmApiError, match="No answer from CDM within 60 s"):
        transport.execute(blind)
    assert requests_mock.call_count == 2


@pytest.mark.parametrize(
    "first",
    [
        {"exc": requests.exceptions.ConnectTimeout},
        {"status_code": 429, "json": {"error_code": "APIG.0308", "error_msg": "over ratelimit"}},
    ],
)
def test_a_start_that_certainly_did_not_arrive_is_resent_without_checks(
    first: dict[str, Any], transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    requests_mock.put(START, [first, {"json": {"submissions": [submission(4, "BOOTING")]}}])

    assert transport.execute(ops.start_job(CLUSTER, JOB)).submission_id == 4
    assert calls(requests_mock) == ["PUT start", "PUT start"]


def test_create_lost_answer_then_exists_with_our_definition_is_a_success(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    job = job_definition(JOB)
    requests_mock.post(CREATE, [{"exc": requests.exceptions.ReadTimeout}, cdm_error("Cdm.0104", "exists")])
    requests_mock.get(job_url(), json={"total": 1, "jobs": [read_back(job)]})

    result = transport.execute(ops.create_job(CLUSTER, job))

    assert result == CreateJobResult(name=JOB)
    assert [request.method for request in requests_mock.request_history] == ["POST", "POST", "GET"]


def test_create_lost_answer_then_exists_with_another_definition_fails(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(CREATE, [{"status_code": 502, "text": "bad gateway"}, cdm_error("Cdm.0104", "exists")])
    requests_mock.get(job_url(), json={"jobs": [read_back(job_definition(JOB, table="customers"))]})

    with pytest.raises(CdmJobExistsError, match=r"Cdm\.0104: exists"):
        transport.execute(ops.create_job(CLUSTER, job_definition(JOB)))
    assert [request.method for request in requests_mock.request_history] == ["POST", "POST", "GET"]


def test_create_of_an_existing_job_fails_at_once(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.post(CREATE, **cdm_error("Cdm.0104", "exists"))

    with pytest.raises(CdmJobExistsError):
        transport.execute(ops.create_job(CLUSTER, job_definition(JOB)))
    assert requests_mock.call_count == 1


def test_start_lost_answer_adopts_the_active_run(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.put(START, exc=requests.exceptions.ReadTimeout)
    requests_mock.get(STATUS, json={"submissions": [submission(9, "RUNNING")]})

    run = transport.execute(ops.start_job(CLUSTER, JOB, {"day": "2025-01-01"}))

    assert (run.submission_id, run.is_active) == (9, True)
    assert calls(requests_mock) == ["PUT start", "GET status"]


def test_start_that_did_not_take_effect_is_resent(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.put(START, [{"status_code": 502, "text": "bad gateway"}, {"json": {"submissions": [submission(6)]}}])
    requests_mock.get(STATUS, json={"submissions": [submission(5, "SUCCEEDED")]})

    assert transport.execute(ops.start_job(CLUSTER, JOB)).submission_id == 6
    assert calls(requests_mock) == ["PUT start", "GET status", "PUT start"]


def test_start_adopts_a_run_newer_than_the_first_check(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.put(START, exc=requests.exceptions.ReadTimeout)
    requests_mock.get(
        STATUS, [{"json": {"submissions": []}}, {"json": {"submissions": [submission(1, "FAILURE_ON_SUBMIT")]}}]
    )

    run = transport.execute(ops.start_job(CLUSTER, JOB))

    assert (run.submission_id, run.is_failure) == (1, True)
    assert calls(requests_mock) == ["PUT start", "GET status", "PUT start", "GET status"]


def ms_from_now(offset_s: float) -> int:
    return int((time.time() + offset_s) * 1000)


def http_date(offset_s: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=offset_s), usegmt=True)


def test_start_lost_answer_adopts_a_run_that_already_ended(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.put(START, exc=requests.exceptions.ReadTimeout)
    ended = submission(8, "FAILURE_ON_SUBMIT", **{"creation-date": ms_from_now(0)})
    requests_mock.get(STATUS, json={"submissions": [ended]})

    run = transport.execute(ops.start_job(CLUSTER, JOB))

    assert (run.submission_id, run.status_text) == (8, "FAILURE_ON_SUBMIT")
    assert calls(requests_mock) == ["PUT start", "GET status"]


@pytest.mark.parametrize(("created_s", "adopted"), [(0.5, True), (-60.0, False)])
def test_start_reconciliation_reads_cdm_clock_from_date_headers(
    created_s: float, adopted: bool, transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    skew = -3600.0  # CDM's clock runs an hour behind this machine's
    cdm_now = {"Date": http_date(skew)}
    requests_mock.put(
        START,
        [{"status_code": 502, "text": "bad gateway", "headers": cdm_now}, {"json": {"submissions": [submission(9)]}}],
    )
    ended = submission(8, "SUCCEEDED", **{"creation-date": ms_from_now(skew + created_s)})
    requests_mock.get(STATUS, json={"submissions": [ended]}, headers=cdm_now)

    run = transport.execute(ops.start_job(CLUSTER, JOB))

    assert run.submission_id == (8 if adopted else 9)
    assert calls(requests_mock).count("PUT start") == (1 if adopted else 2)


def test_start_refused_as_running_after_a_lost_answer_adopts_the_run(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    requests_mock.put(START, [{"exc": requests.exceptions.ReadTimeout}, cdm_error("Cdm.0052", "Job is running.")])
    requests_mock.get(
        STATUS,
        [
            {"json": {"submissions": [submission(5, "SUCCEEDED")]}},
            {"json": {"submissions": [submission(6, "BOOTING")]}},
        ],
    )

    assert transport.execute(ops.start_job(CLUSTER, JOB)).submission_id == 6
    assert calls(requests_mock) == ["PUT start", "GET status", "PUT start", "GET status"]


def test_start_refused_as_running_by_someone_else_stays_an_error(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    requests_mock.put(START, **cdm_error("Cdm.0052", "Job is running."))

    with pytest.raises(CdmJobRunningError):
        transport.execute(ops.start_job(CLUSTER, JOB))
    assert calls(requests_mock) == ["PUT start"]


def test_create_and_start_lost_answer_finds_the_job_and_its_run(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    job = job_definition(JOB)
    requests_mock.post(CREATE_AND_START, exc=requests.exceptions.ReadTimeout)
    requests_mock.get(job_url(cluster="c1"), **cdm_error("Cdm.0100", "no such job"))
    requests_mock.get(job_url(cluster="c2"), json={"jobs": [read_back(job)]})
    ours = submission(1, "BOOTING", **{"creation-date": ms_from_now(0)})  # created by the lost attempt
    requests_mock.get(job_url(suffix="/status", cluster="c2"), json={"submissions": [ours]})

    cluster, runs = transport.execute(ops.create_and_start_job(job, ["c1", "c2"]))

    assert cluster == "c2"
    assert [run.submission_id for run in runs] == [1]
    assert [request.method for request in requests_mock.request_history] == ["POST", "GET", "GET", "GET"]
    first = requests_mock.request_history[0]
    assert first.headers["X-Language"] == "en-us"
    assert "x-language" in signer.parse_authorization(first.headers["Authorization"]).signed_headers


@pytest.mark.parametrize("status", ["SUCCEEDED", "RUNNING"])
def test_create_and_start_does_not_adopt_an_older_run_of_a_job_of_that_name(
    status: str, transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    # Yesterday's job (same name and definition) with its run; today's POST got a gateway 503.
    job = job_definition(JOB)
    requests_mock.post(CREATE_AND_START, status_code=503, json={"error_code": "APIG.0202", "error_msg": "busy"})
    requests_mock.get(job_url(cluster="c1"), json={"jobs": [read_back(job)]})
    yesterday = submission(1, status, **{"creation-date": ms_from_now(-86_400)})
    requests_mock.get(job_url(suffix="/status", cluster="c1"), json={"submissions": [yesterday]})

    with pytest.raises(CdmJobExistsError, match=r"already exists in cluster c1 .*latest run 1 .*predates") as caught:
        transport.execute(ops.create_and_start_job(job, ["c1"]))

    assert JOB in str(caught.value)
    assert [request.method for request in requests_mock.request_history] == ["POST", "GET", "GET"]


def test_create_and_start_adopts_a_job_created_since_the_first_look(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    # Not there at the first look, there at the second (the first POST was only slow): its active run is
    # ours even without a creation date.
    job = job_definition(JOB)
    requests_mock.post(CREATE_AND_START, [{"status_code": 503}, {"exc": requests.exceptions.ReadTimeout}])
    requests_mock.get(job_url(cluster="c1"), [cdm_error("Cdm.0100"), {"json": {"jobs": [read_back(job)]}}])
    undated = submission(1, "RUNNING", **{"creation-date": None})
    requests_mock.get(job_url(suffix="/status", cluster="c1"), json={"submissions": [undated]})

    cluster, runs = transport.execute(ops.create_and_start_job(job, ["c1"]))

    assert (cluster, [run.submission_id for run in runs]) == ("c1", [1])
    assert [request.method for request in requests_mock.request_history] == ["POST", "GET", "POST", "GET", "GET"]


def test_create_and_start_not_found_anywhere_is_resent(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.post(CREATE_AND_START, [{"status_code": 503}, {"json": {"submissions": [submission(1, "BOOTING")]}}])
    requests_mock.get(job_url(cluster="c1"), **cdm_error("Cdm.0100"))
    requests_mock.get(job_url(cluster="c2"), **cdm_error("Cdm.0001", "no such cluster"))

    cluster, runs = transport.execute(ops.create_and_start_job(job_definition(JOB), ["c1", "c2"]))

    assert (cluster, len(runs)) == (None, 1)
    assert [request.method for request in requests_mock.request_history] == ["POST", "GET", "GET", "POST"]


def test_create_and_start_finding_another_job_of_that_name_fails(
    transport: SyncTransport, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(CREATE_AND_START, exc=requests.exceptions.ReadTimeout)
    requests_mock.get(job_url(cluster="c1"), json={"jobs": [read_back(job_definition(JOB, table="other"))]})

    with pytest.raises(CdmJobExistsError, match="different definition"):
        transport.execute(ops.create_and_start_job(job_definition(JOB), ["c1"]))
    assert requests_mock.call_count == 2


def test_a_probe_that_fails_ends_the_call(transport: SyncTransport, requests_mock: rm.Mocker) -> None:
    requests_mock.put(START, exc=requests.exceptions.ReadTimeout)
    requests_mock.get(STATUS, **cdm_error("Cdm.0100", "Job does not exist."))

    with pytest.raises(CdmJobNotFoundError):
        transport.execute(ops.start_job(CLUSTER, JOB))
    assert calls(requests_mock) == ["PUT start", "GET status"]


# --- tokens -------------------------------------------------------------------------------------------


def test_password_auth_refreshes_a_refused_token_once(make_transport: Build, requests_mock: rm.Mocker) -> None:
    transport = password_transport(make_transport)
    requests_mock.post(TOKENS_URL, [iam_answer("tok-1"), iam_answer("tok-2")])
    requests_mock.get(
        CLUSTERS,
        [{"status_code": 401, "json": {"error_code": "APIG.1002", "error_msg": "bad token"}}, {"json": CLUSTERS_BODY}],
    )

    transport.execute(ops.list_clusters())

    sent_tokens = [r.headers.get("X-Auth-Token") for r in requests_mock.request_history if r.method == "GET"]
    assert sent_tokens == ["tok-1", "tok-2"]
    assert sum(r.method == "POST" for r in requests_mock.request_history) == 2


def test_a_second_401_is_an_auth_error(make_transport: Build, requests_mock: rm.Mocker, sleeps: list[float]) -> None:
    transport = password_transport(make_transport)
    requests_mock.post(TOKENS_URL, [iam_answer("tok-1"), iam_answer("tok-2")])
    requests_mock.get(CLUSTERS, status_code=401, json={"error_code": "APIG.1002", "error_msg": "bad token"})

    with pytest.raises(CdmAuthError, match=r"APIG\.1002"):
        transport.execute(ops.list_clusters())
    assert [r.method for r in requests_mock.request_history] == ["POST", "GET", "POST", "GET"]
    assert sleeps == []


def test_the_token_is_shared_and_its_fetch_retried(make_transport: Build, requests_mock: rm.Mocker) -> None:
    cache = TokenCache()
    first, second = (password_transport(make_transport, token_cache=cache) for _ in range(2))
    requests_mock.post(TOKENS_URL, [{"status_code": 503, "text": "busy"}, iam_answer("tok-1")])
    requests_mock.get(CLUSTERS, json=CLUSTERS_BODY)

    first.execute(ops.list_clusters())
    second.execute(ops.list_clusters())

    assert [r.method for r in requests_mock.request_history] == ["POST", "POST", "GET", "GET"]
    assert {r.headers["X-Auth-Token"] for r in requests_mock.request_history if r.method == "GET"} == {"tok-1"}
    assert "Authorization" not in last(requests_mock).headers


def test_a_static_token_is_sent_and_not_refreshed(make_transport: Build, requests_mock: rm.Mocker) -> None:
    transport = make_transport(auth_type="token", token=TOKEN)
    requests_mock.get(CLUSTERS, status_code=401, json={"error_code": "APIG.1002", "error_msg": "bad token"})

    with pytest.raises(CdmAuthError):
        transport.execute(ops.list_clusters())
    assert requests_mock.call_count == 1
    assert last(requests_mock).headers["X-Auth-Token"] == TOKEN


# --- logs ---------------------------------------------------------------------------------------------


def test_redact_headers() -> None:
    assert redact_headers({"Authorization": "a", "x-auth-token": "b", "X-Security-Token": "c", "Host": "h"}) == {
        "Authorization": "***",
        "x-auth-token": "***",
        "X-Security-Token": "***",
        "Host": "h",
    }


def test_logs_hold_no_credentials(
    make_transport: Build, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.post(TOKENS_URL, [iam_answer("fetched-token-0001"), iam_answer("fetched-token-0002")])
    requests_mock.get(
        CLUSTERS,
        [
            {"status_code": 503, "text": "busy"},
            {"json": CLUSTERS_BODY},
            {"status_code": 401, "json": {"error_code": "APIG.0301", "error_msg": "verify aksk signature fail"}},
        ],
    )
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_cdm"):
        temporary = make_transport(security_token=SECURITY_TOKEN)
        temporary.execute(ops.list_clusters())  # a retry, then success
        with pytest.raises(CdmAuthError):
            temporary.execute(ops.list_clusters())  # failure
        requests_mock.get(CLUSTERS, [{"status_code": 401, "json": {}}, {"json": CLUSTERS_BODY}])
        password_transport(make_transport).execute(ops.list_clusters())  # token fetch and refresh

    text = caplog.text
    assert "Authorization" in text and "***" in text and f"/v1.1/{PROJECT}/clusters" in text
    assert "retrying in" in text
    for secret in (*SECRETS, AK, "fetched-token-0001", "fetched-token-0002"):
        assert secret not in text
    body = json.dumps({"password": IAM_PASSWORD})
    assert body not in text
