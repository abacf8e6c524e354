"""The emulator over a real loopback socket: signatures, tokens, gateway errors, quotas, faults, admin API."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
import requests

from airflow_provider_cdm.api import signer
from airflow_provider_cdm.emulator.admin import handle_admin, is_loopback
from airflow_provider_cdm.emulator.app import Request
from airflow_provider_cdm.emulator.dialects import DIALECT_ENV_VAR
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread, run_emulator

from .helpers import RUNNING_1, FakeClock, SignedClient, job_definition

# -- an independent signer, written from the algorithm text in cdm-api.md (not from api.signer) -----------


def independent_authorization(
    method: str, url: str, headers: list[tuple[str, str]], body: bytes, ak: str, sk: str, signed: list[str]
) -> str:
    parts = urlsplit(url)
    segments = [quote(unquote(segment), safe="~") for segment in parts.path.split("/")]
    uri = "/".join(segments)
    uri = uri if uri.endswith("/") else uri + "/"
    pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
    query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)
    values = {name.lower(): value.strip() for name, value in headers}
    names = sorted(name.lower() for name in signed)
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in names)
    canonical = "\n".join([method, uri, query, canonical_headers, ";".join(names), hashlib.sha256(body).hexdigest()])
    to_sign = f"SDK-HMAC-SHA256\n{values['x-sdk-date']}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
    return f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(names)}, Signature={signature}"


def test_the_independent_signer_reproduces_the_published_vector() -> None:
    authorization = independent_authorization(
        "GET",
        "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
        "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0",
        [
            ("Content-Type", "application/json"),
            ("X-Sdk-Date", "20191115T033655Z"),
            ("Host", "service.region.example.com"),
        ],
        b"",
        "QTWAOYTTINDUT2QVKYUC",
        "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc",
        ["content-type", "host", "x-sdk-date"],
    )
    assert authorization.endswith("Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe")


def sdk_date(delta: timedelta = timedelta()) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y%m%dT%H%M%SZ")


def raw_request(
    emulator: EmulatorThread, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send exactly these headers, in this order (http.client adds nothing but Content-Length)."""
    url = urlsplit(emulator.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(autouse=True)
def reference_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests assert the API reference's own answer shapes: every emulator here speaks ``reference``
    (emulator/dialects.py; the dialects themselves are test_dialects.py's)."""
    monkeypatch.setenv(DIALECT_ENV_VAR, "reference")


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with emulator_in_thread("--job-duration", "0.3") as running:
        yield running


@pytest.fixture
def client(emulator: EmulatorThread) -> SignedClient:
    return SignedClient(emulator)


def assert_gateway_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code and body["error_msg"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


def independently_signed(
    emulator: EmulatorThread,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    signed: list[str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    ak, sk = emulator.connection["login"], emulator.connection["password"]
    authorization = independent_authorization(method, emulator.url + target, headers, body, ak, sk, signed)
    return raw_request(emulator, method, target, [*headers, ("Authorization", authorization)], body)


def test_a_request_signed_by_an_independent_client_is_accepted(emulator: EmulatorThread) -> None:
    host = urlsplit(emulator.url).netloc  # 127.0.0.1:<non-default port>
    jobs = f"/v1.1/{emulator.project_id}/clusters/{RUNNING_1}/cdm/job"
    body = json.dumps({"jobs": [job_definition("nightly copy")]}).encode()
    headers = [  # not sorted, and a signed set of its own: no content-type, an extra x-trace with blanks
        ("X-Trace", "  abc  "),
        ("X-Sdk-Date", sdk_date()),
        ("Host", host),
        ("Content-Type", "application/json"),
    ]
    status, _, answer = independently_signed(emulator, "POST", jobs, headers, ["x-trace", "host", "x-sdk-date"], body)
    assert (status, json.loads(answer)) == (200, {"name": "nightly copy", "validation-result": []})

    minimal = [("Host", host), ("X-Sdk-Date", sdk_date())]
    status, _, answer = independently_signed(
        emulator, "GET", f"{jobs}/nightly%20copy/status", minimal, ["host", "x-sdk-date"]
    )
    assert (status, json.loads(answer)) == (200, {"submissions": []})

    query = "page_size=10&jname=nightly%20copy&page_no=1"  # unsorted, with an encoded space
    target = f"/v1.1/{emulator.project_id}/clusters/{RUNNING_1}/cdm/submissions?{query}"
    status, response_headers, answer = independently_signed(emulator, "GET", target, minimal, ["x-sdk-date", "host"])
    assert status == 200 and json.loads(answer) == {"submissions": [], "total": 0, "page_no": 1, "page_size": 10}
    assert response_headers["content-length"] == str(len(answer)) and response_headers["x-request-id"]

    ak, sk = emulator.connection["login"], emulator.connection["password"]
    signed_names = ["host", "x-sdk-date"]
    signed_for_target = independent_authorization("GET", emulator.url + target, minimal, b"", ak, sk, signed_names)
    tampered = target.replace("page_size=10", "page_size=20")
    status, _, answer = raw_request(emulator, "GET", tampered, [*minimal, ("Authorization", signed_for_target)])
    assert status == 401 and json.loads(answer)["error_msg"].endswith("verify aksk signature fail")


def test_bad_signatures_stale_dates_and_unknown_keys_are_refused_by_the_gateway(
    emulator: EmulatorThread, client: SignedClient
) -> None:
    assert client.cdm("GET", "/clusters").status_code == 200
    wrong = SignedClient(emulator, secret_key="not-the-secret")
    refused = assert_gateway_error(wrong.cdm("GET", "/clusters"), 401, "APIG.0301")
    assert "verify aksk signature fail" in refused["error_msg"]
    stranger = SignedClient(emulator, access_key="UNKNOWNAK")
    assert_gateway_error(stranger.cdm("GET", "/clusters"), 401, "APIG.0301")
    stale = client.cdm("GET", "/clusters", headers={"X-Sdk-Date": sdk_date(-timedelta(minutes=16))})
    assert "expired" in assert_gateway_error(stale, 401, "APIG.0301")["error_msg"]
    assert client.cdm("GET", "/clusters", headers={"X-Sdk-Date": sdk_date(-timedelta(minutes=14))}).status_code == 200
    unsigned = client.cdm("GET", "/clusters", sign=False)
    assert "x-auth-token not found" in assert_gateway_error(unsigned, 401, "APIG.0301")["error_msg"]


def iam_body(password: str = "emulator-password", scope: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "emulator_user", "password": password, "domain": {"name": "emulator_account"}}
                },
            },
            "scope": {"project": scope or {"name": "cn-north-4"}},
        }
    }


def test_iam_tokens_are_issued_used_revoked_and_expire() -> None:
    clock = FakeClock(time.time())
    with emulator_in_thread("--token-ttl", "600", clock=clock) as emulator:
        session = requests.Session()
        session.trust_env = False
        issued = session.post(f"{emulator.url}/v3/auth/tokens", json=iam_body())
        assert issued.status_code == 201
        token = issued.headers["X-Subject-Token"]
        body = issued.json()["token"]
        assert body["expires_at"].endswith("Z") and body["methods"] == ["password"] and body["catalog"] == []
        assert body["project"] == {**body["project"], "id": emulator.project_id, "name": "cn-north-4"}
        assert body["user"]["name"] == "emulator_user" and body["user"]["domain"]["name"] == "emulator_account"
        clusters = f"{emulator.url}/v1.1/{emulator.project_id}/clusters"
        assert session.get(clusters, headers={"X-Auth-Token": token}).status_code == 200

        by_id = session.post(f"{emulator.url}/v3/auth/tokens", json=iam_body(scope={"id": emulator.project_id}))
        clock.advance(601)
        expired = session.get(clusters, headers={"X-Auth-Token": by_id.headers["X-Subject-Token"]})
        assert_gateway_error(expired, 401, "APIG.0301")

        assert emulator.revoke_tokens() == 2
        assert_gateway_error(session.get(clusters, headers={"X-Auth-Token": token}), 401, "APIG.1002")
        assert_gateway_error(session.get(clusters, headers={"X-Auth-Token": "made-up"}), 401, "APIG.1002")

        refused = session.post(f"{emulator.url}/v3/auth/tokens", json=iam_body(password="wrong"))
        assert refused.status_code == 401 and "X-Subject-Token" not in refused.headers
        assert refused.json()["error"]["code"] == 401 and refused.json()["error_code"] == "IAM.0004"
        assert session.post(f"{emulator.url}/v3/auth/tokens", json={"auth": {}}).status_code == 400


def test_temporary_credentials_need_their_security_token_signed() -> None:
    temporary = ("--temp-ak", "TEMPAK", "--temp-sk", "temp-secret", "--security-token", "sec-token")
    with emulator_in_thread(*temporary, "--conn-auth", "temporary") as emulator:
        assert emulator.connection["login"] == "TEMPAK"
        assert emulator.connection["extra"]["security_token"] == "sec-token"
        client = SignedClient(emulator)
        assert client.cdm("GET", "/clusters", headers={"X-Security-Token": "sec-token"}).status_code == 200
        assert_gateway_error(client.cdm("GET", "/clusters"), 401, "APIG.0301")
        assert_gateway_error(client.cdm("GET", "/clusters", headers={"X-Security-Token": "other"}), 401, "APIG.0301")
        url = f"{emulator.url}/v1.1/{emulator.project_id}/clusters"
        headers = signer.sign("GET", url, {"Content-Type": "application/json"}, b"", "TEMPAK", "temp-secret")
        not_signed = client.session.get(url, headers={**headers, "X-Security-Token": "sec-token"})
        assert "signed x-security-token" in assert_gateway_error(not_signed, 401, "APIG.0301")["error_msg"]
        assert (
            SignedClient(emulator, "EMULATORACCESSKEY000", "emulator-secret-key-not-a-real-secret-00")
            .cdm("GET", "/clusters")
            .status_code
            == 200
        )  # the permanent pair needs no token


def test_another_project_is_forbidden(emulator: EmulatorThread, client: SignedClient) -> None:
    assert_gateway_error(client.call("GET", "/v1.1/ffffffffffffffffffffffffffffffff/clusters"), 403, "APIG.0302")
    assert_gateway_error(client.cdm("GET", "/clusters", headers={"X-Project-Id": "f" * 32}), 403, "APIG.0302")


def test_unknown_paths_and_methods_answer_apig_0101_json_never_a_traceback(
    emulator: EmulatorThread, client: SignedClient
) -> None:
    for response in (
        client.call("GET", "/nothing/here"),
        client.cdm("DELETE", "/clusters"),
        client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job/x/explode"),
        client.call("GET", "/_emulator/nothing"),
    ):
        assert_gateway_error(response, 404, "APIG.0101")
        assert response.headers["Content-Type"].startswith("application/json")
    status, headers, body = raw_request(emulator, "BREW", "/coffee", [("Host", "x")])
    assert status == 404 and json.loads(body)["error_code"] == "APIG.0101" and headers["x-request-id"]


def test_unexpected_errors_answer_cdm_0000_and_log_the_traceback_to_stderr(
    emulator: EmulatorThread, client: SignedClient, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode() -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(emulator.server.app.backend, "list_clusters", explode)
    response = client.cdm("GET", "/clusters")
    assert response.status_code == 500 and response.json()["errCode"] == "Cdm.0000"
    assert "Traceback" not in response.text and "kaboom" not in response.text
    assert "kaboom" in capfd.readouterr().err


def test_malformed_requests_answer_400_and_413(client: SignedClient) -> None:
    bad_json = client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", b"{not json")
    assert_gateway_error(bad_json, 400, "APIG.0201")
    wrong_shape = client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"job": {}})
    assert_gateway_error(wrong_shape, 400, "APIG.0201")
    huge = client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", b"x" * (1024 * 1024 + 1))
    assert huge.status_code == 413 and huge.json()["error_code"] == "APIG.0201"
    assert client.cdm("GET", "/clusters").status_code == 200  # a new connection after the 413 close


def test_create_and_execute_needs_x_language(client: SignedClient) -> None:
    body = {"jobs": [job_definition("once")], "clusters": [RUNNING_1]}
    refused = assert_gateway_error(client.cdm("POST", "/clusters/job", body), 400, "APIG.0201")
    assert "X-Language" in refused["error_msg"]
    started = client.cdm("POST", "/clusters/job", body, headers={"X-Language": "en-us"})
    assert started.status_code == 200 and started.json()["submissions"][0]["job-name"] == "once"


def test_a_full_job_lifecycle_over_http(emulator: EmulatorThread, client: SignedClient) -> None:
    base = f"/clusters/{RUNNING_1}/cdm/job"
    emulator.script_job("etl", "STUCK")  # active until stopped, however slow the machine
    assert client.cdm("POST", base, {"jobs": [job_definition("etl")]}).json()["validation-result"] == []
    assert client.cdm("GET", f"{base}/etl/status").json() == {"submissions": []}
    start = client.cdm("PUT", f"{base}/etl/start", {"variables": {"date": "2024-01-01"}})
    assert start.json()["submissions"][0]["status"] == "BOOTING"
    assert client.cdm("PUT", f"{base}/etl/start").json()["errCode"] == "Cdm.0052"
    assert client.cdm("PUT", f"{base}/etl/stop").json() == {"validation-result": []}
    assert client.cdm("PUT", f"{base}/etl/stop").json()["errCode"] == "Cdm.0053"
    status = client.cdm("GET", f"{base}/etl/status").json()["submissions"][0]
    assert status["status"] == "FAILED" and "stopped" in status["error-summary"]
    listed = client.cdm("GET", f"{base}/all?filter=et&page_size=10").json()
    assert listed["total"] == 1 and listed["jobs"][0]["status"] == "FAILED"
    assert client.cdm("GET", f"{base}/all?page_size=5").status_code == 400
    assert client.cdm("DELETE", f"{base}/etl").status_code == 200
    assert client.cdm("GET", f"{base}/etl").json()["errCode"] == "Cdm.0100"
    cluster = client.cdm("GET", f"/clusters/{RUNNING_1}").json()
    assert cluster["id"] == RUNNING_1 and cluster["status"] == "200" and cluster["instances"] == []
    assert client.cdm("GET", "/clusters/nope").json()["errCode"] == "Cdm.0001"
    assert emulator.state()["clusters"][0]["jobs"] == []  # deleted
    assert emulator.stats()["starts"] == {"etl": 1}


def test_quotas_answer_429_apig_0308_and_retry_after_only_when_asked() -> None:
    with emulator_in_thread() as emulator:
        client = SignedClient(emulator)
        emulator.set_faults(quotas=True)
        path = f"/clusters/{RUNNING_1}/cdm/job/all"
        assert all(client.cdm("GET", path).status_code == 200 for _ in range(120))
        throttled = client.cdm("GET", path)
        assert "limit:120" in assert_gateway_error(throttled, 429, "APIG.0308")["error_msg"]
        assert "Retry-After" not in throttled.headers
        assert client.cdm("GET", "/clusters").status_code == 200  # no quota documented for clusters
        emulator.set_faults(quotas=True, retry_after_s=3)
        assert client.cdm("GET", path).headers["Retry-After"] == "3"
        assert emulator.stats()["faults"]["quota"] == 2
        emulator.clear_faults()
        assert client.cdm("GET", path).status_code == 200  # off again (the command line did not ask)


def test_injected_errors_answer_before_touching_state_and_are_counted(
    emulator: EmulatorThread, client: SignedClient
) -> None:
    client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"jobs": [job_definition("etl")]})
    emulator.set_faults(error_rate=1.0, error_statuses=[503])
    refused = client.cdm("PUT", f"/clusters/{RUNNING_1}/cdm/job/etl/start")
    assert refused.status_code == 503 and refused.json()["error_code"].startswith("APIG.")
    emulator.set_faults(error_rate=1.0, error_statuses=[500])
    assert client.cdm("GET", "/clusters").json()["errCode"] == "Cdm.0000"
    emulator.clear_faults()
    assert emulator.state()["clusters"][0]["jobs"][0]["runs"] == []
    assert emulator.stats()["faults"] == {"error": 2}


