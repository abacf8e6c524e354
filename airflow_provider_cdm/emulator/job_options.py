"""The job options the emulator's state machine applies, read from a stored (plain) definition.

Names and values as CDM documents them (``job_parameter_description``; ``../shared/cdm-dialects.md``,
"Documented job options that change what a waiter sees"); the option names and the disposal rule are
shared with the client (``api.job_options``). Values are strings; the stored definition is plain (CDM
percent-encodes only on read-back), so nothing is decoded here.

BATCH_JOB (entire-database migration): the API reference documents no table list for a batch job (the
console picks tables on a page of its own). The evidence the emulator goes by: the relational source's
``fromJobConfig.tableName`` (the table, with ``*`` wildcards in the reference) and CDM's ``&`` as the
list separator of job inputs (``columnList``, ``partitionList``). So a batch job's tables are its
``fromJobConfig.tableName`` split on ``&`` (a wildcard is taken as a literal name: the emulator has no
database to match it against). A batch job without one runs as a single job of its own. Each table's
subjob is ``<parent>_<table>`` (old status reference, cdm_02_0064): the parent's definition as a
NORMAL_JOB for that one table (``toJobConfig.tableName`` too, when set: the console wants destination
tables named as the source's), without the parent's scheduler and retry settings, which stay the parent's.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Any

from airflow_provider_cdm.api.job_options import (
    DISPOSABLE_INPUT,
    RETRY_INPUT,
    RETRY_TRIPLE,
    RETRY_TRIPLE_RUNS,
    SCHEDULED_INPUT,
    Disposal,
)
from airflow_provider_cdm.emulator.schedules import Schedule

BATCH_JOB = "BATCH_JOB"
NORMAL_JOB = "NORMAL_JOB"
TABLE_INPUT = "fromJobConfig.tableName"
TO_TABLE_INPUT = "toJobConfig.tableName"
TABLE_SEPARATOR = "&"
# Parent-level driver config groups a subjob does not inherit.
_PARENT_ONLY_GROUPS = frozenset({"schedulerConfig", "retryJobConfig"})

JsonDict = dict[str, Any]


def config_inputs(definition: Mapping[str, Any], field: str) -> dict[str, str]:
    """``{input name: value}`` of one ConfigValues field of a stored definition (plain values)."""
    found: dict[str, str] = {}
    for config in definition.get(field, {}).get("configs", []):
        for item in config.get("inputs", []):
            found[str(item["name"])] = str(item["value"])
    return found


@dataclass(frozen=True)
class EmulatedOptions:
    """What a job's options make the emulator do: deletion, CDM's retries, its schedule, batch tables."""

    disposal: Disposal = Disposal.NONE
    retries: int = 0
    schedule: Schedule | None = None
    tables: tuple[str, ...] = ()

    @classmethod
    def of(cls, definition: Mapping[str, Any], saved_at: float, tz: tzinfo = timezone.utc) -> EmulatedOptions:
        """The options of a stored definition saved at ``saved_at``; ValueError for a bad schedule.

        An unknown disposal or retry value reads as CDM's default (NONE), as on the client side.
        """
        driver = config_inputs(definition, "driver-config-values")
        disposal = Disposal.__members__.get(driver.get(DISPOSABLE_INPUT, "").strip().upper(), Disposal.NONE)
        retries = RETRY_TRIPLE_RUNS if driver.get(RETRY_INPUT, "").strip().upper() == RETRY_TRIPLE else 0
        schedule = None
        if driver.get(SCHEDULED_INPUT, "").strip().lower() == "true":
            schedule = Schedule.from_inputs(driver, saved_at, tz)
        tables: tuple[str, ...] = ()
        if definition.get("job_type") == BATCH_JOB:
            listed = config_inputs(definition, "from-config-values").get(TABLE_INPUT, "").split(TABLE_SEPARATOR)
            tables = tuple(dict.fromkeys(table.strip() for table in listed if table.strip()))
        return cls(disposal, retries, schedule, tables)

    def to_json(self) -> JsonDict:
        return {
            "disposal": self.disposal.value,
            "retries": self.retries,
            "schedule": None if self.schedule is None else self.schedule.to_json(),
            "tables": list(self.tables),
        }


def option_problems(definition: Mapping[str, Any], saved_at: float, tz: tzinfo = timezone.utc) -> list[str]:
    """Why CDM would refuse the definition's options (only a scheduled job's timetable can be wrong)."""
    try:
        EmulatedOptions.of(definition, saved_at, tz)
    except ValueError as error:
        return [str(error)]
    return []


def subjob_name(parent: str, table: str) -> str:
    return f"{parent}_{table}"


def subjob_definition(parent: Mapping[str, Any], table: str) -> JsonDict:
    """The NORMAL_JOB that migrates one table of a batch job (see the module docstring)."""
    out = copy.deepcopy(dict(parent))
    out["name"] = subjob_name(str(parent["name"]), table)
    out["job_type"] = NORMAL_JOB
    for field, name in (("from-config-values", TABLE_INPUT), ("to-config-values", TO_TABLE_INPUT)):
        for config in out[field]["configs"]:
            for item in config.get("inputs", []):
                if item["name"] == name:
                    item["value"] = table
    driver = out["driver-config-values"]
    driver["configs"] = [config for config in driver["configs"] if config.get("name") not in _PARENT_ONLY_GROUPS]
    return out
