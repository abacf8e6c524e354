"""Links read back from CDM: the documented shape in, a Link without any credential out."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.api.link_schema import is_sensitive_input, scrub
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.links import Link, link_from_answer
from airflow_provider_cdm.client.models import ResponseShapeError

PASSWORD, SK, AK = "Db-pa55word!", "obs-secret-key-0001", "OBSACCESSKEY0001"


def link(name: str = "mysql_link", connector: str = "generic-jdbc-connector", **inputs: Any) -> dict[str, Any]:
    """A link as show link answers it (inputs given as short name -> value, or -> full input dict)."""
    items = [
        value if isinstance(value, dict) else {"name": f"linkConfig.{key}", "type": "STRING", "value": value}
        for key, value in inputs.items()
    ]
    return {
        "link-config-values": {"configs": [{"name": "linkConfig", "inputs": items}]},
        "creation-user": "cdm",
        "name": name,
        "creation-date": 1516674482640,
        "connector-name": connector,
        "update-date": 1516674476022,
        "enabled": True,
        "update-user": "cdm",
    }


def test_the_documented_sample_reads_without_the_sensitive_input() -> None:
    sample = link(
        "sftp_link",
        "sftp-connector",
        server="10.120.85.163",
        port="22",
        username="root",
        password={"name": "linkConfig.password", "sensitive": True, "type": "STRING", "mandatory": True},
    )
    read = Link.from_api(sample)
    assert read == Link(
        "sftp_link", "sftp-connector", {"server": "10.120.85.163", "port": "22", "username": "root"}, True
    )
    assert read.value("linkConfig.server") == read.value("server") == "10.120.85.163"
    assert read.value("password") is None


def test_credentials_are_dropped_even_when_cdm_sends_them_and_does_not_flag_them() -> None:
    answer = link(
        "lake",
        "obs-connector",
        storageType="OBS",
        server="obs.cn-north-4.myhuaweicloud.com",
        accessKey=AK,
        securityKey=SK,
        password=PASSWORD,
        token="tok-123456",
    )
    read = Link.from_api(answer)
    assert set(read.config) == {"storageType", "server"}
    text = f"{read!r} {read.to_json()}"
    assert not any(secret in text for secret in (AK, SK, PASSWORD, "tok-123456"))


def test_values_are_percent_decoded_and_passwords_inside_values_are_scrubbed() -> None:
    url = "jdbc%3Amysql%3A%2F%2Fetl%3ADb-pa55word!%40db.example.com%3A3306%2Fsales%3Fpassword%3DDb-pa55word!"
    read = Link.from_api(link(url=url, databaseType="MYSQL", port=3306, usingNative=False))
    assert read.config["url"] == "jdbc:mysql://etl:***@db.example.com:3306/sales?password=***"
    assert (read.config["port"], read.config["usingNative"]) == ("3306", "false")
    assert PASSWORD not in repr(read)


@pytest.mark.parametrize(
    ("name", "item", "sensitive"),
    [
        ("linkConfig.password", None, True),
        ("linkConfig.securityKey", None, True),
        ("linkConfig.accessKey", None, True),
        ("linkConfig.sk", None, True),
        ("linkConfig.kerberosKeytab", None, True),
        ("linkConfig.anything", {"sensitive": True}, True),
        ("linkConfig.host", None, False),
        ("linkConfig.username", None, False),
        ("linkConfig.databaseType", None, False),
    ],
)
def test_which_inputs_are_secrets(name: str, item: dict[str, Any] | None, sensitive: bool) -> None:
    assert is_sensitive_input(name, item) is sensitive


def test_scrub_leaves_values_without_secrets_alone() -> None:
    for value in ("10.0.0.5", "jdbc:postgresql://db:5432/sales?ssl=true", "a=b;c=d"):
        assert scrub(value) == value
    assert scrub("jdbc:sqlserver://h:1433;databaseName=d;pwd=x1") == "jdbc:sqlserver://h:1433;databaseName=d;pwd=***"


def test_show_link_spec_escapes_the_name_and_finds_the_named_link() -> None:
    call = ops.show_link("c-1", "pg link ✓")
    assert call.endpoint is endpoints.SHOW_LINK and call.method == "GET" and call.body is None
    assert call.path("p") == "/v1.1/p/clusters/c-1/cdm/link/pg%20link%20%E2%9C%93"
    answer = {"links": [link("other"), link("pg link ✓", host="h")]}
    assert call.parse(answer).config == {"host": "h"}


@pytest.mark.parametrize("bad", ["all", "ALL", "a/b", "", ".."])
def test_show_link_refuses_names_that_are_not_one_link(bad: str) -> None:
    with pytest.raises(CdmConfigError, match="link_name"):
        ops.show_link("c-1", bad)


def test_an_answer_without_the_link_or_of_another_shape_is_refused() -> None:
    with pytest.raises(ResponseShapeError, match="no link named 'pg'"):
        link_from_answer({"links": [link("other")]}, "pg")
    with pytest.raises(ResponseShapeError, match="links is not a JSON array"):
        link_from_answer({"links": {"name": "pg"}}, "pg")
    with pytest.raises(ResponseShapeError, match="inputs is not a JSON array"):
        Link.from_api({"name": "pg", "link-config-values": {"configs": [{"inputs": "x"}]}})


@pytest.mark.parametrize(
    ("value", "scrubbed"),
    [
        ("jdbc:mysql://u:p@ss@h:3306/db", "jdbc:mysql://u:***@h:3306/db"),  # a password holding an @
        ("jdbc:oracle:thin:scott/tiger@//db:1521/svc", "jdbc:oracle:thin:scott/***@//db:1521/svc"),
        ("jdbc:oracle:thin:scott/p@ss@db:1521:SID", "jdbc:oracle:thin:scott/***@db:1521:SID"),
        ("jdbc:oracle:thin:@//db:1521/svc", "jdbc:oracle:thin:@//db:1521/svc"),  # no user: nothing to hide
    ],
)
def test_scrub_hides_passwords_that_hold_an_at_sign_and_oracles_thin_user_password(value: str, scrubbed: str) -> None:
    assert scrub(value) == scrubbed
