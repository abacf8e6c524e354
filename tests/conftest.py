"""Suite-wide set-up: an Airflow home of its own (set before Airflow is imported) and the emulator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Each dag.test() of these tests is recorded (tests/task_logs.py) for test_example_dags_quiet.py.
EXAMPLE_DAG_TESTS = ROOT / "tests" / "integration" / "test_example_dags.py"

# Airflow reads these at import time: never write into ~/airflow, never load Airflow's example DAGs.
AIRFLOW_HOME = tempfile.mkdtemp(prefix="cdm-tests-airflow-home-")  # removed at the end of the session
os.environ["AIRFLOW_HOME"] = AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ.pop("AIRFLOW_CONN_CDM_DEFAULT", None)
# As the pytest plugin does: a session Fernet key, so deferring tasks do not warn "empty cryptography key".
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"))
# The session's emulator enforces no quotas, and many tests poll every few milliseconds: calls are not
# paced unless a test is about pacing (it sets AIRFLOW__CDM__CLIENT_PACING=True, or passes a limiter).
os.environ["AIRFLOW__CDM__CLIENT_PACING"] = "False"

# The emulator's IAM user, for password-auth tests.
IAM_USER, IAM_PASSWORD, IAM_DOMAIN = "etl_user", "iam-password-for-tests", "etl_account"

if TYPE_CHECKING:
    from airflow_provider_cdm.emulator.testing import EmulatorProcess


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's Airflow home goes at the end (its database closed first); nothing is left in /tmp."""
    settings = sys.modules.get("airflow.settings")
    if settings is not None:
        try:
            settings.dispose_orm()
        except Exception:  # noqa: S110 - best effort: the folder goes anyway
            pass
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """The example DAG tests' dag.test() runs, recorded for the check that they log no warning or error."""
    if item.path != EXAMPLE_DAG_TESTS:
        return (yield)
    from tests import task_logs

    funcargs = getattr(item, "funcargs", {})
    if "example_dags" in funcargs:  # the session's parsed example DAGs: test_example_dags_quiet.py reuses them
        task_logs.EXAMPLE_DAG_BAG.append(funcargs["example_dags"])
    with task_logs.dag_runs_recorded(task_logs.EXAMPLE_DAG_RUN_LOGS):
        return (yield)


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
