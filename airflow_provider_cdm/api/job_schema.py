"""The CDM Job object's documented shape: required fields, job names, job types, connectors, config groups.

Both the client-side builder (which refuses bad definitions before any request) and the emulator
(which answers them with ``validation-result`` errors) check definitions against these facts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

MAX_JOB_NAME_LENGTH = 240

# In the documented order (NORMAL_JOB is the list-jobs default).
JOB_TYPES: tuple[str, ...] = ("NORMAL_JOB", "BATCH_JOB", "SCENARIO_JOB")

CONNECTORS: frozenset[str] = frozenset(
    {
        "generic-jdbc-connector",
        "obs-connector",
        "hdfs-connector",
        "hbase-connector",
        "hive-connector",
        "ftp-connector",
        "sftp-connector",
        "mongodb-connector",
        "redis-connector",
        "kafka-connector",
        "dis-connector",
        "elasticsearch-connector",
        "dli-connector",
        "http-connector",
        "dms-kafka-connector",
    }
)

REQUIRED_FIELDS: tuple[str, ...] = (
    "name",
    "job_type",
    "from-connector-name",
    "from-link-name",
    "from-config-values",
    "to-connector-name",
    "to-link-name",
    "to-config-values",
    "driver-config-values",
)

FROM_CONFIG_GROUP = "fromJobConfig"
TO_CONFIG_GROUP = "toJobConfig"
# Driver (job-level) config groups and the inputs CDM documents for them.
DRIVER_CONFIG_GROUPS: frozenset[str] = frozenset(
    {"throttlingConfig", "schedulerConfig", "retryJobConfig", "groupJobConfig", "smnConfig", "jvmConfig"}
)
CONFIG_VALUE_FIELDS: tuple[str, ...] = ("from-config-values", "to-config-values", "driver-config-values")


EXPECTED_VALUE = "a str, bool, int, finite float or Decimal, or an enum of those (CDM values are strings)"


def to_cdm_string(value: object) -> str:
    """A config input or variable value as CDM spells it; TypeError for values with no obvious string.

    str as is; bool as ``true``/``false``; int in decimal; float and Decimal as plain decimals without
    an exponent (``1e20`` -> ``100000000000000000000``); an enum as its value. ``None``, containers,
    bytes, dates and the like are refused: their string form is a guess CDM would accept silently.
    """
    if isinstance(value, Enum):
        return to_cdm_string(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return format(Decimal(repr(float(value))), "f")  # repr: the shortest form, so 0.1 stays "0.1"
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} has no CDM string form; expected {EXPECTED_VALUE}")


def job_name_problems(name: object, label: str = "name") -> list[str]:
    """Everything that keeps ``name`` from being a CDM job name, each message starting with ``label``.

    The one rule for the builder (``job_definition``), the client (``operations.check_job_name``) and
    the emulator's create validation: a string of 1 to 240 characters that can go into an API path as
    one segment (``escape_path_segment``: not empty, no ``/`` or ``\\``, not ``.`` or ``..``, no control
    characters), without leading or trailing whitespace, and not ``all`` in any case (the list-jobs
    API reads that name as "every job").
    """
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_JOB_NAME_LENGTH:
        return [f"{label} {name!r} must be a string of 1 to {MAX_JOB_NAME_LENGTH} characters"]
    # endpoints imports this module (for MAX_JOB_NAME_LENGTH): import it when first needed.
    from airflow_provider_cdm.api.endpoints import LIST_ALL_JOBS, PathParameterError, escape_path_segment

    problems: list[str] = []
    try:
        escape_path_segment(label, name)
    except PathParameterError as error:
        problems.append(str(error))
    if name != name.strip():
        problems.append(f"{label} {name!r} must not start or end with whitespace")
    if name.lower() == LIST_ALL_JOBS:
        problems.append(f"{label} {name!r} is reserved: the list-jobs API reads it as 'every job'")
    return problems


def definition_problems(job: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a raw Job object, as messages that name the field and what is expected."""
    problems = [f"missing required field {field!r}" for field in REQUIRED_FIELDS if field not in job]
    if "name" in job:
        problems.extend(job_name_problems(job["name"]))
    if "job_type" in job and job.get("job_type") not in JOB_TYPES:
        problems.append(f"job_type {job.get('job_type')!r} is not one of {sorted(JOB_TYPES)}")
    for side in ("from", "to"):
        connector = job.get(f"{side}-connector-name")
        if f"{side}-connector-name" in job and connector not in CONNECTORS:
            problems.append(
                f"{side}-connector-name {connector!r} is not a known CDM connector; "
                f"expected one of {sorted(CONNECTORS)}"
            )
        link = job.get(f"{side}-link-name")
        if f"{side}-link-name" in job and (not isinstance(link, str) or not link):
            problems.append(f"{side}-link-name {link!r} must be a non-empty string")
    for field in CONFIG_VALUE_FIELDS:
        if field in job:
            problems.extend(config_values_problems(field, job[field]))
    return problems


def config_values_problems(field: str, values: object) -> list[str]:
    """Problems with one ``{"configs": [{"name", "inputs": [{"name", "value"}]}]}`` structure."""
    if not isinstance(values, Mapping) or not isinstance(values.get("configs"), list):
        return [f"{field} must be an object with a 'configs' list"]
    problems: list[str] = []
    for config in values["configs"]:
        if not isinstance(config, Mapping) or not isinstance(config.get("name"), str):
            problems.append(f"{field}: every config needs a string 'name'")
            continue
        inputs = config.get("inputs", [])
        if not isinstance(inputs, list):
            problems.append(f"{field}.{config['name']}: 'inputs' must be a list")
            continue
        for item in inputs:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                problems.append(f"{field}.{config['name']}: every input needs a string 'name'")
            elif not isinstance(item.get("value"), str):
                problems.append(
                    f"{field}: input {item['name']!r} has value {item.get('value')!r}; every value must be a string"
                )
    return problems
