"""CdmHook.get_link against a mocked CDM: the request, the answer, and an unknown link."""

from __future__ import annotations

import logging

import pytest
import requests_mock as rm

from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.unit.client.helpers import cdm_url, verify_signature
from tests.unit.client.test_links import PASSWORD, link


def test_get_link_reads_the_link_in_the_connections_cluster(
    hook: CdmHook, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.get(
        cdm_url("/cdm/link/pg_sales"),
        json={"links": [link("pg_sales", databaseType="POSTGRESQL", host="10.0.0.5", password=PASSWORD)]},
    )
    found = hook.get_link("pg_sales")
    assert (found.name, found.connector, found.value("host")) == ("pg_sales", "generic-jdbc-connector", "10.0.0.5")
    assert "password" not in found.config
    (request,) = requests_mock.request_history
    verify_signature(request)
    assert PASSWORD not in caplog.text


def test_an_unknown_link_is_cdms_cdm_0101_not_found(hook: CdmHook, requests_mock: rm.Mocker) -> None:
    body = {"code": "Cdm.0101", "errCode": "Cdm.0101", "message": "Link[ghost] does not exist."}
    requests_mock.get(cdm_url("/cdm/link/ghost", cluster="other"), status_code=400, json=body)
    with pytest.raises(CdmApiError) as raised:
        hook.get_link("ghost", cluster_id="other")
    assert (raised.value.code, raised.value.kind, raised.value.transient) == ("Cdm.0101", ErrorKind.NOT_FOUND, False)
    assert requests_mock.call_count == 1  # a definite answer: not retried
