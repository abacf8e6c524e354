"""Running a CdmJobStatusTrigger to its end in a test, as the triggerer would."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.emulator.testing import EmulatorHandle
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger


async def run_trigger(trigger: CdmJobStatusTrigger) -> dict[str, Any]:
    """Run the trigger to its end as the triggerer would (cleanup afterwards); its one event's payload."""
    try:
        events = [event async for event in trigger.run()]
    finally:
        await trigger.cleanup()
    assert len(events) == 1, events
    payload: dict[str, Any] = events[0].payload
    json.dumps(payload)  # the event must be JSON
    return payload


def with_cdm_id(run: RunRef, emulator: EmulatorHandle) -> RunRef:
    """``run`` with the id CDM gave it (the emulator's admin view), as a start task knows it once CDM
    reported it: a sparse start answer (the observed dialect, cdm-dialects.md row 12) carries none."""
    if run.submission_id is not None:
        return run
    return dataclasses.replace(run, submission_id=emulator.runs(run.job_name)[-1]["submission_id"])