def test_injected_latency_delays_the_answer(emulator: EmulatorThread, client: SignedClient) -> None:
    emulator.set_faults(latency_s=0.3)
    began = time.monotonic()
    assert client.cdm("GET", "/clusters").status_code == 200
    assert time.monotonic() - began >= 0.3
    assert emulator.stats()["faults"] == {"latency": 1}


@pytest.mark.parametrize(("phase", "applied"), [("before", False), ("after", True)])
def test_reset_drops_the_connection_before_or_after_the_backend_acts(
    emulator: EmulatorThread, client: SignedClient, phase: str, applied: bool
) -> None:
    client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"jobs": [job_definition("etl")]})
    emulator.set_faults(reset_rate=1.0, reset_phase=phase)
    with pytest.raises(requests.ConnectionError):
        client.cdm("PUT", f"/clusters/{RUNNING_1}/cdm/job/etl/start")
    emulator.clear_faults()
    runs = emulator.state()["clusters"][0]["jobs"][0]["runs"]
    assert (len(runs) == 1) is applied
    stats = emulator.stats()
    assert stats["faults"] == {f"reset_{phase}": 1} and stats["requests"]["start_job"] == {"no_response": 1}


def test_malformed_answers_are_200_with_a_body_that_is_not_json(emulator: EmulatorThread, client: SignedClient) -> None:
    emulator.set_faults(malformed_rate=1.0, seed=1)
    for _ in range(6):
        response = client.cdm("GET", "/clusters")
        assert response.status_code == 200
        with pytest.raises(ValueError):
            json.loads(response.content)
    emulator.clear_faults()
    assert emulator.stats()["faults"] == {"malformed": 6}


