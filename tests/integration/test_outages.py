"""An API outage longer than one call's retry budget does not end a wait: the waiter keeps reading the
run's status until its own deadline, so a job is never abandoned (and left running) over a bad minute."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.client.exceptions import CdmApiError
from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import CdmStartJobOperator
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.jobs import job_definition
from tests.triggering import run_trigger
from tests.unit.operators.helpers import task_context

pytestmark = pytest.mark.integration

# One call gives up after about 0.3 s; the outage lasts 1.5 s.
SHORT_RETRIES: dict[str, Any] = {
    "retry_policy": {"max_elapsed_s": 0.3, "initial_backoff_s": 0.02, "max_backoff_s": 0.1}
}
OUTAGE_S = 1.5


def outage_after(emulator: EmulatorProcess, delay_s: float) -> threading.Thread:
    """Every request answers 503 from ``delay_s`` on, for OUTAGE_S seconds."""

    def run() -> None:
        time.sleep(delay_s)
        emulator.set_faults(error_rate=1.0, error_statuses=[503])
        time.sleep(OUTAGE_S)
        emulator.clear_faults()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (CdmApiError("no answer"), True),
        (CdmApiError("x", http_status=503, kind=ErrorKind.SERVER), True),
        (CdmApiError("x", http_status=429, code="APIG.0308"), True),
        (CdmApiError("x", http_status=401, code="APIG.1002"), False),
        (CdmApiError("x", http_status=400, code="Cdm.0100"), False),
    ],
)
def test_which_failures_a_waiter_outlasts(error: CdmApiError, transient: bool) -> None:
    assert error.transient is transient


def test_a_polling_start_outlasts_an_outage(emulator: EmulatorProcess) -> None:
    CdmHook().create_job(job_definition("outage_poll"))
    emulator.script_job("outage_poll", "SUCCEEDED", duration_s=2.5)
    operator = CdmStartJobOperator(
        task_id="migrate", job_name="outage_poll", poll_interval=0.1, timeout=30, hook_params=SHORT_RETRIES
    )
    outage = outage_after(emulator, 0.5)
    result = operator.execute(task_context())
    outage.join()
    assert result["status"] == "SUCCEEDED"
    assert emulator.stats()["faults"].get("error", 0) > 0
    assert emulator.stats()["starts"] == {"outage_poll": 1}


def test_a_trigger_outlasts_an_outage(emulator: EmulatorProcess) -> None:
    hook = CdmHook()
    hook.create_job(job_definition("outage_trigger"))
    emulator.script_job("outage_trigger", "SUCCEEDED", duration_s=2.5)
    started = hook.start_job("outage_trigger")
    trigger = CdmJobStatusTrigger(
        run=RunRef.of(started, emulator.cluster_id).to_json(),
        end_time=time.time() + 30,
        poll_interval=0.1,
        hook_params=SHORT_RETRIES,
    )
    outage = outage_after(emulator, 0.3)

    event = asyncio.run(run_trigger(trigger))
    outage.join()
    assert event["status"] == "success", event["message"]
    assert emulator.stats()["faults"].get("error", 0) > 0
