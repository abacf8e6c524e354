"""The example DAGs' task logs hold no warning or error from the provider, or caused by it, on either Airflow line.

Every example DAG (every file of ``example_dags/``: new ones are picked up) is checked on the lines of
its ``dag.test()`` run: the provider's own loggers (``airflow_provider_cdm.*``, an operator's
``airflow.task.operators.airflow_provider_cdm...``), and Airflow's lines the provider causes (the
secrets masker's "Skipping masking", the connection scheme warning, "XCom not found",
ExecutorSafeguard, a task failed by an error in the provider...). Any WARNING or ERROR line fails the
test unless :data:`NOT_THE_PROVIDERS` explains it; in ``example_cdm_failing_job`` the failed CDM run's
own error must be there (CDM's status and error summary), with Airflow's lines about that one failure.

The runs are the ones ``test_example_dags.py`` makes (recorded by ``tests/conftest.py`` through
``tests/task_logs.py``), so no DAG runs twice in a suite run; a DAG that file did not run in this
session (this file run alone, or an example added without a test there) is run here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.integration import test_example_dags as example_dag_tests
from tests.integration.test_example_dags import EXAMPLE_DAGS, run_dag
from tests.jobs import job_definition
from tests.task_logs import EXAMPLE_DAG_BAG, EXAMPLE_DAG_RUN_LOGS, LogLine, recording

pytestmark = pytest.mark.integration

DAG_FILES = sorted(EXAMPLE_DAGS.glob("*.py"))
FAILING_DAG = "example_cdm_failing_job"
# What test_example_dags.py scripts the failing job to end with, so its error line can be asserted.
FAILURE_SUMMARY = "Table public.orders_archive does not exist"

# WARNING and ERROR lines that are neither the provider's nor caused by it, each with the reason.
NOT_THE_PROVIDERS: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = (
    (
        frozenset({"airflow.sdk.definitions.dag", "airflow.models.dag.DAG"}),  # Airflow 3, 2.11
        re.compile(r"^No tasks to run\. unrunnable tasks: \{<TaskInstance: [^>]* \[up_for_reschedule\]"),
        "dag.test() itself, while it waits for a rescheduling sensor's next poke; a scheduler "
        "logs no such line and no task log has it",
    ),
)


def _the_failed_run(line: LogLine) -> bool:
    """Airflow's own lines about the one task that fails in example_cdm_failing_job, CDM's error in it."""
    if line.exception == "CdmJobFailedError":  # "Task failed with exception", with the provider's error
        return True
    return bool(
        re.match(r"Task failed; ti=<TaskInstance: example_cdm_failing_job\.migrate_archive ", line.message)  # 2.11
        or re.match(r"Marking run <DagRun example_cdm_failing_job .*> failed$", line.message)  # 2.11, at ERROR
    )


def _providers(line: LogLine) -> bool:
    return "airflow_provider_cdm" in line.logger


def _cdm_error(line: LogLine) -> bool:
    """The provider's line with the failed run's status and CDM's error summary."""
    return (
        _providers(line)
        and line.level == logging.ERROR
        and "ended with status FAILED" in line.message
        and f"error summary: {FAILURE_SUMMARY}" in line.message
    )


def unexplained(dag_id: str, lines: list[LogLine]) -> list[LogLine]:
    """The WARNING and ERROR lines of a run that nothing explains."""
    found = []
    for line in lines:
        if line.level < logging.WARNING:
            continue
        if any(line.logger in loggers and pattern.search(line.message) for loggers, pattern, _ in NOT_THE_PROVIDERS):
            continue
        if dag_id == FAILING_DAG and (_cdm_error(line) or _the_failed_run(line)):
            continue
        found.append(line)
    return found


# --- running a DAG here, when test_example_dags.py did not ----------------------------------------