def test_faults_never_touch_the_admin_api_and_bad_settings_are_refused(emulator: EmulatorThread) -> None:
    emulator.set_faults(error_rate=1.0, reset_rate=1.0)
    assert emulator.stats()["faults"] == {}
    for bad in ({"error_rate": 2}, {"error_statuses": [404]}, {"reset_phase": "during"}, {"colour": 1}):
        with pytest.raises(RuntimeError, match="400"):
            emulator.set_faults(**bad)
    with pytest.raises(RuntimeError, match="400"):
        emulator.script_job("etl", "MAYBE")


def test_concurrent_starts_of_one_job_make_exactly_one_run(emulator: EmulatorThread, client: SignedClient) -> None:
    client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"jobs": [job_definition("etl")]})
    emulator.script_job("etl", "STUCK")
    barrier = threading.Barrier(16)
    results: list[tuple[int, str | None]] = []

    def start() -> None:
        own = SignedClient(emulator)
        barrier.wait()
        response = own.cdm("PUT", f"/clusters/{RUNNING_1}/cdm/job/etl/start")
        results.append((response.status_code, response.json().get("errCode")))

    threads = [threading.Thread(target=start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [(200, None)] + [(400, "Cdm.0052")] * 15
    assert emulator.stats()["starts"] == {"etl": 1}


def test_admin_script_state_stats_and_reset(emulator: EmulatorThread, client: SignedClient) -> None:
    emulator.script_job("etl", "FAILED", duration_s=0.0, error_summary="disk full", count=1)
    client.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"jobs": [job_definition("etl")]})
    failed = client.cdm("PUT", f"/clusters/{RUNNING_1}/cdm/job/etl/start", {"variables": {"d": "1"}})
    assert failed.json()["submissions"][0]["error-summary"] == "disk full"
    state = emulator.state()
    job = state["clusters"][0]["jobs"][0]
    assert (job["status"], job["active"], job["runs"][0]["variables"]) == ("FAILED", False, {"d": "1"})
    assert state["scripts"] == {} and state["quotas"] is False
    stats = emulator.stats()
    assert stats["requests"]["start_job"] == {"200": 1} and stats["creates"] == {"etl": 1}
    emulator.reset()
    assert emulator.state()["clusters"][0]["jobs"] == [] and emulator.stats()["requests"] == {}


