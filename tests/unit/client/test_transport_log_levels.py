"""What the transport logs at INFO: a retry of a transient failure and lasting throttling, nothing else.

An error answer is raised to its caller, which words it (a clean-up expects a missing job), so the
answer itself is logged at DEBUG; a few 429s are pacing (DEBUG); throttling that lasts a minute or more
gets a line about once a minute and one when CDM answers at last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import requests_mock as rm

from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.exceptions import CdmJobNotFoundError
from airflow_provider_cdm.client.transport import SyncTransport
from tests.unit.client.helpers import cdm_url, job_url

Build = Callable[..., SyncTransport]
CLUSTERS = cdm_url("/clusters", cluster=None)
CLUSTERS_BODY = {"clusters": [{"id": "c1", "name": "cdm-a", "status": "200"}]}
THROTTLED = {"error_code": "APIG.0308", "error_msg": "The throttling threshold has been reached"}


def shown(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("airflow_provider")
    ]


def test_an_error_answer_the_caller_gets_is_not_logged_at_info(
    transport: SyncTransport, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    missing = {"errCode": "Cdm.0100", "externalMessage": "Job[gone] does not exist."}
    requests_mock.delete(job_url("gone", cluster="c1"), status_code=400, json=missing)
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_cdm"), pytest.raises(CdmJobNotFoundError):
        transport.execute(ops.delete_job("c1", "gone"))
    assert shown(caplog) == []
    assert any("-> HTTP 400" in r.getMessage() for r in caplog.records)  # at DEBUG


def test_a_retried_5xx_has_one_line_per_retry(
    transport: SyncTransport, requests_mock: rm.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    requests_mock.get(CLUSTERS, [{"status_code": 503, "text": "busy"}, {"json": CLUSTERS_BODY}])
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_cdm"):
        transport.execute(ops.list_clusters())
    (line,) = shown(caplog)
    assert line.startswith("CDM GET ") and "failed (attempt 1 of at most 4)" in line and "retrying in" in line


def test_a_few_429s_are_pacing_and_lasting_throttling_is_told_about_once_a_minute(
    make_transport: Build, requests_mock: rm.Mocker, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    transport = make_transport()
    requests_mock.get(CLUSTERS, [{"status_code": 429, "json": THROTTLED}] * 2 + [{"json": CLUSTERS_BODY}])
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_cdm"):
        transport.execute(ops.list_clusters())
    assert shown(caplog) == []  # two 429s, a few seconds: nothing at INFO
    assert any("answered after 2 throttled attempts" in r.getMessage() for r in caplog.records)  # DEBUG

    caplog.clear()
    waits = {"Retry-After": "25"}  # CDM asks for 25 s each time: 8 429s cost 200 s
    requests_mock.get(CLUSTERS, [{"status_code": 429, "json": THROTTLED, "headers": waits}] * 8 + [{"json": {}}])
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_cdm"):
        transport.execute(ops.list_clusters())
    lines = shown(caplog)
    assert sum(sleeps) >= 200
    assert 2 <= len(lines) <= 4, lines  # at about 1, 2 and 3 minutes, then the answer
    assert all("throttled by CDM's API quota" in line for line in lines[:-1])
    assert lines[-1].endswith("answered after 8 throttled attempts (200 s)")