@pytest.fixture(scope="module")
def example_dags() -> Any:
    """The DagBag test_example_dags.py ran the examples from, else the same made here (database reset)."""
    if EXAMPLE_DAG_BAG:
        return EXAMPLE_DAG_BAG[-1]
    return example_dag_tests.example_dags.__wrapped__()  # type: ignore[attr-defined]


# What test_example_dags.py sets up before running these DAGs.


def _failing_job(emulator: EmulatorProcess) -> None:
    emulator.script_job("orders_archive_to_obs", "FAILED", duration_s=0.3, error_summary=FAILURE_SUMMARY)


def _existing_job(emulator: EmulatorProcess) -> None:
    CdmHook().create_job(job_definition("orders_daily"))


def _jobs_to_clean_up(emulator: EmulatorProcess) -> None:
    hook = CdmHook()
    hook.create_job(job_definition("sales_orders_to_obs"))
    hook.create_job(job_definition("sales_customers_to_obs"))
    emulator.script_job("sales_orders_to_obs", "STUCK")
    hook.start_job("sales_orders_to_obs")


# A DAG that needs more than the emulator's initial state to succeed needs an entry here, or a test in
# test_example_dags.py (whose run this file then checks).
RUN_HERE = (
    " (run here: test_example_dags.py did not run it in this session; a DAG that needs set-up to succeed "
    "needs a test there, or an entry in SET_UP)"
)
# DAGs scheduled on CDM's asset events: run by hand (as here) no event triggers them, and their first task
# skips with these words (the watcher itself runs in the deployment test, tests/deployment).
SKIPS_BY_HAND = {"example_cdm_asset_watch": "no CDM run triggered this DAG run"}
SET_UP: dict[str, Callable[[EmulatorProcess], None]] = {
    FAILING_DAG: _failing_job,
    "example_cdm_start_existing": _existing_job,
    "example_cdm_cleanup": _jobs_to_clean_up,
}


def lines_of(dag_id: str, example_dags: Any, emulator: EmulatorProcess) -> list[LogLine]:
    """The lines of the DAG's run in test_example_dags.py, else of a run made here (set up as there)."""
    recorded = EXAMPLE_DAG_RUN_LOGS.get(dag_id)
    if recorded is not None:
        return recorded
    set_up = SET_UP.get(dag_id)
    if set_up is not None:
        set_up(emulator)
    with recording() as lines:
        run_dag(example_dags, dag_id)
    return lines


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda path: path.stem)
def test_an_example_dag_logs_no_warning_or_error_but_a_failed_runs_own(
    path: Path, example_dags: Any, emulator: EmulatorProcess
) -> None:
    dag_ids = sorted(dag_id for dag_id, dag in example_dags.dags.items() if Path(dag.fileloc) == path)
    errors = {Path(file): error for file, error in example_dags.import_errors.items()}
    assert path not in errors, f"{path.name} does not import: {errors[path]}"
    if not dag_ids:
        pytest.skip(f"{path.name} defines no DAG on this Airflow line")
    for dag_id in dag_ids:
        where = "" if dag_id in EXAMPLE_DAG_RUN_LOGS else RUN_HERE
        lines = lines_of(dag_id, example_dags, emulator)
        noise = unexplained(dag_id, lines)
        assert not noise, f"{dag_id}{where} logged:\n" + "\n".join(f"  {line}" for line in noise)
        if dag_id in SKIPS_BY_HAND:  # its run by hand skips before any provider code: the skip is the proof
            assert any(SKIPS_BY_HAND[dag_id] in line.message for line in lines), f"{dag_id}: its skip is not logged"
            continue
        # The capture sees the task logs: every example's tasks log through the provider.
        assert any(_providers(line) for line in lines), f"{dag_id}: no line of the provider was captured"
        if dag_id == FAILING_DAG:
            assert any(_cdm_error(line) for line in lines), (
                f"{dag_id}: the failed run's error (status FAILED, error summary {FAILURE_SUMMARY!r}) is not in "
                "the task log:\n" + "\n".join(f"  {line}" for line in lines if line.level >= logging.WARNING)
            )