def test_stats_split_requests_by_the_user_agent_comment_and_status() -> None:
    with emulator_in_thread() as emulator:
        client = SignedClient(emulator)
        sync, async_ = (
            {"User-Agent": "airflow-provider-cdm/1.0 (sync)"},
            {"User-Agent": "airflow-provider-cdm/1.0 (async)"},
        )
        path = f"/clusters/{RUNNING_1}/cdm/job/all"
        assert client.cdm("GET", "/clusters", headers=sync).status_code == 200
        assert client.cdm("GET", "/clusters/nope", headers=sync).status_code == 400
        emulator.set_faults(quotas=True)
        statuses = [client.cdm("GET", path, headers=async_).status_code for _ in range(121)]
        assert statuses == [200] * 120 + [429]
        assert client.cdm("GET", "/clusters").status_code == 200  # python-requests/x.y: no comment
        assert client.cdm("GET", "/clusters", headers={"User-Agent": "curl/8 ()"}).status_code == 200
        stats = emulator.stats()
        assert stats["clients"] == {"sync": {"200": 1, "400": 1}, "async": {"200": 120, "429": 1}, "other": {"200": 2}}
        assert stats["requests"]["list_jobs"] == {"200": 120, "429": 1}  # the existing keys are unchanged
        assert set(stats) == {"requests", "starts", "creates", "faults", "clients"}
        emulator.reset()
        assert emulator.stats()["clients"] == {}


