"""The job options that change what a waiter sees, read from a job definition: one place for both sides.

CDM's job parameters (``job_parameter_description``, ``../shared/cdm-api.md``) are driver-config-values
inputs whose values are strings (percent-encoded when CDM reads them back):

- ``schedulerConfig.disposableType``: ``DELETE_AFTER_SUCCEED`` deletes the job once a run succeeded,
  ``DELETE`` after its run whatever the result, ``NONE`` (default) keeps it;
- ``retryJobConfig.retryJobType``: ``RETRY_TRIPLE`` makes CDM run a failed job again, up to three times;
- ``schedulerConfig.isSchedulerJob``: CDM starts the job's runs itself, on its schedule.

The emulator applies them; the client's waits read them to tell a job CDM deleted as asked from one
that vanished, and to wait for CDM's own retries.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

DISPOSABLE_INPUT = "schedulerConfig.disposableType"
RETRY_INPUT = "retryJobConfig.retryJobType"
SCHEDULED_INPUT = "schedulerConfig.isSchedulerJob"
RETRY_TRIPLE = "RETRY_TRIPLE"
RETRY_TRIPLE_RUNS = 3  # CDM's retries of one failed run


class Disposal(str, enum.Enum):
    """What CDM does with a job after its run (``schedulerConfig.disposableType``)."""

    NONE = "NONE"
    DELETE_AFTER_SUCCEED = "DELETE_AFTER_SUCCEED"
    DELETE = "DELETE"

    def deletes_after(self, succeeded: bool) -> bool:
        """Whether a run that ended this way takes the job with it."""
        return self is Disposal.DELETE or (self is Disposal.DELETE_AFTER_SUCCEED and succeeded)


def driver_inputs(definition: Mapping[str, Any]) -> dict[str, str]:
    """``{input name: value}`` of a definition's driver-config-values (values decoded, stripped)."""
    found: dict[str, str] = {}
    values = definition.get("driver-config-values")
    configs = values.get("configs") if isinstance(values, Mapping) else None
    for config in configs if isinstance(configs, list) else ():
        inputs = config.get("inputs") if isinstance(config, Mapping) else None
        for item in inputs if isinstance(inputs, list) else ():
            if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item.get("value") is not None:
                found[item["name"]] = unquote(str(item["value"])).strip()
    return found


@dataclass(frozen=True)
class JobOptions:
    """A job's disposal, CDM's retries of a failed run, and whether CDM schedules it (JSON-only)."""

    disposal: Disposal = Disposal.NONE
    retries: int = 0
    scheduled: bool = False

    @classmethod
    def of_definition(cls, definition: Mapping[str, Any]) -> JobOptions:
        """The options a definition sets (an unknown value reads as CDM's default)."""
        inputs = driver_inputs(definition)
        disposal = Disposal.__members__.get(inputs.get(DISPOSABLE_INPUT, "").upper(), Disposal.NONE)
        retries = RETRY_TRIPLE_RUNS if inputs.get(RETRY_INPUT, "").upper() == RETRY_TRIPLE else 0
        scheduled = inputs.get(SCHEDULED_INPUT, "").lower() == "true"
        return cls(disposal, retries, scheduled)

    def to_json(self) -> dict[str, Any]:
        return {"disposal": self.disposal.value, "retries": self.retries, "scheduled": self.scheduled}

    @classmethod
    def from_json(cls, data: object) -> JobOptions:
        if not isinstance(data, Mapping):
            raise ValueError(f"job options must be an object, got {data!r:.100}")
        retries = data.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"job options: retries must be an integer >= 0, got {retries!r}")
        try:
            disposal = Disposal(data.get("disposal", Disposal.NONE.value))
        except ValueError:
            raise ValueError(f"job options: disposal must be one of {[d.value for d in Disposal]}") from None
        return cls(disposal, retries, bool(data.get("scheduled", False)))
