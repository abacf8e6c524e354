"""The async transport with a limiter, against the in-process emulator: every attempt of a call (retries
included) waits for its turn before it is signed, a 429 backs the limiter off with its Retry-After, and
calls without a quota (IAM tokens) are not paced."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.endpoints import Endpoint
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.async_transport import AsyncTransport
from airflow_provider_cdm.client.auth import TokenCache
from airflow_provider_cdm.client.exceptions import CdmThrottledError
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.settings import CdmSettings
from airflow_provider_cdm.emulator.config import DEFAULT_DOMAIN, DEFAULT_PASSWORD, DEFAULT_USER
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from tests.jobs import job_definition

pytestmark = pytest.mark.asyncio

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.5, jitter=False)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with emulator_in_thread("--quotas", "--job-duration", "60") as running:
        yield running


@pytest.fixture
def emu(emulator: EmulatorThread) -> EmulatorThread:
    emulator.reset()
    emulator.clear_faults()
    return emulator


def settings_of(emulator: EmulatorThread, **overrides: Any) -> CdmSettings:
    conn = emulator.connection
    values: dict[str, Any] = {
        "endpoint": conn["host"],
        "project_id": conn["extra"]["project_id"],
        "login": conn["login"],
        "password": conn["password"],
        "cluster_id": conn["extra"]["cluster_id"],
        "retry": FAST,
    }
    values.update(overrides)
    return CdmSettings(**values)


class RecordingLimiter:
    """Records what the transport asks for; optionally checks the request was not signed yet."""

    def __init__(self, emulator: EmulatorThread) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self._emulator = emulator

    async def acquire(self, endpoint: Endpoint) -> None:
        # what the emulator saw so far: pacing happens before the attempt is sent
        sent = sum(sum(s.values()) for s in self._emulator.stats()["requests"].values())
        self.events.append(("acquire", endpoint.name, sent))

    def throttled(self, endpoint: Endpoint, retry_after: float | None = None) -> None:
        self.events.append(("throttled", endpoint.name, retry_after))


async def test_every_attempt_is_paced_and_a_429_backs_the_limiter_off(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(emu)
    limiter = RecordingLimiter(emu)
    emu.server.app.backend.create_job(settings.cluster_id or "", job_definition("orders"), "user")
    calls = 0

    def throttle_first(user: str, endpoint: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ApiError(errors.APIG_THROTTLED, limit=120)

    monkeypatch.setattr(emu.server.app.quotas, "check", throttle_first)
    emu.set_faults(retry_after_s=0.2)
    async with AsyncTransport(settings, limiter=limiter, token_cache=TokenCache()) as transport:
        assert await transport.execute(ops.job_status(settings.cluster_id or "", "orders")) is None
    assert limiter.events == [
        ("acquire", "job_status", 0),
        ("throttled", "job_status", 0.2),
        ("acquire", "job_status", 1),  # the retry waits for its turn too
    ]


async def test_a_429_after_every_retry_still_reaches_the_caller(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(emu)
    limiter = RecordingLimiter(emu)

    def always(user: str, endpoint: Any) -> None:
        raise ApiError(errors.APIG_THROTTLED, limit=120)

    monkeypatch.setattr(emu.server.app.quotas, "check", always)
    # 429s do not count towards max_attempts (3): they are retried for throttled_s (1 s here)
    patient = RetryPolicy(
        max_attempts=3, max_elapsed_s=0.5, throttled_s=1.0, initial_backoff_s=0.01, max_backoff_s=0.05, jitter=False
    )
    async with AsyncTransport(
        dataclasses.replace(settings, retry=patient), limiter=limiter, token_cache=TokenCache()
    ) as transport:
        started = time.monotonic()
        with pytest.raises(CdmThrottledError):
            await transport.execute(ops.job_status(settings.cluster_id or "", "orders"))
        assert 1.0 <= time.monotonic() - started < 5.0
    kinds = [event[0] for event in limiter.events]
    assert kinds == ["acquire", "throttled"] * (len(kinds) // 2)
    assert len(kinds) // 2 > 2 * patient.max_attempts


def password_settings(emulator: EmulatorThread) -> CdmSettings:
    return settings_of(
        emulator,
        auth_type="password",
        login=DEFAULT_USER,
        password=DEFAULT_PASSWORD,
        domain=DEFAULT_DOMAIN,
        iam_endpoint=emulator.connection["host"],
    )


async def test_iam_token_requests_are_not_paced(emu: EmulatorThread) -> None:
    limiter = RecordingLimiter(emu)
    async with AsyncTransport(password_settings(emu), limiter=limiter, token_cache=TokenCache()) as transport:
        await transport.execute(ops.list_clusters())
    assert emu.stats()["requests"]["iam_token"] == {"201": 1}
    assert [event[:2] for event in limiter.events] == [("acquire", "list_clusters")]


async def test_the_resend_after_a_refused_token_is_not_paced_again(emu: EmulatorThread) -> None:
    """The gateway refuses a revoked token before counting the call; waiting again would only let the
    fresh token go stale."""
    limiter = RecordingLimiter(emu)
    cluster = emu.cluster_id or ""
    emu.server.app.backend.create_job(cluster, job_definition("orders"), "user")
    async with AsyncTransport(password_settings(emu), limiter=limiter, token_cache=TokenCache()) as transport:
        await transport.execute(ops.job_status(cluster, "orders"))
        assert emu.revoke_tokens() >= 1
        await transport.execute(ops.job_status(cluster, "orders"))
    assert emu.stats()["requests"]["job_status"] == {"200": 2, "401": 1}
    assert emu.stats()["requests"]["iam_token"] == {"201": 2}
    assert [event[:2] for event in limiter.events] == [("acquire", "job_status")] * 2  # one per call
