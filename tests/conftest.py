"""Suite-wide set-up: an Airflow home of its own (set before Airflow is imported) and the emulator."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads these at import time: never write into ~/airflow, never load Airflow's example DAGs.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="cdm-tests-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ.pop("AIRFLOW_CONN_CDM_DEFAULT", None)
# The session's emulator enforces no quotas, and many tests poll every few milliseconds: calls are not
# paced unless a test is about pacing (it sets AIRFLOW__CDM__CLIENT_PACING=True, or passes a limiter).
os.environ["AIRFLOW__CDM__CLIENT_PACING"] = "False"

# The emulator's IAM user, for password-auth tests.
IAM_USER, IAM_PASSWORD, IAM_DOMAIN = "etl_user", "iam-password-for-tests", "etl_account"

if TYPE_CHECKING:
    from airflow_provider_cdm.emulator.testing import EmulatorProcess


@pytest.fixture(scope="session")
def emulator_process() -> Iterator[EmulatorProcess]:
    """One emulator process for the session (reset between tests by ``emulator``)."""
    from airflow_provider_cdm.emulator.testing import run_emulator

    with run_emulator(
        "--job-duration",
        "0.6",
        "--user",
        IAM_USER,
        "--password",
        IAM_PASSWORD,
        "--domain",
        IAM_DOMAIN,
        "--dialect",  # the answer shapes (emulator/dialects.py); `make test-dialects` runs the others
        os.environ.get("CDM_TEST_DIALECT", "observed"),
    ) as process:
        yield process


@pytest.fixture
def emulator(emulator_process: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    """The session's emulator, back in its initial state, `cdm_default` pointing at it, fresh quota limiters."""
    from airflow_provider_cdm.client.rate_limit import reset_shared_limiters

    reset_shared_limiters()
    emulator_process.reset()
    emulator_process.clear_faults()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", json.dumps(emulator_process.connection))
    return emulator_process
