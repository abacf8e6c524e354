"""Cluster start, stop and restart over HTTP: the answers' shapes, the refusals, the admin API, the hook."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from airflow_provider_cdm.api.cluster_actions import restart_body, start_body, stop_body
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.emulator.testing import EmulatorError, EmulatorThread, emulator_in_thread
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.unit.emulator.helpers import RUNNING_1, RUNNING_2, STOPPED, SignedClient, job_definition

pytestmark = pytest.mark.integration

TRANSITION_S = 0.3


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorThread]:
    """The raw answer shapes are the reference's here (CI also runs under `sparse`); the sparse test sets its own."""
    args = ("--dialect", "reference", "--cluster-transition-s", str(TRANSITION_S), "--job-duration", "30")
    with emulator_in_thread(*args) as running:
        monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", running.connection_json)
        yield running


@pytest.fixture
def client(emulator: EmulatorThread) -> SignedClient:
    return SignedClient(emulator)


def action(client: SignedClient, cluster_id: str, body: object) -> tuple[int, object]:
    response = client.cdm("POST", f"/clusters/{cluster_id}/action", body)
    return response.status_code, response.json()


def statuses_until(client: SignedClient, cluster_id: str, target: str, timeout: float = 10.0) -> list[str]:
    """The distinct statuses show-cluster gives until ``target``, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = client.cdm("GET", f"/clusters/{cluster_id}").json()["status"]
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == target:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"{cluster_id} did not reach {target} within {timeout} s: {seen}")


def test_start_stop_and_restart_answer_their_job_ids_and_move_the_status(client: SignedClient) -> None:
    status, answer = action(client, STOPPED, start_body())
    assert status == 200 and isinstance(answer, dict)
    assert isinstance(answer["jobId"], list) and len(answer["jobId"]) == 1 and isinstance(answer["jobId"][0], str)
    assert statuses_until(client, STOPPED, "200") == ["920", "200"]

    status, answer = action(client, STOPPED, restart_body())
    assert status == 200 and isinstance(answer, dict) and isinstance(answer["jobId"], str)
    assert statuses_until(client, STOPPED, "200") == ["500", "200"]

    status, answer = action(client, STOPPED, stop_body("GRACEFULLY", 10))
    assert status == 200 and isinstance(answer, dict) and isinstance(answer["jobId"], list)
    assert statuses_until(client, STOPPED, "900") == ["910", "900"]


def test_refusals_bad_bodies_and_unknown_clusters(emulator: EmulatorThread, client: SignedClient) -> None:
    status, answer = action(client, RUNNING_1, start_body())
    assert status == 400 and isinstance(answer, dict) and answer["errCode"] == "Cdm.0401"
    assert "200 (Normal)" in answer["externalMessage"]
    status, answer = action(client, STOPPED, stop_body())
    assert status == 400 and isinstance(answer, dict) and "900 (Stopped)" in answer["externalMessage"]
    status, answer = action(client, RUNNING_1, {"stop": {"stopMode": "SLOWLY"}})
    assert status == 400 and isinstance(answer, dict) and answer["error_code"].endswith(".0201")
    assert "'SLOWLY'" in answer["error_msg"]
    assert action(client, RUNNING_1, {"start": {}, "stop": {}})[0] == 400
    status, answer = action(client, "no-such-cluster", start_body())
    assert status == 400 and isinstance(answer, dict) and answer["errCode"] == "Cdm.0001"
    assert emulator.stats()["requests"]["cluster_action"] == {"400": 5}
    assert emulator.cluster(RUNNING_1)["status"] == "200"  # nothing was started


def test_admin_scripts_a_failure_and_sets_a_status(emulator: EmulatorThread, client: SignedClient) -> None:
    view = emulator.script_cluster(RUNNING_2, duration_s=0.1)
    assert view["script"] == {"outcome": "failed", "duration_s": 0.1}
    assert action(client, RUNNING_2, restart_body())[0] == 200
    assert statuses_until(client, RUNNING_2, "300") == ["500", "300"]
    assert emulator.cluster(RUNNING_2)["view"]["statusDetail"] == "Failed"
    assert emulator.set_cluster_status(RUNNING_2, 900)["status"] == "900"
    assert action(client, RUNNING_2, start_body())[0] == 200
    assert statuses_until(client, RUNNING_2, "200") == ["920", "200"]
    assert emulator.cluster(RUNNING_2)["action_counts"] == {"restart": 1, "start": 1}
    assert emulator.stats()["requests"]["cluster_action"] == {"200": 2}
    emulator.reset()
    assert emulator.cluster(RUNNING_2)["status"] == "200" and emulator.cluster(STOPPED)["status"] == "900"
    with pytest.raises(EmulatorError, match="Cdm.0001"):
        emulator.cluster("no-such-cluster")
    with pytest.raises(EmulatorError, match="status"):
        emulator.set_cluster_status(RUNNING_2, "123")


def test_a_stop_fails_the_runs_and_refuses_new_starts(client: SignedClient) -> None:
    base = f"/clusters/{RUNNING_1}/cdm/job"
    assert client.cdm("POST", base, {"jobs": [job_definition("etl")]}).status_code == 200
    assert client.cdm("PUT", f"{base}/etl/start", {"variables": {}}).status_code == 200
    assert action(client, RUNNING_1, stop_body())[0] == 200
    run = client.cdm("GET", f"{base}/etl/status").json()["submissions"][0]
    assert run["status"] == "FAILED" and "was stopped" in run["error-summary"]
    refused = client.cdm("PUT", f"{base}/etl/start", {"variables": {}}).json()
    assert refused["errCode"] == "Cdm.0037" and "Stopping (910), not running" in refused["externalMessage"]


def test_the_sparse_dialect_sends_actions_as_a_string(emulator: EmulatorThread, client: SignedClient) -> None:
    emulator.set_dialect("sparse")
    emulator.script_cluster(STOPPED, "ok", duration_s=5.0)
    action(client, STOPPED, start_body())
    assert client.cdm("GET", f"/clusters/{STOPPED}").json()["actions"] == "STARTING"
    listed = client.cdm("GET", "/clusters").json()["clusters"]
    assert [c["actions"] for c in listed if c["id"] == STOPPED] == ["STARTING"]


def test_the_hook_starts_stops_and_restarts_a_cluster(emulator: EmulatorThread, client: SignedClient) -> None:
    hook = CdmHook()
    assert len(hook.start_cluster(STOPPED)) == 1
    assert statuses_until(client, STOPPED, "200")[-1] == "200"
    assert len(hook.restart_cluster(STOPPED)) == 1  # the string answer, as a list
    assert statuses_until(client, STOPPED, "200")[-1] == "200"
    assert len(hook.stop_cluster(STOPPED, stop_mode="GRACEFULLY", delay_time=5)) == 1
    assert statuses_until(client, STOPPED, "900")[-1] == "900"
    with pytest.raises(CdmApiError, match="Cdm.0401"):
        hook.stop_cluster(STOPPED)
