"""CdmHook against requests-mock: every method's request and typed result, connection handling, UI."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_mock as rm
from airflow.providers.common.compat.sdk import AirflowNotFoundException

from airflow_provider_cdm.api.statuses import ClusterStatus, JobStatus
from airflow_provider_cdm.client.exceptions import (
    CdmApiError,
    CdmAuthError,
    CdmConfigError,
    CdmJobNotFoundError,
    CdmJobNotRunningError,
    CdmThrottledError,
    CdmValidationError,
)
from airflow_provider_cdm.client.models import CreateJobResult, ValidationMessage
from airflow_provider_cdm.hooks import cdm as hook_module
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator
from tests.jobs import job_definition
from tests.unit.client.helpers import (
    AK,
    BASE,
    CLUSTER,
    IAM,
    IAM_DOMAIN,
    IAM_PASSWORD,
    IAM_USER,
    JOB,
    PROJECT,
    SECRETS,
    SECURITY_TOKEN,
    SK,
    TOKEN,
    cdm_url,
    job_url,
    last,
    read_back,
    submission,
    verify_signature,
)

SetConnection = Callable[..., dict[str, Any]]
CLUSTERS = cdm_url("/clusters", cluster=None)
TOKENS_URL = f"{IAM}/v3/auth/tokens"


def body(request: Any) -> Any:
    return json.loads(request.body)


def query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def cdm_error(code: str, message: str = "refused", status: int = 400) -> dict[str, Any]:
    return {"status_code": status, "json": {"errCode": code, "externalMessage": message}}


# --- jobs ---------------------------------------------------------------------------------------------


def test_create_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    job = job_definition(JOB)
    requests_mock.post(
        cdm_url("/cdm/job"), json={"name": JOB, "validation-result": [{"message": "slow", "status": "WARNING"}]}
    )

    result = hook.create_job(job)

    assert result == CreateJobResult(JOB, (ValidationMessage("slow", "WARNING"),))
    request = last(requests_mock)
    assert body(request) == {"jobs": [job]}
    assert request.headers["X-Project-Id"] == PROJECT
    assert verify_signature(request) == AK


def test_create_job_takes_the_jobs_body_and_another_cluster(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    job = job_definition("orders")
    requests_mock.post(cdm_url("/cdm/job", cluster="c-2"), json={"name": "orders", "validation-result": []})

    assert hook.create_job({"jobs": [job]}, cluster_id="c-2").name == "orders"
    assert body(last(requests_mock)) == {"jobs": [job]}


def test_create_job_raises_on_validation_errors(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(
        cdm_url("/cdm/job"),
        json={
            "name": "orders",
            "validation-result": [
                {"message": "Link pg_link does not exist", "status": "ERROR"},
                {"message": "slow", "status": "WARNING"},
            ],
        },
    )

    with pytest.raises(CdmValidationError, match="Link pg_link does not exist") as caught:
        hook.create_job(job_definition("orders"))
    assert caught.value.validation == ["Link pg_link does not exist", "slow"]


def test_create_and_start_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    job = job_definition(JOB)
    requests_mock.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [submission(1, "BOOTING")]})
    requests_mock.get(job_url(cluster="c-1"), json={"jobs": [read_back(job_definition(JOB, table="someone_elses"))]})
    requests_mock.get(job_url(cluster="c-2"), json={"jobs": [read_back(job)]})

    cluster, runs = hook.create_and_start_job(job, ["c-1", "c-2"])

    assert cluster == "c-2"  # CDM does not say: the hook found the job with this definition
    assert [(run.submission_id, run.status) for run in runs] == [(1, JobStatus.BOOTING)]
    request = requests_mock.request_history[0]
    assert body(request) == {"jobs": [job], "clusters": ["c-1", "c-2"]}
    assert request.headers["X-Language"] == "en-us"
    assert verify_signature(request) == AK
    assert [r.method for r in requests_mock.request_history] == ["POST", "GET", "GET"]


def test_create_and_start_job_in_the_language_the_user_asks_for(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [submission(1, "BOOTING")]})
    hook.create_and_start_job(job_definition(JOB), ["c-1"], language="zh-cn")
    assert requests_mock.request_history[0].headers["X-Language"] == "zh-cn"
    with pytest.raises(CdmConfigError, match=r"language.*got 'en-us\\r\\nX-Evil: 1'"):
        hook.create_and_start_job(job_definition(JOB), ["c-1"], language="en-us\r\nX-Evil: 1")
    assert requests_mock.call_count == 1  # refused before a request
    with pytest.raises(CdmConfigError, match="x_language: got ''"):
        CdmCreateAndStartJobOperator(task_id="t", job=job_definition(JOB), x_language="")
    assert "x_language" in CdmCreateAndStartJobOperator.template_fields


def test_create_and_start_job_cluster_unknown_when_the_job_is_found_nowhere(
    hook: CdmHook, requests_mock: rm.Mocker
) -> None:
    requests_mock.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [submission(1, "BOOTING")]})
    requests_mock.get(job_url(cluster="c-1"), **cdm_error("Cdm.0100"))
    requests_mock.get(job_url(cluster="c-2"), **cdm_error("Cdm.0001", "no such cluster"))

    cluster, runs = hook.create_and_start_job(job_definition(JOB), ["c-1", "c-2"])

    assert (cluster, len(runs)) == (None, 1)
    assert requests_mock.call_count == 1 + 1 + 1


@pytest.mark.parametrize(
    ("answer", "error", "lookups"),
    [
        (
            {"status_code": 429, "json": {"error_code": "APIG.0308", "error_msg": "over ratelimit"}},
            CdmThrottledError,
            1,
        ),
        ({"status_code": 500, "text": "down"}, CdmApiError, 3),
    ],
)
def test_a_failed_lookup_is_not_taken_for_found_nowhere(
    answer: dict[str, Any], error: type[CdmApiError], lookups: int, hook: CdmHook, requests_mock: rm.Mocker
) -> None:
    # The job runs in c-2, but c-2 cannot be asked (throttled still after the retries): say so.
    requests_mock.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [submission(1, "BOOTING")]})
    requests_mock.get(job_url(cluster="c-1"), **cdm_error("Cdm.0100"))
    requests_mock.get(job_url(cluster="c-2"), **answer)

    with pytest.raises(error) as caught:
        hook.create_and_start_job(job_definition(JOB), ["c-1", "c-2"])

    assert "/clusters/c-2/" in str(caught.value)
    assert requests_mock.call_count == 1 + 1 + lookups  # the lookup was retried (as allowed), then its error raised


def test_create_and_start_job_checks_the_job_once(
    hook: CdmHook, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[object] = []
    check = hook_module.ops.check_job
    monkeypatch.setattr(hook_module.ops, "check_job", lambda job: checks.append(job) or check(job))
    requests_mock.post(cdm_url("/clusters/job", cluster=None), json={"submissions": [submission(1, "BOOTING")]})

    assert hook.create_and_start_job(job_definition("orders"))[0] == CLUSTER
    assert len(checks) == 1
    assert not hasattr(hook, "_cluster")  # resolve_cluster_id is the one way to pick the cluster


def test_create_and_start_job_defaults_to_the_connection_cluster(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.post(cdm_url("/clusters/job", cluster=None), json={"name": "orders", "validation-result": []})

    assert hook.create_and_start_job(job_definition("orders")) == (CLUSTER, [])
    assert body(last(requests_mock))["clusters"] == [CLUSTER]


def test_start_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.put(job_url(suffix="/start"), json={"submissions": [submission(12, "BOOTING", progress=0)]})

    run = hook.start_job(JOB, variables={"date": "2025-01-01", "full": True, "days": 3})

    assert (run.job_name, run.submission_id, run.status, run.is_active) == (JOB, 12, JobStatus.BOOTING, True)
    request = last(requests_mock)
    assert request.url == job_url(suffix="/start")
    assert body(request) == {"variables": {"date": "2025-01-01", "full": "true", "days": "3"}}
    assert verify_signature(request) == AK


def test_get_job_status(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(job_url(suffix="/status"), json={"submissions": [submission(3, "SUCCEEDED", write_rows=10)]})

    run = hook.get_job_status(JOB)

    assert run is not None
    assert (run.submission_id, run.is_success, run.rows_written) == (3, True, 10)
    assert last(requests_mock).method == "GET"


def test_get_job_status_without_any_run_is_none(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(job_url(suffix="/status"), json={"submissions": []})
    assert hook.get_job_status(JOB) is None


def test_stop_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.put(
        job_url(suffix="/stop"),
        [
            {"json": {"validation-result": []}},
            {"json": {"validation-result": [{"message": "busy", "status": "ERROR"}]}},
        ],
    )

    assert hook.stop_job(JOB) == []
    assert hook.stop_job(JOB) == [ValidationMessage("busy", "ERROR")]
    assert last(requests_mock).body is None
    assert verify_signature(last(requests_mock)) == AK


def test_stop_job_without_an_active_run(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.put(job_url(suffix="/stop"), **cdm_error("Cdm.0053", f"Job[{JOB}] is not running."))

    with pytest.raises(CdmJobNotRunningError) as caught:
        hook.stop_job(JOB)
    assert caught.value.code == "Cdm.0053"


def test_delete_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.delete(job_url(), text="")

    hook.delete_job(JOB)

    assert last(requests_mock).method == "DELETE"
    assert last(requests_mock).url == job_url()


def test_get_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    job = job_definition(JOB)
    requests_mock.get(job_url(), json={"total": 1, "jobs": [read_back(job, status="SUCCEEDED")]})

    found = hook.get_job(JOB)

    assert (found.name, found.status, found.from_link) == (JOB, JobStatus.SUCCEEDED, "pg_link")
    assert found.definition() == job


def test_get_job_that_does_not_exist(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(job_url("ghost"), **cdm_error("Cdm.0100", "Job[ghost] does not exist."))
    with pytest.raises(CdmJobNotFoundError):
        hook.get_job("ghost")
    assert requests_mock.call_count == 1


def listing(names: list[str], total: int) -> dict[str, Any]:
    return {"json": {"total": total, "jobs": [{"name": name, "status": "NEW"} for name in names]}}


def test_list_jobs_walks_every_page(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    names = [f"job-{n}" for n in range(23)]
    requests_mock.get(
        cdm_url("/cdm/job/all"), [listing(names[:10], 23), listing(names[10:20], 23), listing(names[20:], 23)]
    )

    jobs = hook.list_jobs(name_filter="job", job_type="BATCH_JOB", page_size=10)

    assert [job.name for job in jobs] == names
    queries = [query(request) for request in requests_mock.request_history]
    assert [q["page_no"] for q in queries] == [["1"], ["2"], ["3"]]
    assert all(q["page_size"] == ["10"] and q["jobType"] == ["BATCH_JOB"] and q["filter"] == ["job"] for q in queries)


def test_iter_jobs_fetches_pages_as_they_are_consumed(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(cdm_url("/cdm/job/all"), [listing([f"a{n}" for n in range(10)], 30), listing(["b"], 30)])

    jobs = hook.iter_jobs(page_size=10)
    assert requests_mock.call_count == 0
    assert next(jobs).name == "a0"
    assert requests_mock.call_count == 1
    assert [job.name for job in jobs][-1] == "b"
    assert "filter" not in query(last(requests_mock))
    assert query(last(requests_mock))["jobType"] == ["NORMAL_JOB"]


def test_iter_jobs_checks_its_arguments_at_once(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    with pytest.raises(CdmConfigError, match="page_size"):
        hook.iter_jobs(page_size=500)
    assert requests_mock.call_count == 0


def test_list_jobs_stops_when_the_server_ignores_paging(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(cdm_url("/cdm/job/all"), json={"jobs": [{"name": f"j{n}"} for n in range(10)]})

    assert len(hook.list_jobs(page_size=10)) == 10
    assert requests_mock.call_count == 2


def test_update_job(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    job = job_definition(JOB)
    requests_mock.put(job_url(), json={"validation-result": [{"message": "renamed column", "status": "WARNING"}]})

    assert hook.update_job(job) == [ValidationMessage("renamed column", "WARNING")]
    assert body(last(requests_mock)) == {"jobs": [job]}


def test_update_job_that_does_not_exist(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.put(job_url(), **cdm_error("Cdm.0319", "cannot update"))
    with pytest.raises(CdmJobNotFoundError):
        hook.update_job(job_definition(JOB))


def test_list_submissions_walks_every_page(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    first = [submission(n, "SUCCEEDED", **{"creation-date": str(1_700_000_000_000 + n)}) for n in range(100, 0, -1)]
    requests_mock.get(
        cdm_url("/cdm/submissions"),
        [
            {"json": {"total": 103, "submissions": first}},
            {"json": {"total": 103, "submissions": [submission(n, "FAILED") for n in (0, -1, -2)]}},
        ],
    )

    runs = hook.list_submissions(JOB)

    assert len(runs) == 103
    assert runs[0].creation_date is not None and runs[0].creation_date.year == 2023
    assert [query(request)["page_no"] for request in requests_mock.request_history] == [["1"], ["2"]]
    assert query(last(requests_mock))["jname"] == [JOB]
    assert query(last(requests_mock))["page_size"] == ["100"]


# --- clusters -----------------------------------------------------------------------------------------


def test_list_and_get_clusters(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, json={"clusters": [{"id": CLUSTER, "name": "a", "status": "200"}]})
    requests_mock.get(cdm_url("", cluster="c-9"), json={"id": "c-9", "name": "b", "status": "900"})

    assert [(c.id, c.status) for c in hook.list_clusters()] == [(CLUSTER, ClusterStatus.NORMAL)]
    assert hook.get_cluster("c-9").status is ClusterStatus.STOPPED


# --- input and connection handling -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b", "..", "", "x" * 241])
def test_bad_job_names_are_refused_before_any_request(name: str, hook: CdmHook, requests_mock: rm.Mocker) -> None:
    for call in (
        hook.start_job,
        hook.get_job_status,
        hook.stop_job,
        hook.delete_job,
        hook.get_job,
        hook.list_submissions,
    ):
        with pytest.raises(CdmConfigError):
            call(name)
    assert requests_mock.call_count == 0


def test_bad_arguments_are_refused_before_any_request(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    with pytest.raises(CdmConfigError, match=r"variables\['when'\]"):
        hook.start_job(JOB, variables={"when": None})
    with pytest.raises(CdmConfigError, match="clusters"):
        hook.create_and_start_job(job_definition(JOB), "c-1")
    with pytest.raises(CdmConfigError, match="one job per call"):
        hook.create_job({"jobs": [job_definition("a"), job_definition("b")]})
    assert requests_mock.call_count == 0


def test_a_cluster_is_needed(set_connection: SetConnection, requests_mock: rm.Mocker) -> None:
    set_connection("cdm_nocluster", extra={"cluster_id": None})
    hook = CdmHook("cdm_nocluster")

    with pytest.raises(CdmConfigError) as caught:
        hook.get_job_status(JOB)
    assert caught.value.setting == "cluster_id"
    assert "cdm_nocluster" in str(caught.value)
    assert requests_mock.call_count == 0


def test_constructor_arguments_override_the_connection(set_connection: SetConnection, requests_mock: rm.Mocker) -> None:
    set_connection("cdm_other", extra={"region": "eu-west-101"})
    hook = CdmHook(
        "cdm_other", endpoint="http://127.0.0.1:19999", project_id="p-override", cluster_id="c-override", timeout=4
    )
    requests_mock.get("http://127.0.0.1:19999/v1.1/p-override/clusters/c-override/cdm/job/j/status", json={})

    assert hook.get_job_status("j") is None
    assert last(requests_mock).timeout == (4.0, 4.0)
    assert last(requests_mock).headers["X-Project-Id"] == "p-override"
    assert hook.settings.region == "eu-west-101"


def test_the_connection_is_read_on_first_use() -> None:
    hook = CdmHook("cdm_missing_connection")
    with pytest.raises(AirflowNotFoundException):
        hook.list_clusters()


def test_retries_follow_the_connection(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, status_code=503, text="busy")

    with pytest.raises(Exception, match="HTTP 503"):
        hook.list_clusters()
    assert requests_mock.call_count == 3


def test_secrets_are_masked(set_connection: SetConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    masked: list[str] = []
    monkeypatch.setattr(hook_module, "mask_secret", masked.append)
    set_connection("cdm_secrets", extra={"security_token": SECURITY_TOKEN})

    assert CdmHook("cdm_secrets").settings.security_token == SECURITY_TOKEN

    assert set(masked) == {SK, SECURITY_TOKEN}


def test_close_then_use_again(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, json={"clusters": []})
    hook.list_clusters()
    hook.close()
    hook.close()
    assert hook.list_clusters() == []


# --- IAM tokens across hooks -------------------------------------------------------------------------


def password_connection(set_connection: SetConnection, conn_id: str = "cdm_iam") -> None:
    set_connection(
        conn_id,
        login=IAM_USER,
        password=IAM_PASSWORD,
        extra={"auth_type": "password", "domain": IAM_DOMAIN, "iam_endpoint": IAM},
    )


def iam_answer(token: str) -> dict[str, Any]:
    return {
        "status_code": 201,
        "headers": {"X-Subject-Token": token},
        "json": {"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}},
    }


def test_the_token_is_fetched_once_for_every_hook(
    set_connection: SetConnection, requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    masked: list[str] = []
    monkeypatch.setattr(hook_module, "mask_secret", masked.append)
    password_connection(set_connection)
    requests_mock.post(TOKENS_URL, [iam_answer("iam-token-1"), iam_answer("iam-token-2")])
    requests_mock.get(CLUSTERS, json={"clusters": []})

    for _ in range(2):
        hook = CdmHook("cdm_iam")
        hook.list_clusters()
        hook.list_clusters()
        hook.close()

    assert [r.method for r in requests_mock.request_history] == ["POST", "GET", "GET", "GET", "GET"]
    assert body(requests_mock.request_history[0])["auth"]["scope"] == {"project": {"id": PROJECT}}
    assert {r.headers["X-Auth-Token"] for r in requests_mock.request_history[1:]} == {"iam-token-1"}
    assert "iam-token-1" in masked and IAM_PASSWORD in masked


def test_a_refused_token_is_refreshed_once(set_connection: SetConnection, requests_mock: rm.Mocker) -> None:
    password_connection(set_connection)
    requests_mock.post(TOKENS_URL, [iam_answer("iam-token-1"), iam_answer("iam-token-2"), iam_answer("iam-token-3")])
    refused = {"status_code": 401, "json": {"error_code": "APIG.1002", "error_msg": "Incorrect token"}}
    requests_mock.get(CLUSTERS, [refused, {"json": {"clusters": []}}, refused, refused])
    hook = CdmHook("cdm_iam")

    assert hook.list_clusters() == []
    with pytest.raises(CdmAuthError, match=r"APIG\.1002"):
        hook.list_clusters()
    gets = [r.headers["X-Auth-Token"] for r in requests_mock.request_history if r.method == "GET"]
    assert gets == ["iam-token-1", "iam-token-2", "iam-token-2", "iam-token-3"]


# --- test_connection ----------------------------------------------------------------------------------


def test_test_connection_success(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    requests_mock.get(CLUSTERS, json={"clusters": [{"id": CLUSTER, "name": "a", "status": "200"}]})
    ok, message = hook.test_connection()
    assert ok is True
    assert message == f"Connected to CDM at {BASE}: 1 cluster(s) in project {PROJECT}"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"json": {"clusters": [{"id": "another"}]}}, f"cluster {CLUSTER} is not one of the 1 cluster(s)"),
        (
            {"status_code": 401, "json": {"error_code": "APIG.0301", "error_msg": "verify aksk signature fail"}},
            "Authentication failed (check the aksk credentials)",
        ),
        ({"status_code": 403, "json": {"error_code": "APIG.0302", "error_msg": "denied"}}, "is project_id right?"),
        ({"exc": requests.exceptions.ConnectionError("refused")}, f"CDM endpoint {BASE} unreachable"),
        ({"status_code": 404, "json": {"error_code": "APIG.0101", "error_msg": "no API"}}, "CDM refused the request"),
    ],
)
def test_test_connection_says_what_failed(
    answer: dict[str, Any], expected: str, hook: CdmHook, requests_mock: rm.Mocker
) -> None:
    requests_mock.get(CLUSTERS, **answer)

    ok, message = hook.test_connection()

    assert ok is False
    assert expected in message
    assert not any(secret in message for secret in (*SECRETS, AK))


def test_test_connection_reports_bad_settings(set_connection: SetConnection, requests_mock: rm.Mocker) -> None:
    set_connection("cdm_bad", extra={"auth_type": "token", "token": None})
    ok, message = CdmHook("cdm_bad").test_connection()
    assert (ok, message.startswith("Invalid connection settings: token: missing")) == (False, True)
    assert requests_mock.call_count == 0


# --- logs, UI and import cost -------------------------------------------------------------------------


def test_hook_logs_hold_no_credentials(
    set_connection: SetConnection, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    set_connection("cdm_temp", extra={"security_token": SECURITY_TOKEN})
    password_connection(set_connection)
    requests_mock.post(TOKENS_URL, [iam_answer("iam-token-x")])
    requests_mock.get(CLUSTERS, [{"status_code": 502, "text": "busy"}, {"json": {"clusters": []}}])
    with caplog.at_level(logging.DEBUG):
        CdmHook("cdm_temp").list_clusters()
        CdmHook("cdm_iam").list_clusters()
        CdmHook("cdm_temp").test_connection()
    assert "X-Sdk-Date" in caplog.text
    for secret in (*SECRETS, AK, "iam-token-x", TOKEN):
        assert secret not in caplog.text


def test_ui_field_behaviour() -> None:
    behaviour = CdmHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema", "port"]
    assert behaviour["relabeling"]["login"] == "Access key (AK) or IAM user"
    assert behaviour["relabeling"]["password"] == "Secret key (SK) or password"
    json.dumps(behaviour)


def test_connection_form_widgets() -> None:
    widgets = CdmHook.get_connection_form_widgets()
    expected = {"region", "project_id", "auth_type", "domain", "cluster_id", "iam_endpoint", "security_token"}
    expected |= {"token", "verify", "console_url"}
    try:
        import wtforms  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        assert widgets == {}
    else:
        assert set(widgets) == expected
        assert widgets["security_token"].field_class.__name__ == "PasswordField"


def test_hook_identity() -> None:
    assert (CdmHook.conn_name_attr, CdmHook.default_conn_name, CdmHook.conn_type, CdmHook.hook_name) == (
        "cdm_conn_id",
        "cdm_default",
        "huaweicloud_cdm",
        "Huawei Cloud CDM",
    )
    assert CdmHook().cdm_conn_id == "cdm_default"


HEAVY = {"requests", "tenacity", "httpx", "urllib3", "aiohttp"}


@pytest.mark.parametrize(
    "module",
    [*sorted((Path(hook_module.__file__).parents[1] / "client").glob("*.py")), Path(hook_module.__file__)],
    ids=lambda path: path.name,
)
def test_modules_import_no_http_library_at_import_time(module: Path) -> None:
    """DAG files import the hook at every parse: requests and tenacity load only when a call is made."""
    tree = ast.parse(module.read_text())
    top_level: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.append(node.module)
    assert not {name.split(".")[0] for name in top_level} & HEAVY
