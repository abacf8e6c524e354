"""The sync (worker) transport is paced by the same limiter design as the async one: every attempt waits
for its turn before it is signed, a 429 backs the limiter off, and the hook shares one limiter per
credentials identity in the worker role, with the share from ``[cdm] worker_quota_share``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests_mock as rm

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.api.endpoints import Endpoint
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.auth import TokenCache
from airflow_provider_cdm.client.rate_limit import (
    ROLE_TRIGGERER,
    ROLE_WORKER,
    QuotaLimiter,
    reset_shared_limiters,
    shared_limiter,
)
from airflow_provider_cdm.client.transport import SyncTransport
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.options import DEFAULT_WORKER_QUOTA_SHARE
from tests.clock import FakeClock
from tests.unit.client.conftest import make_settings
from tests.unit.client.helpers import CLUSTER, JOB, submission
from tests.unit.client.test_transport import STATUS

THROTTLED = {"status_code": 429, "json": {"error_code": "APIG.0308", "error_msg": "over ratelimit"}}


class RecordingLimiter:
    def __init__(self, mocker: rm.Mocker) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self._mocker = mocker

    def acquire_blocking(self, endpoint: Endpoint, sleep: Callable[[float], None] = lambda _: None) -> None:
        self.events.append(("acquire", endpoint.name, self._mocker.call_count))  # before the attempt is sent

    def throttled(self, endpoint: Endpoint, retry_after: float | None = None) -> None:
        self.events.append(("throttled", endpoint.name, retry_after))


def test_every_attempt_is_paced_and_a_429_backs_the_limiter_off(requests_mock: rm.Mocker) -> None:
    limiter = RecordingLimiter(requests_mock)
    throttled = {**THROTTLED, "headers": {"Retry-After": "0"}}
    requests_mock.get(STATUS, [throttled, {"json": {"submissions": [submission(2, "RUNNING")]}}])
    transport = SyncTransport(make_settings(), sleep=lambda _: None, token_cache=TokenCache(), limiter=limiter)
    assert transport.execute(ops.job_status(CLUSTER, JOB)).submission_id == 2
    assert limiter.events == [
        ("acquire", "job_status", 0),
        ("throttled", "job_status", 0.0),
        ("acquire", "job_status", 1),  # the retry waits for its turn too
    ]


def test_blocking_acquire_paces_at_the_share_and_requeues_behind_a_429() -> None:
    clock = FakeClock(100.0)
    limiter = QuotaLimiter(0.2, clock=clock)  # 0.2 x 120/min = 0.4 calls/s, a burst of 2
    sent = []
    for _ in range(5):
        limiter.acquire_blocking(endpoints.JOB_STATUS, clock.sleep)
        sent.append(clock.now - 100.0)
    assert sent == pytest.approx([0.0, 0.0, 2.5, 5.0, 7.5])
    limiter.throttled(endpoints.JOB_STATUS)
    limiter.acquire_blocking(endpoints.JOB_STATUS, clock.sleep)
    assert clock.now - 100.0 >= 7.5 + 2.0  # behind the pause


def test_an_interrupted_wait_gives_its_place_back() -> None:
    clock = FakeClock(100.0)
    limiter = QuotaLimiter(0.2, clock=clock)
    limiter.acquire_blocking(endpoints.JOB_STATUS, clock.sleep)
    limiter.acquire_blocking(endpoints.JOB_STATUS, clock.sleep)

    def killed(seconds: float) -> None:
        raise KeyboardInterrupt  # e.g. the task's execution_timeout while it waits

    with pytest.raises(KeyboardInterrupt):
        limiter.acquire_blocking(endpoints.JOB_STATUS, killed)
    assert limiter.reserve(endpoints.JOB_STATUS) == pytest.approx(2.5)  # not 5.0: the place was freed


def test_the_hook_paces_with_the_workers_limiter(requests_mock: rm.Mocker, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.hooks.conftest import connection

    monkeypatch.setenv("AIRFLOW__CDM__CLIENT_PACING", "True")
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", __import__("json").dumps(connection()))
    reset_shared_limiters()
    try:
        hook = CdmHook()
        limiter = hook.transport._limiter
        assert isinstance(limiter, QuotaLimiter)
        assert limiter is shared_limiter(hook.settings, role=ROLE_WORKER)
        assert limiter is not shared_limiter(hook.settings, role=ROLE_TRIGGERER)
        assert limiter.share == DEFAULT_WORKER_QUOTA_SHARE
        monkeypatch.setenv("AIRFLOW__CDM__WORKER_QUOTA_SHARE", "0.5")
        assert CdmHook().transport._limiter is limiter and limiter.share == 0.5
        monkeypatch.setenv("AIRFLOW__CDM__CLIENT_PACING", "False")
        assert CdmHook().transport._limiter is None
    finally:
        reset_shared_limiters()
