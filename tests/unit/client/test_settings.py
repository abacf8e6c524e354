"""CdmSettings: connection fields and overrides in, checked settings out; every bad setting named."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.settings import CdmSettings
from tests.unit.client.helpers import (
    AK,
    IAM_DOMAIN,
    IAM_PASSWORD,
    IAM_USER,
    PROJECT,
    SECRETS,
    SECURITY_TOKEN,
    SK,
    TOKEN,
)


@dataclass
class FakeConnection:
    host: str | None = None
    port: int | None = None
    login: str | None = AK
    password: str | None = SK
    extra_dejson: dict[str, Any] = field(default_factory=dict)


def conn(
    *, host: str | None = None, port: int | None = None, login: str | None = AK, password: str | None = SK, **extra: Any
) -> FakeConnection:
    values: dict[str, Any] = {"region": "cn-north-4", "project_id": PROJECT}
    values.update(extra)
    return FakeConnection(host, port, login, password, {k: v for k, v in values.items() if v is not None})


def password_conn(**fields: Any) -> FakeConnection:
    values: dict[str, Any] = {
        "auth_type": "password",
        "domain": IAM_DOMAIN,
        "login": IAM_USER,
        "password": IAM_PASSWORD,
    }
    values.update(fields)
    return conn(**values)


def test_defaults_come_from_the_region() -> None:
    settings = CdmSettings.from_connection(conn())

    assert settings.endpoint == "https://cdm.cn-north-4.myhuaweicloud.com"
    assert settings.iam_endpoint == "https://iam.cn-north-4.myhuaweicloud.com"
    assert settings.auth_type == "aksk"
    assert settings.verify is True
    assert settings.timeout == (10.0, 60.0)
    assert settings.retry == RetryPolicy()
    assert settings.proxies == {}
    assert (settings.login, settings.password, settings.cluster_id) == (AK, SK, None)


def test_host_overrides_the_endpoint_and_takes_the_port_field() -> None:
    assert CdmSettings.from_connection(conn(host="http://127.0.0.1/", port=8080)).endpoint == "http://127.0.0.1:8080"
    assert CdmSettings.from_connection(conn(host="https://cdm.example.org:9443/prefix/")).endpoint == (
        "https://cdm.example.org:9443/prefix"
    )


def test_keyword_overrides_win_over_the_connection(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = CdmSettings.from_connection(
        conn(host="https://from-connection.example.org", cluster_id="c-conn", timeout=5),
        endpoint="http://127.0.0.1:9000",
        region="ap-southeast-1",
        project_id="other-project",
        cluster_id="c-override",
        verify=str(bundle),
        timeout=(3, 30),
        proxies={"https": "http://proxy.local:3128"},
        retry_policy={"max_attempts": 2},
    )

    assert settings.endpoint == "http://127.0.0.1:9000"
    assert settings.region == "ap-southeast-1"
    assert settings.iam_endpoint == "https://iam.ap-southeast-1.myhuaweicloud.com"
    assert settings.project_id == "other-project"
    assert settings.cluster_id == "c-override"
    assert settings.verify == str(bundle)
    assert settings.timeout == (3.0, 30.0)
    assert settings.proxies == {"https": "http://proxy.local:3128"}
    assert settings.retry.max_attempts == 2


def test_values_typed_into_the_ui_as_text_are_understood() -> None:
    settings = CdmSettings.from_connection(
        conn(verify="False", timeout="45", cluster_id="", domain="  ", auth_type="AKSK", max_retries="2")
    )

    assert settings.verify is False
    assert settings.timeout == (45.0, 45.0)
    assert settings.cluster_id is None
    assert settings.domain is None
    assert settings.auth_type == "aksk"
    assert settings.retry.max_attempts == 3


def test_retry_settings_from_the_extra_and_the_hook() -> None:
    extra_retry = {"max_retries": 1, "max_backoff_s": "9", "jitter": "false"}
    settings = CdmSettings.from_connection(conn(retry=extra_retry), retry_policy={"initial_backoff_s": 0.5})
    assert settings.retry == RetryPolicy(max_attempts=2, initial_backoff_s=0.5, max_backoff_s=9.0, jitter=False)

    policy = RetryPolicy(max_attempts=7)
    assert CdmSettings.from_connection(conn(retry=extra_retry), retry_policy=policy).retry is policy


def test_password_auth_settings() -> None:
    settings = CdmSettings.from_connection(password_conn(iam_endpoint="https://iam.example.org/v3/"))

    assert (settings.auth_type, settings.login, settings.domain) == ("password", IAM_USER, IAM_DOMAIN)
    assert settings.iam_endpoint == "https://iam.example.org"


def test_token_and_temporary_credentials() -> None:
    assert CdmSettings.from_connection(conn(auth_type="token", token=TOKEN, login=None, password=None)).token == TOKEN
    assert CdmSettings.from_connection(conn(security_token=SECURITY_TOKEN)).security_token == SECURITY_TOKEN


@pytest.mark.parametrize(
    ("setting", "connection", "overrides"),
    [
        ("project_id", conn(project_id=None), {}),
        ("project_id", conn(project_id=".."), {}),
        ("region", conn(region=None), {}),
        ("region", conn(region="CN North 4"), {}),
        ("auth_type", conn(auth_type="oauth"), {}),
        ("login", conn(login=None), {}),
        ("password", conn(password=""), {}),
        ("login", password_conn(login=None), {}),
        ("password", password_conn(password=None), {}),
        ("domain", password_conn(domain=None), {}),
        ("iam_endpoint", password_conn(region=None, host="https://cdm.example.org"), {}),
        ("iam_endpoint", password_conn(iam_endpoint="iam.example.org"), {}),
        ("token", conn(auth_type="token"), {}),
        ("token", conn(token=TOKEN), {}),
        ("security_token", password_conn(security_token=SECURITY_TOKEN), {}),
        ("host", conn(host="ftp://cdm.example.org"), {}),
        ("host", conn(host="cdm.example.org"), {}),
        ("host", conn(host="https://cdm.example.org/?x=1"), {}),
        ("host", conn(host="https://cdm.example.org:99999"), {}),
        ("host", conn(host=f"https://user:{SK}@cdm.example.org"), {}),
        ("endpoint", conn(), {"endpoint": "not a url"}),
        ("port", conn(host="https://cdm.example.org:8443", port=9443), {}),
        ("timeout", conn(timeout=-1), {}),
        ("timeout", conn(timeout=0), {}),
        ("timeout", conn(timeout="soon"), {}),
        ("timeout", conn(timeout=[1, 2, 3]), {}),
        ("timeout", conn(), {"timeout": True}),
        ("verify", conn(verify=3), {}),
        ("verify", conn(verify="/nonexistent/ca-bundle.pem"), {}),
        ("verify", conn(verify=["true"]), {}),
        ("proxies", conn(proxies="http://proxy:3128"), {}),
        ("cluster_id", conn(cluster_id="a/b"), {}),
        ("cluster_id", conn(cluster_id=7), {}),
        ("retry", conn(retry="fast"), {}),
        ("retry.bogus", conn(retry={"bogus": 1}), {}),
        ("retry.max_attempts", conn(retry={"max_attempts": 0}), {}),
        ("retry.max_attempts", conn(retry={"max_attempts": 1.5}), {}),
        ("max_retries", conn(max_retries=-1), {}),
        ("retry_policy.jitter", conn(), {"retry_policy": {"jitter": "maybe"}}),
        ("retry.max_backoff_s", conn(), {"retry_policy": {"initial_backoff_s": 5, "max_backoff_s": 1}}),
        ("retry.max_elapsed_s", conn(retry={"max_elapsed_s": 0}), {}),
        ("token", conn(auth_type="token", token=12345), {}),
    ],
)
def test_bad_settings_are_refused_by_name(setting: str, connection: FakeConnection, overrides: dict[str, Any]) -> None:
    with pytest.raises(CdmConfigError) as caught:
        CdmSettings.from_connection(connection, **overrides)

    assert caught.value.setting == setting
    assert str(caught.value).startswith(f"{setting}: ")
    assert caught.value.problem
    assert not any(secret in str(caught.value) for secret in (*SECRETS, "12345"))


def test_the_error_says_what_is_expected() -> None:
    with pytest.raises(CdmConfigError) as caught:
        CdmSettings.from_connection(conn(timeout=-1))
    assert str(caught.value) == "timeout: got -1; expected a positive number of seconds"
    assert isinstance(caught.value, ValueError)


def test_repr_shows_no_credentials() -> None:
    settings = CdmSettings.from_connection(
        conn(security_token=SECURITY_TOKEN, proxies={"https": "http://proxyuser:proxypass@proxy:3128"})
    )
    token_settings = CdmSettings.from_connection(conn(auth_type="token", token=TOKEN))

    for text in (repr(settings), repr(token_settings), str(settings)):
        assert PROJECT in text
        assert not any(secret in text for secret in (*SECRETS, AK, "proxypass"))
    assert set(settings.secrets()) == {SK, SECURITY_TOKEN}
    assert token_settings.secrets() == (SK, TOKEN)


def test_turning_verification_off_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_cdm.client.settings"):
        CdmSettings.from_connection(conn(verify=False))
        CdmSettings.from_connection(conn())
    warnings = [record for record in caplog.records if "verification is off" in record.getMessage()]
    assert len(warnings) == 1


def test_unknown_extra_keys_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="airflow_provider_cdm.client.settings"):
        CdmSettings.from_connection(conn(projectid="typo"))
    assert "projectid" in caplog.text