def test_the_admin_api_refuses_clients_that_are_not_on_loopback(emulator: EmulatorThread) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.1.2.3") and not is_loopback("not-an-address")
    request = Request("GET", "/_emulator/state", "", {}, b"", "rid")
    assert handle_admin(emulator.server.app, request, "10.1.2.3").status == 403
    assert handle_admin(emulator.server.app, request, "127.0.0.1").status == 200


def test_keep_alive_serves_many_requests_on_one_connection(emulator: EmulatorThread) -> None:
    url = urlsplit(emulator.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        sockets, request_ids = set(), set()
        for path in ["/_emulator/state", "/nothing", "/_emulator/stats"] * 2:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            assert len(body) == int(response.headers["Content-Length"]) and json.loads(body)
            request_ids.add(response.headers["X-Request-Id"])
            sockets.add(id(connection.sock))
        assert len(sockets) == 1 and None not in sockets  # one TCP connection for all six
        assert len(request_ids) == 6
    finally:
        connection.close()


def test_connection_variants_match_the_configured_auth() -> None:
    with emulator_in_thread("--conn-auth", "password", "--cluster", "only=solo:900") as emulator:
        connection = emulator.connection
        assert (connection["login"], connection["password"]) == ("emulator_user", "emulator-password")
        assert connection["extra"]["auth_type"] == "password" and connection["extra"]["domain"] == "emulator_account"
        assert emulator.cluster_id is None  # no running cluster to point at


def test_run_emulator_prints_the_connection_and_exits_0_on_sigterm() -> None:
    with run_emulator("--job-duration", "0.1", "--region", "ap-southeast-1") as emulator:
        connection = emulator.connection
        assert connection["conn_type"] == "huaweicloud_cdm"
        assert connection["host"] == emulator.url == connection["extra"]["iam_endpoint"]
        assert connection["extra"]["region"] == "ap-southeast-1" and "auth_type" not in connection["extra"]  # aksk
        assert emulator.cluster_id == RUNNING_1 and json.loads(emulator.env["AIRFLOW_CONN_CDM_DEFAULT"]) == connection
        client = SignedClient(emulator)
        assert client.cdm("GET", "/clusters").status_code == 200
        assert emulator.stats()["requests"] == {"list_clusters": {"200": 1}}
        process = emulator.process
    assert process.returncode == 0


def test_a_port_in_use_fails_with_exit_code_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="exited with code 1"):
            with run_emulator("--port", str(port), startup_timeout=10):
                pass
