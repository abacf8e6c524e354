"""Running a CdmJobStatusTrigger to its end in a test, as the triggerer would."""

from __future__ import annotations

import json
from typing import Any

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
