"""What the cluster tests share: the emulator's default clusters, and an emulator handed to a test afresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_cdm.client.auth import TOKEN_CACHE
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread

RUNNING = "c0000000-0000-4000-8000-000000000001"  # emulator/config.py's first cluster, Normal (200)
STOPPED = "c0000000-0000-4000-8000-000000000009"  # its stopped one (900)


def cluster_emulator(*args: str) -> Iterator[EmulatorThread]:
    """An emulator in this process whose clusters change status within 0.3 s (for a module fixture)."""
    with emulator_in_thread("--cluster-transition-s", "0.3", *args) as running:
        yield running


def afresh(emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    """The emulator reset, as the default connection, with no token or pacing left from an earlier test."""
    emulator.reset()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", emulator.connection_json)
    TOKEN_CACHE.clear()
    reset_shared_limiters()
    return emulator
