"""Create-and-execute after a lost or refused first POST, against the in-thread emulator.

A wrapper around the emulator app answers the first ``POST /clusters/job`` with the gateway's 503,
either without passing it on (CDM never saw it) or after CDM acted (the answer was lost). The CDM
backend's clock (not the gateway's: signatures are checked on the real one) is set back a day for
"yesterday's" run, so its creation date is CDM's own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from airflow_provider_cdm.api import endpoints, errors
from airflow_provider_cdm.api.endpoints import Endpoint
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.exceptions import CdmJobExistsError
from airflow_provider_cdm.emulator.app import Request, Response
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.jobs import job_definition

DAY_S = 86_400.0
FAST = {"max_attempts": 3, "initial_backoff_s": 0, "max_backoff_s": 0}


@pytest.fixture
def clock_offset() -> list[float]:
    """Seconds the CDM backend's clock runs behind this machine's (change it within a test)."""
    return [0.0]


@pytest.fixture
def emulator(clock_offset: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorThread]:
    with emulator_in_thread("--job-duration", "0") as running:
        monkeypatch.setattr(running.server.app.backend, "_clock", lambda: time.time() - clock_offset[0])
        monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", json.dumps(running.connection))
        yield running


def fail_first_create_and_start(
    emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, *, after_acting: bool
) -> list[str]:
    """Answer the next POST /clusters/job with a gateway 503 (after CDM acted, or instead of it)."""
    app = emulator.server.app
    handle: Callable[[Request, Endpoint, Mapping[str, str]], Response] = app.handle
    failed: list[str] = []

    def flaky(request: Request, endpoint: Endpoint, params: Mapping[str, str]) -> Response:
        if endpoint is not endpoints.CREATE_AND_START_JOB or failed:
            return handle(request, endpoint, params)
        failed.append(request.request_id)
        if after_acting:
            handle(request, endpoint, params)
        return Response.error(ApiError(errors.APIG_BACKEND_UNAVAILABLE, http_status=503), request.request_id)

    monkeypatch.setattr(app, "handle", flaky)
    return failed


def runs_of(emulator: EmulatorThread, job_name: str) -> list[dict[str, Any]]:
    return list(emulator.server.app.backend.job_status(emulator.cluster_id or "", job_name)["submissions"])


def test_a_503_that_never_reached_cdm_does_not_adopt_yesterdays_run(
    emulator: EmulatorThread, clock_offset: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = job_definition("orders_once")
    clock_offset[0] = DAY_S  # yesterday: the job is created and its run succeeds
    cluster, (yesterday,) = CdmHook(retry_policy=FAST).create_and_start_job(job)
    assert cluster == emulator.cluster_id
    clock_offset[0] = 0.0
    failed = fail_first_create_and_start(emulator, monkeypatch, after_acting=False)

    with pytest.raises(CdmJobExistsError, match=rf"Job\[orders_once\] already exists in cluster {cluster}") as caught:
        CdmHook(retry_policy=FAST).create_and_start_job(job)  # today's

    assert f"run {yesterday.submission_id} (SUCCEEDED) predates this call" in str(caught.value)
    assert len(failed) == 1
    assert [run["submission-id"] for run in runs_of(emulator, "orders_once")] == [yesterday.submission_id]


def test_a_503_after_cdm_acted_adopts_todays_run(emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    failed = fail_first_create_and_start(emulator, monkeypatch, after_acting=True)

    cluster, runs = CdmHook(retry_policy=FAST).create_and_start_job(job_definition("orders_once"))

    assert cluster == emulator.cluster_id
    assert [(run.job_name, run.status) for run in runs] == [("orders_once", JobStatus.SUCCEEDED)]
    assert len(failed) == 1
    assert len(runs_of(emulator, "orders_once")) == 1  # adopted, not started twice
