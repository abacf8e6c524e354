"""CdmHook against a real emulator process over loopback: every job operation, every auth mode, errors."""

from __future__ import annotations

import json
import time

import pytest
import requests

from airflow_provider_cdm.api.statuses import ClusterStatus, JobStatus
from airflow_provider_cdm.client.exceptions import (
    CdmApiError,
    CdmAuthError,
    CdmJobExistsError,
    CdmJobNotFoundError,
    CdmJobNotRunningError,
    CdmJobRunningError,
)
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.conftest import IAM_DOMAIN, IAM_PASSWORD, IAM_USER
from tests.jobs import job_definition

pytestmark = pytest.mark.integration


def wait_until_terminal(hook: CdmHook, job_name: str, cluster_id: str | None = None, timeout: float = 20) -> Submission:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        submission = hook.get_job_status(job_name, cluster_id=cluster_id)
        if submission is not None and submission.is_terminal:
            return submission
        time.sleep(0.1)
    raise AssertionError(f"{job_name} did not end within {timeout} s")


@pytest.fixture
def hook(emulator: EmulatorProcess) -> CdmHook:
    return CdmHook()


def test_connection_test_succeeds_and_names_auth_failures(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CdmHook().test_connection()[0] is True
    wrong = dict(emulator.connection, password="not-the-secret-key")
    monkeypatch.setenv("AIRFLOW_CONN_CDM_WRONG", json.dumps(wrong))
    ok, message = CdmHook("cdm_wrong").test_connection()
    assert ok is False
    assert "APIG.0301" in message
    assert "not-the-secret-key" not in message


def test_clusters(hook: CdmHook, emulator: EmulatorProcess) -> None:
    clusters = hook.list_clusters()
    assert emulator.cluster_id in {c.id for c in clusters}
    assert any(c.status is ClusterStatus.STOPPED for c in clusters)
    assert hook.get_cluster(emulator.cluster_id).status is ClusterStatus.NORMAL


def test_create_show_update_list_delete(hook: CdmHook) -> None:
    definition = job_definition("orders copy")  # a space: the name is escaped in every path
    assert hook.create_job(definition).name == "orders copy"

    job = hook.get_job("orders copy")
    assert job.status is JobStatus.NEW
    inputs = {i["name"]: i["value"] for c in job.definition()["from-config-values"]["configs"] for i in c["inputs"]}
    assert inputs["fromJobConfig.whereClause"] == "order_date = '${date}'"  # percent-encoded on the wire

    changed = job_definition("orders copy", table="orders_v2")
    assert [m for m in hook.update_job(changed) if m.status == "ERROR"] == []
    inputs = {
        i["name"]: i["value"]
        for c in hook.get_job("orders copy").definition()["from-config-values"]["configs"]
        for i in c["inputs"]
    }
    assert inputs["fromJobConfig.tableName"] == "orders_v2"

    hook.delete_job("orders copy")
    with pytest.raises(CdmJobNotFoundError):
        hook.get_job("orders copy")


def test_list_jobs_walks_every_page(hook: CdmHook) -> None:
    for index in range(23):
        hook.create_job(job_definition(f"bulk_{index:02d}"))
    hook.create_job(job_definition("other"))
    names = [job.name for job in hook.list_jobs(name_filter="bulk_", page_size=10)]
    assert sorted(names) == [f"bulk_{index:02d}" for index in range(23)]
    assert len(hook.list_jobs()) == 24


def test_start_with_variables_runs_to_success_with_counters(hook: CdmHook, emulator: EmulatorProcess) -> None:
    hook.create_job(job_definition("orders"))
    started = hook.start_job("orders", variables={"date": "2026-11-22", "batch": 7})
    assert started.status is JobStatus.BOOTING
    assert started.creation_date is not None  # the run's identity when CDM sends no id (sparse, row 12)

    with pytest.raises(CdmJobRunningError) as running:
        hook.start_job("orders")
    assert "Cdm.0052" in str(running.value)
    assert "/cdm/job/orders/start" in str(running.value)

    final = wait_until_terminal(hook, "orders")
    assert final.status is JobStatus.SUCCEEDED
    assert final.submission_id == (started.submission_id or final.submission_id)  # sparse start answers: no id
    assert final.creation_date == started.creation_date  # the same run
    assert final.progress == 100
    assert final.counters["ROWS_WRITTEN"] > 0
    json.dumps(final.to_json())  # XCom-ready

    history = hook.list_submissions("orders")
    assert [s.submission_id for s in history] == [final.submission_id]
    runs = [job for cluster in emulator.state()["clusters"] for job in cluster["jobs"] if job["name"] == "orders"]
    assert runs[0]["runs"][0]["variables"] == {"date": "2026-11-22", "batch": "7"}
    assert emulator.stats()["starts"]["orders"] == 1


def test_never_started_job_has_no_status(hook: CdmHook) -> None:
    hook.create_job(job_definition("idle"))
    assert hook.get_job_status("idle") is None


def test_failed_run_carries_cdm_error_summary(hook: CdmHook, emulator: EmulatorProcess) -> None:
    hook.create_job(job_definition("doomed"))
    emulator.script_job("doomed", "FAILED", duration_s=0.3, error_summary="ORA-00942: table or view does not exist")
    hook.start_job("doomed")
    final = wait_until_terminal(hook, "doomed")
    assert final.status is JobStatus.FAILED
    assert final.error_summary is not None and "ORA-00942" in final.error_summary


def test_stop_ends_a_run_and_a_second_stop_says_not_running(hook: CdmHook, emulator: EmulatorProcess) -> None:
    hook.create_job(job_definition("endless"))
    emulator.script_job("endless", "STUCK")
    hook.start_job("endless")
    assert [m for m in hook.stop_job("endless") if m.status == "ERROR"] == []
    final = wait_until_terminal(hook, "endless")
    assert final.status is JobStatus.FAILED
    with pytest.raises(CdmJobNotRunningError):
        hook.stop_job("endless")


def test_create_twice_is_job_exists(hook: CdmHook) -> None:
    hook.create_job(job_definition("dup"))
    with pytest.raises(CdmJobExistsError):
        hook.create_job(job_definition("dup", table="something_else"))


def test_create_and_start_in_a_random_running_cluster(hook: CdmHook, emulator: EmulatorProcess) -> None:
    clusters = {c.id: c for c in hook.list_clusters()}
    running = [cid for cid, c in clusters.items() if c.status is ClusterStatus.NORMAL]
    stopped = [cid for cid, c in clusters.items() if c.status is not ClusterStatus.NORMAL]
    cluster_id, submissions = hook.create_and_start_job(job_definition("anywhere"), clusters=running + stopped)
    assert cluster_id in running
    assert submissions and submissions[0].job_name == "anywhere"
    assert wait_until_terminal(hook, "anywhere", cluster_id=cluster_id).is_success


def test_unknown_cluster_is_an_api_error(hook: CdmHook) -> None:
    with pytest.raises(CdmApiError) as error:
        hook.get_job_status("x", cluster_id="no-such-cluster")
    assert error.value.code == "Cdm.0001"


def _password_connection(emulator: EmulatorProcess) -> dict[str, object]:
    extra = dict(emulator.connection["extra"], auth_type="password", domain=IAM_DOMAIN)
    return dict(emulator.connection, login=IAM_USER, password=IAM_PASSWORD, extra=extra)


def test_password_auth_fetches_a_token_once_and_again_after_revocation(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CDM_IAM", json.dumps(_password_connection(emulator)))
    hook = CdmHook("cdm_iam")
    hook.list_clusters()
    CdmHook("cdm_iam").list_clusters()  # the process-wide cache serves a second hook
    assert sum(emulator.stats()["requests"]["iam_token"].values()) == 1
    emulator.revoke_tokens()
    assert hook.list_clusters()  # 401, one new token, the call succeeds
    assert emulator.stats()["requests"]["iam_token"] == {"201": 2}


def test_static_token_auth_and_revoked_token(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = {
        "methods": ["password"],
        "password": {"user": {"name": IAM_USER, "password": IAM_PASSWORD, "domain": {"name": IAM_DOMAIN}}},
    }
    answer = requests.post(
        f"{emulator.url}/v3/auth/tokens",
        json={"auth": {"identity": identity, "scope": {"project": {"id": emulator.project_id}}}},
        timeout=10,
    )
    assert answer.status_code == 201
    token = answer.headers["X-Subject-Token"]
    extra = dict(emulator.connection["extra"], auth_type="token", token=token)
    monkeypatch.setenv(
        "AIRFLOW_CONN_CDM_TOKEN", json.dumps(dict(emulator.connection, login=None, password=None, extra=extra))
    )
    assert CdmHook("cdm_token").list_clusters()
    emulator.revoke_tokens()
    with pytest.raises(CdmAuthError) as error:
        CdmHook("cdm_token").list_clusters()
    assert error.value.code in ("APIG.1002", "APIG.0301")  # unknown token: 1002 (reference) or 0301 (row 11)
    assert token not in str(error.value)


def test_transient_faults_are_survived_without_duplicates(emulator: EmulatorProcess) -> None:
    hook = CdmHook(retry_policy={"initial_backoff_s": 0.05, "max_backoff_s": 0.5})
    emulator.set_faults(error_rate=0.3, error_statuses=[500, 502, 503], reset_rate=0.2, seed=7)
    hook.create_job(job_definition("flaky"))
    hook.start_job("flaky")
    final = wait_until_terminal(hook, "flaky")
    emulator.clear_faults()
    assert final.is_success
    stats = emulator.stats()
    assert stats["creates"]["flaky"] == 1
    assert stats["starts"]["flaky"] == 1
    assert sum(stats["faults"].values()) > 0
