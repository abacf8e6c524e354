"""The SDK-HMAC-SHA256 signer against Huawei's published vector, vectors made by Huawei's own SDK, and
the verifier's refusals."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_provider_cdm.api import signer

PUBLISHED_AK = "QTWAOYTTINDUT2QVKYUC"
PUBLISHED_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
PUBLISHED_URL = (
    "https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
    "?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0"
)
PUBLISHED_DATE = datetime(2019, 11, 15, 3, 36, 55, tzinfo=timezone.utc)
VECTORS = json.loads((Path(__file__).parent / "signer_vectors.json").read_text())


def test_published_vector_canonical_request_hash() -> None:
    parts = urlsplit(PUBLISHED_URL)
    canonical = signer.canonical_request(
        "GET",
        parts.path,
        parts.query,
        {"Content-Type": "application/json", "X-Sdk-Date": "20191115T033655Z", "Host": parts.netloc},
        ["content-type", "host", "x-sdk-date"],
        b"",
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    )


def test_published_vector_signature_and_header() -> None:
    headers = signer.sign(
        "GET", PUBLISHED_URL, {"Content-Type": "application/json"}, b"", PUBLISHED_AK, PUBLISHED_SK, now=PUBLISHED_DATE
    )
    assert headers["X-Sdk-Date"] == "20191115T033655Z"
    assert headers["Host"] == "service.region.example.com"
    assert headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    )


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['method']} {urlsplit(v['url']).path[-40:]}")
def test_matches_huawei_sdk_vectors(vector: dict[str, object]) -> None:
    """Query strings, escaped (unicode, %, ~, space) job names, non-default ports, bodies, extra headers."""
    headers = dict(vector["headers"])  # type: ignore[call-overload]
    host = headers.pop("Host")
    signed = signer.sign(
        str(vector["method"]),
        str(vector["url"]),
        headers,
        str(vector["body"]).encode(),
        VECTORS["ak"],
        VECTORS["sk"],
    )
    assert signed["Host"] == host  # our Host header matches what the SDK was given (port only if non-default)
    assert signed["Authorization"] == vector["authorization"]


def test_host_header_keeps_only_non_default_ports() -> None:
    assert signer.host_header("https://cdm.x.com:443/a") == "cdm.x.com"
    assert signer.host_header("http://127.0.0.1:80/a") == "127.0.0.1"
    assert signer.host_header("https://cdm.x.com:8443/a") == "cdm.x.com:8443"
    assert signer.host_header("http://[::1]:9000/a") == "[::1]:9000"


def test_canonical_query_sorts_by_name_then_value_and_encodes() -> None:
    assert signer.canonical_query("b=2&a=z&a=y&c=a b&d=") == "a=y&a=z&b=2&c=a%20b&d="
    assert signer.canonical_query([("x", "é~/")]) == "x=%C3%A9~%2F"


def test_canonical_uri_reencodes_segments_and_appends_slash() -> None:
    assert signer.canonical_uri("/v1.1/p/job/a%20b") == "/v1.1/p/job/a%20b/"
    assert signer.canonical_uri("/v1.1/p/job/a b/") == "/v1.1/p/job/a%20b/"


def test_unsigned_payload_header_replaces_body_hash() -> None:
    with_header = signer.canonical_request(
        "PUT", "/a", "", {"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}, ["x-sdk-content-sha256"], b"data"
    )
    assert with_header.endswith("\nUNSIGNED-PAYLOAD")


def _signed(now: datetime, **kwargs: object) -> tuple[str, dict[str, str], bytes]:
    url = "http://127.0.0.1:5000/v1.1/p/clusters/c/cdm/job/all?page_no=1&filter=a%20b"
    body = b'{"k": "v"}'
    headers = signer.sign("PUT", url, {"Content-Type": "application/json"}, body, "AK1", "SK1", now=now)
    return url, headers, body


def _verify(url: str, headers: dict[str, str], body: bytes, now: datetime, method: str = "PUT") -> str:
    parts = urlsplit(url)
    return signer.verify(method, parts.path, parts.query, headers, body, {"AK1": "SK1"}.get, now=now)


NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)


def test_verify_accepts_own_signature() -> None:
    url, headers, body = _signed(NOW)
    assert _verify(url, headers, body, NOW + timedelta(minutes=14)) == "AK1"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda u, h, b: (u, h, b + b" "), "verify aksk signature fail"),
        (lambda u, h, b: (u.replace("page_no=1", "page_no=2"), h, b), "verify aksk signature fail"),
        (lambda u, h, b: (u, {**h, "Content-Type": "text/plain"}, b), "verify aksk signature fail"),
        (lambda u, h, b: (u, {**h, "Authorization": h["Authorization"].replace("AK1", "AK2")}, b), "ak not exist"),
        (lambda u, h, b: (u, {k: v for k, v in h.items() if k != "Content-Type"}, b), "not sent: content-type"),
        (lambda u, h, b: (u, {**h, "Authorization": "Bearer x"}, b), "unsupported algorithm"),
        (lambda u, h, b: (u, {**h, "X-Sdk-Date": "yesterday"}, b), "format"),
    ],
)
def test_verify_refuses_tampered_requests(tamper, reason: str) -> None:  # type: ignore[no-untyped-def]
    url, headers, body = tamper(*_signed(NOW))
    with pytest.raises(signer.SignatureError, match=reason):
        _verify(url, headers, body, NOW)


def test_verify_refuses_stale_date() -> None:
    url, headers, body = _signed(NOW)
    with pytest.raises(signer.SignatureError, match="expired"):
        _verify(url, headers, body, NOW + timedelta(minutes=16))
    with pytest.raises(signer.SignatureError, match="expired"):
        _verify(url, headers, body, NOW - timedelta(minutes=16))


def test_verify_requires_host_and_date_signed() -> None:
    url = "http://127.0.0.1:5000/v1.1/p/clusters"
    parts = urlsplit(url)
    date = signer.format_sdk_date(NOW)
    canonical = signer.canonical_request("GET", parts.path, "", {"X-Sdk-Date": date}, ["x-sdk-date"], b"")
    signature = signer.compute_signature("SK1", signer.string_to_sign(canonical, date))
    headers = {
        "X-Sdk-Date": date,
        "Host": "127.0.0.1:5000",
        "Authorization": f"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature={signature}",
    }
    with pytest.raises(signer.SignatureError, match="host must be a signed header"):
        _verify(url, headers, b"", NOW, method="GET")
