"""Airflow 2's RFC 3986 warning about the connection type is dropped (only it, only for this type)."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_cdm.hooks.cdm import CdmHook

WARNING = "Connection schemes (type: %s) shall not contain '_' according to RFC3986."


def test_the_scheme_warning_about_this_connection_type_is_dropped_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("airflow.models.connection.Connection")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning(WARNING, CdmHook.conn_type)
        logger.warning(WARNING, "other_type")
        logger.warning("something else about %s", CdmHook.conn_type)
    assert [r.getMessage() for r in caplog.records] == [
        WARNING % "other_type",
        f"something else about {CdmHook.conn_type}",
    ]


def test_looking_up_a_cdm_connection_warns_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On Airflow 2.11 every lookup turned the connection into a URI and warned; on 3.x it never did."""
    connection = {"conn_type": "huaweicloud_cdm", "host": "http://127.0.0.1:1", "login": "AK", "password": "SK-secret"}
    connection["extra"] = {"region": "cn-north-4", "project_id": "p" * 32}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_NOISE_CHECK", json.dumps(connection))
    with caplog.at_level(logging.WARNING):
        CdmHook("noise_check").get_connection("noise_check")
    assert not [r for r in caplog.records if "RFC3986" in r.getMessage()]
