"""Auth strategies: AK/SK signatures a gateway accepts, static tokens, and the shared IAM token cache."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest

from airflow_provider_cdm.api import signer
from airflow_provider_cdm.client.answers import HttpRequest, HttpResponse
from airflow_provider_cdm.client.auth import AkSkAuth, CachedToken, PasswordTokenAuth, StaticTokenAuth, TokenCache
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmAuthError
from tests.unit.client.helpers import (
    AK,
    BASE,
    IAM,
    IAM_DOMAIN,
    IAM_PASSWORD,
    IAM_USER,
    PROJECT,
    SECURITY_TOKEN,
    SK,
    TOKEN,
)

URL = f"{BASE}/v1.1/{PROJECT}/clusters/c1/cdm/job/a%20b/start?x=1"
CLIENT_HEADERS = {"Content-Type": "application/json;charset=UTF-8", "X-Project-Id": PROJECT, "X-Language": "en-us"}


def test_aksk_signs_exactly_the_client_headers() -> None:
    headers = AkSkAuth(AK, SK).apply("PUT", URL, CLIENT_HEADERS, b'{"variables":{}}')

    assert headers["Host"] == "127.0.0.1:18080"
    assert "X-Sdk-Date" in headers
    assert "SignedHeaders=content-type;host;x-language;x-project-id;x-sdk-date," in headers["Authorization"]
    assert (
        signer.verify(
            "PUT",
            f"/v1.1/{PROJECT}/clusters/c1/cdm/job/a%20b/start",
            "x=1",
            headers,
            b'{"variables":{}}',
            lambda key: SK if key == AK else None,
        )
        == AK
    )


def test_aksk_signature_breaks_when_anything_changes() -> None:
    headers = AkSkAuth(AK, SK).apply("PUT", URL, CLIENT_HEADERS, b"{}")
    with pytest.raises(signer.SignatureError):
        signer.verify("PUT", f"/v1.1/{PROJECT}/clusters/c1/cdm/job/a%20b/start", "x=1", headers, b"{ }", lambda _: SK)
    with pytest.raises(signer.SignatureError):
        signer.verify(
            "PUT", f"/v1.1/{PROJECT}/clusters/c1/cdm/job/a%20b/start", "x=1", headers, b"{}", lambda _: "other"
        )


def test_temporary_credentials_sign_the_security_token() -> None:
    headers = AkSkAuth(AK, SK, SECURITY_TOKEN).apply("GET", URL, CLIENT_HEADERS, b"")

    assert headers["X-Security-Token"] == SECURITY_TOKEN
    assert "x-security-token" in signer.parse_authorization(headers["Authorization"]).signed_headers
    tampered = {**headers, "X-Security-Token": "other"}
    path, query = f"/v1.1/{PROJECT}/clusters/c1/cdm/job/a%20b/start", "x=1"
    assert signer.verify("GET", path, query, headers, b"", lambda _: SK) == AK
    with pytest.raises(signer.SignatureError):
        signer.verify("GET", path, query, tampered, b"", lambda _: SK)


def test_static_token() -> None:
    auth = StaticTokenAuth(TOKEN)
    assert auth.apply("GET", URL, {"A": "b"}, b"") == {"A": "b", "X-Auth-Token": TOKEN}
    assert auth.refresh({"X-Auth-Token": TOKEN}) is False
    assert AkSkAuth(AK, SK).refresh({}) is False


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_cache_reuses_a_token_until_shortly_before_it_expires() -> None:
    clock = Clock()
    cache = TokenCache(margin_s=300, clock=clock)
    fetched: list[str] = []

    def fetch() -> CachedToken:
        fetched.append(f"t{len(fetched) + 1}")
        return CachedToken(fetched[-1], clock.now + 3600)

    key = (IAM, IAM_DOMAIN, IAM_USER, PROJECT)
    assert cache.get(key, fetch) == "t1"
    clock.now += 3299
    assert cache.get(key, fetch) == "t1"
    clock.now += 2
    assert cache.get(key, fetch) == "t2"
    assert cache.get((IAM, IAM_DOMAIN, "someone else", PROJECT), fetch) == "t3"


def test_invalidate_drops_only_the_token_that_failed() -> None:
    cache = TokenCache()
    key = (IAM, IAM_DOMAIN, IAM_USER, PROJECT)
    cache.get(key, lambda: CachedToken("new", 4e9))
    cache.invalidate(key, "old")
    assert cache.get(key, lambda: CachedToken("unexpected", 4e9)) == "new"
    cache.invalidate(key, "new")
    assert cache.get(key, lambda: CachedToken("newer", 4e9)) == "newer"


def test_concurrent_callers_fetch_once() -> None:
    cache = TokenCache()
    key = (IAM, IAM_DOMAIN, IAM_USER, PROJECT)
    fetching, release = threading.Event(), threading.Event()
    calls: list[int] = []
    results: list[str] = []

    def fetch() -> CachedToken:
        calls.append(1)
        fetching.set()
        release.wait(5)
        return CachedToken("shared", 4e9)

    threads = [threading.Thread(target=lambda: results.append(cache.get(key, fetch))) for _ in range(8)]
    threads[0].start()
    assert fetching.wait(5)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)

    assert calls == [1]
    assert results == ["shared"] * 8


def iam_auth(answer: HttpResponse, seen: list[HttpRequest], tokens: list[str] | None = None) -> PasswordTokenAuth:
    def fetch(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return answer

    return PasswordTokenAuth(
        iam_endpoint=IAM,
        domain=IAM_DOMAIN,
        user=IAM_USER,
        password=IAM_PASSWORD,
        project_id=PROJECT,
        fetch=fetch,
        cache=TokenCache(),
        on_token=None if tokens is None else tokens.append,
        clock=lambda: 1_000.0,
    )


def created(token: str = "iam-token-1", expires_at: str | None = "2099-01-01T00:00:00.000000Z") -> HttpResponse:
    body = {"token": {"expires_at": expires_at}} if expires_at else {"token": {}}
    return HttpResponse(201, {"x-subject-token": token}, json.dumps(body).encode())


def test_password_auth_asks_iam_for_a_project_scoped_token() -> None:
    seen: list[HttpRequest] = []
    tokens: list[str] = []
    auth = iam_auth(created(), seen, tokens)

    headers = auth.apply("GET", URL, {"X-Project-Id": PROJECT}, b"")
    auth.apply("GET", URL, {}, b"")

    assert headers == {"X-Project-Id": PROJECT, "X-Auth-Token": "iam-token-1"}
    assert len(seen) == 1
    assert tokens == ["iam-token-1"]
    request = seen[0]
    assert (request.method, request.url) == ("POST", f"{IAM}/v3/auth/tokens")
    assert json.loads(request.body) == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": IAM_USER, "password": IAM_PASSWORD, "domain": {"name": IAM_DOMAIN}}},
            },
            "scope": {"project": {"id": PROJECT}},
        }
    }
    assert IAM_PASSWORD not in repr(request)


def test_token_expiry_from_the_answer_or_the_documented_lifetime() -> None:
    auth = iam_auth(created(), [])
    assert auth.token_from_response(created()).expires_at == datetime(2099, 1, 1, tzinfo=timezone.utc).timestamp()
    assert auth.token_from_response(created(expires_at=None)).expires_at == 1_000.0 + 24 * 3600
    assert auth.token_from_response(created(expires_at="garbage")).expires_at == 1_000.0 + 24 * 3600


def test_refresh_drops_the_refused_token() -> None:
    answers = [created("first"), created("second")]
    seen: list[HttpRequest] = []
    auth = PasswordTokenAuth(
        iam_endpoint=IAM,
        domain=IAM_DOMAIN,
        user=IAM_USER,
        password=IAM_PASSWORD,
        project_id=PROJECT,
        fetch=lambda request: seen.append(request) or answers.pop(0),  # type: ignore[func-returns-value]
        cache=TokenCache(),
    )
    sent = auth.apply("GET", URL, {}, b"")
    assert auth.refresh(sent) is True
    assert auth.apply("GET", URL, {}, b"")["X-Auth-Token"] == "second"
    assert len(seen) == 2


def test_iam_refusals_become_auth_errors_without_the_password() -> None:
    wrong = HttpResponse(
        401, {}, json.dumps({"error": {"code": 401, "message": "The username or password is wrong."}}).encode()
    )
    with pytest.raises(CdmAuthError) as caught:
        iam_auth(wrong, []).apply("GET", URL, {}, b"")
    assert "username or password is wrong" in str(caught.value)
    assert IAM_PASSWORD not in str(caught.value)

    with pytest.raises(CdmAuthError, match="X-Subject-Token"):
        iam_auth(HttpResponse(201, {}, b"{}"), []).apply("GET", URL, {}, b"")
    with pytest.raises(CdmApiError):
        iam_auth(HttpResponse(400, {}, b"bad request"), []).apply("GET", URL, {}, b"")
