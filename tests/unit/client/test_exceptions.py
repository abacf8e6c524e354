"""Error answers in every body shape become the right exception, with code, message and context."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.client.exceptions import (
    CdmApiError,
    CdmAuthError,
    CdmConfigError,
    CdmJobExistsError,
    CdmJobNotFoundError,
    CdmJobNotRunningError,
    CdmJobRunningError,
    CdmThrottledError,
    api_error,
    error_from_response,
)

START_PATH = "/v1.1/p1/clusters/c1/cdm/job/x/start"


def parse(status: int, body: object, headers: dict[str, str] | None = None, method: str = "PUT") -> CdmApiError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return error_from_response(status, headers or {}, raw, method=method, path=START_PATH)


def test_cdm_body_with_both_code_fields() -> None:
    error = parse(
        400,
        {
            "code": "cdm.0052",
            "errCode": "Cdm.0052",
            "message": "internal text",
            "externalMessage": "Job[x] is running.",
        },
    )

    assert type(error) is CdmJobRunningError
    assert (error.code, error.message, error.http_status) == ("Cdm.0052", "Job[x] is running.", 400)
    assert (error.method, error.path, error.kind) == ("PUT", START_PATH, ErrorKind.JOB_RUNNING)
    assert str(error) == f"Cdm.0052: Job[x] is running. (HTTP 400, PUT {START_PATH})"


def test_older_cdm_body() -> None:
    error = parse(400, {"errCode": "Cdm.0100", "externalMessage": "Job[x] does not exist."})
    assert type(error) is CdmJobNotFoundError
    assert str(error) == f"Cdm.0100: Job[x] does not exist. (HTTP 400, PUT {START_PATH})"


def test_gateway_body_with_request_id() -> None:
    error = parse(
        429,
        {"error_code": "APIG.0308", "error_msg": "The throttling threshold has been reached", "request_id": "req-1"},
        {"x-request-id": "header-id"},
    )
    assert type(error) is CdmThrottledError
    assert (error.code, error.request_id, error.kind) == ("APIG.0308", "req-1", ErrorKind.THROTTLED)


def test_iam_body() -> None:
    error = parse(
        401,
        {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}},
        method="POST",
    )
    assert type(error) is CdmAuthError
    assert error.code is None
    assert str(error) == f"The username or password is wrong. (HTTP 401, POST {START_PATH})"


def test_non_json_body_keeps_an_excerpt_and_the_header_request_id() -> None:
    error = parse(502, b"<html><body>\n  502 Bad Gateway\n</body></html>", {"x-request-id": "abc-123"})

    assert type(error) is CdmApiError
    assert error.kind is ErrorKind.SERVER
    assert error.code is None
    assert error.message == "<html><body> 502 Bad Gateway </body></html>"
    assert error.request_id == "abc-123"


def test_empty_and_long_and_undecodable_bodies() -> None:
    assert parse(500, b"").message == "HTTP 500 with an empty body"
    assert len(parse(500, b"x" * 5000).message) == 200
    assert parse(503, b"\xff\xfe broken").message.endswith("broken")
    assert parse(400, [1, 2]).message == "[1, 2]"


def test_validation_entries_are_kept() -> None:
    error = parse(
        400,
        {
            "errCode": "Cdm.0037",
            "externalMessage": "Job[x] cannot be submitted",
            "validation-result": [{"message": "link missing", "status": "ERROR"}],
        },
    )
    assert error.validation == ["link missing"]
    assert error.kind is ErrorKind.SUBMIT_REFUSED


@pytest.mark.parametrize(
    ("code", "status", "cls", "kind"),
    [
        ("Cdm.0054", 400, CdmJobNotFoundError, ErrorKind.JOB_NOT_FOUND),
        ("Cdm.0100", 400, CdmJobNotFoundError, ErrorKind.JOB_NOT_FOUND),
        ("Cdm.0319", 400, CdmJobNotFoundError, ErrorKind.JOB_NOT_FOUND),
        ("Cdm.0104", 400, CdmJobExistsError, ErrorKind.JOB_EXISTS),
        ("Cdm.0318", 400, CdmJobExistsError, ErrorKind.JOB_EXISTS),
        ("Cdm.0052", 400, CdmJobRunningError, ErrorKind.JOB_RUNNING),
        ("Cdm.0322", 400, CdmJobRunningError, ErrorKind.JOB_RUNNING),
        ("Cdm.0053", 400, CdmJobNotRunningError, ErrorKind.JOB_NOT_RUNNING),
        ("APIG.0308", 429, CdmThrottledError, ErrorKind.THROTTLED),
        ("APIG.0301", 401, CdmAuthError, ErrorKind.AUTH),
        ("APIG.1002", 401, CdmAuthError, ErrorKind.AUTH),
        ("APIG.0302", 403, CdmAuthError, ErrorKind.AUTH),
        ("Cdm.0001", 400, CdmApiError, ErrorKind.NOT_FOUND),
        ("Cdm.9999", 400, CdmApiError, ErrorKind.OTHER),
        ("Cdm.0000", 500, CdmApiError, ErrorKind.SERVER),
        (None, 429, CdmThrottledError, ErrorKind.THROTTLED),
    ],
)
def test_the_class_follows_the_kind(code: str | None, status: int, cls: type[CdmApiError], kind: ErrorKind) -> None:
    error = api_error("text", http_status=status, code=code)
    assert type(error) is cls
    assert error.kind is kind
    assert isinstance(error, AirflowException)


def test_str_without_code_or_status() -> None:
    assert str(api_error("Could not connect to CDM", method="GET", path="/v1.1/p/clusters")) == (
        "Could not connect to CDM (GET /v1.1/p/clusters)"
    )
    assert str(api_error("bare")) == "bare"
    assert str(api_error("late", http_status=504, method="GET", path="/x")) == "late (HTTP 504, GET /x)"


def test_config_error_is_a_value_error_naming_the_setting() -> None:
    error = CdmConfigError("job_name", "is empty", "1 to 240 characters")
    assert isinstance(error, ValueError)
    assert isinstance(error, AirflowException)
    assert (error.setting, str(error)) == ("job_name", "job_name: is empty; expected 1 to 240 characters")
    assert str(CdmConfigError("region", "missing")) == "region: missing"
