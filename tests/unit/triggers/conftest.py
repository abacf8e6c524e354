"""Fixtures of the trigger and async-transport tests: an in-process emulator reset per test, with
`cdm_default` pointing at it, an empty token cache, and deterministic faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_cdm.client.auth import TOKEN_CACHE
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from tests.unit.triggers.helpers import JOB_DURATION_S, ScriptedFaults


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    with emulator_in_thread("--job-duration", str(JOB_DURATION_S)) as running:
        yield running


@pytest.fixture
def emu(emulator_thread: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorThread]:
    """The module's emulator, reset, with `cdm_default` pointing at it, an empty token cache and fresh
    quota limiters."""
    emulator_thread.reset()
    emulator_thread.clear_faults()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", emulator_thread.connection_json)
    TOKEN_CACHE.clear()
    reset_shared_limiters()
    yield emulator_thread
    TOKEN_CACHE.clear()


@pytest.fixture
def faults(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> ScriptedFaults:
    return ScriptedFaults(emu, monkeypatch)
