"""Fixtures of the client tests: checked settings and a transport whose backoff waits are only recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_cdm.client.auth import TokenCache
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.settings import CdmSettings
from airflow_provider_cdm.client.transport import SyncTransport
from tests.unit.client.helpers import AK, BASE, CLUSTER, PROJECT, SK

# Deterministic pacing: waits of 1, 2, 4, 8 s (capped), at most 4 attempts.
TEST_POLICY = RetryPolicy(max_attempts=4, max_elapsed_s=60.0, initial_backoff_s=1.0, max_backoff_s=8.0, jitter=False)


def make_settings(**overrides: Any) -> CdmSettings:
    values: dict[str, Any] = {
        "endpoint": BASE,
        "project_id": PROJECT,
        "login": AK,
        "password": SK,
        "cluster_id": CLUSTER,
        "retry": TEST_POLICY,
    }
    values.update(overrides)
    return CdmSettings(**values)


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff waits a transport asked for (nothing really sleeps)."""
    return []


@pytest.fixture
def make_transport(sleeps: list[float]) -> Iterator[Callable[..., SyncTransport]]:
    """Build transports on settings overrides; each has its own token cache and records its waits."""
    made: list[SyncTransport] = []

    def build(**overrides: Any) -> SyncTransport:
        cache = overrides.pop("token_cache", None) or TokenCache()
        transport = SyncTransport(make_settings(**overrides), sleep=sleeps.append, token_cache=cache)
        made.append(transport)
        return transport

    yield build
    for transport in made:
        transport.close()


@pytest.fixture
def transport(make_transport: Callable[..., SyncTransport]) -> SyncTransport:
    return make_transport()
