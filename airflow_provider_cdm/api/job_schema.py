"""The CDM Job object's documented shape: fields, job names, job types, connectors, config groups.

Both the client-side builder (which refuses bad definitions before any request) and the emulator
(which answers them with ``validation-result`` errors) check definitions against these facts, and
both store a definition as :func:`normalized_job` has it. Only what cannot be right is refused (the
structure, and the name rule that protects the API path): the API reference's own example requests
(``tests/data/seeds/``) must pass as written.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

MAX_JOB_NAME_LENGTH = 240

# In the documented order (NORMAL_JOB is the list-jobs default, and what CDM assumes when a job has none).
JOB_TYPES: tuple[str, ...] = ("NORMAL_JOB", "BATCH_JOB", "SCENARIO_JOB")
DEFAULT_JOB_TYPE = JOB_TYPES[0]

# The connectors the API reference lists, and those Huawei's SDK lists besides: for docs and hints.
# Any other non-empty name is accepted (CDM adds connectors; a warning at most, never a refusal).
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
        "nas-connector",
        "opentsdb-connector",
        "thirdparty-obs-connector",
    }
)

# Every field of a job definition, in the documented order; anything else on a Job is the server's.
DEFINITION_FIELDS: tuple[str, ...] = (
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
# The create-in-a-cluster reference marks job_type (default NORMAL_JOB), to-connector-name (the
# destination link's) and from-link-name optional. It marks name optional too, but a job is addressed
# by its name (show, start, status...) and CDM documents no default: it stays required.
REQUIRED_FIELDS: tuple[str, ...] = (
    "name",
    "from-connector-name",
    "from-config-values",
    "to-link-name",
    "to-config-values",
    "driver-config-values",
)
_NAME_REQUIRED = "CDM addresses a job by its name"

FROM_CONFIG_GROUP = "fromJobConfig"
TO_CONFIG_GROUP = "toJobConfig"
# Driver (job-level) config groups and the inputs CDM documents for them.
DRIVER_CONFIG_GROUPS: frozenset[str] = frozenset(
    {
        "throttlingConfig",
        "schedulerConfig",
        "retryJobConfig",
        "groupJobConfig",
        "smnConfig",
        "jvmConfig",
        "jarConfig",  # these two appear, empty, in the reference's example requests
        "transformConfig",
    }
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
    problems = [
        f"missing required field {field!r}" + (f" ({_NAME_REQUIRED})" if field == "name" else "")
        for field in REQUIRED_FIELDS
        if field not in job
    ]
    if "name" in job:
        problems.extend(job_name_problems(job["name"]))
    if "job_type" in job and job.get("job_type") not in JOB_TYPES:
        problems.append(f"job_type {job.get('job_type')!r} is not one of {sorted(JOB_TYPES)}")
    for side in ("from", "to"):
        connector = job.get(f"{side}-connector-name")
        if f"{side}-connector-name" in job and (not isinstance(connector, str) or not connector.strip()):
            problems.append(
                f"{side}-connector-name {connector!r} must be a non-empty string naming a connector, "
                f"e.g. one of {sorted(CONNECTORS)}"
            )
        link = job.get(f"{side}-link-name")
        if f"{side}-link-name" in job and (not isinstance(link, str) or not link):
            problems.append(f"{side}-link-name {link!r} must be a non-empty string")
    for field in CONFIG_VALUE_FIELDS:
        if field in job:
            problems.extend(config_values_problems(field, job[field]))
    return problems


def unknown_connectors(job: Mapping[str, Any]) -> list[str]:
    """The job's connector names that are not in :data:`CONNECTORS` (accepted: worth a hint at most)."""
    names = (job.get("from-connector-name"), job.get("to-connector-name"))
    return [name for name in dict.fromkeys(names) if isinstance(name, str) and name and name not in CONNECTORS]


def _empty_object(value: object) -> bool:
    """``{}`` where a list is expected: how CDM writes an empty list (the reference's ``"inputs" : { }``)."""
    return isinstance(value, Mapping) and not value


def config_values_problems(field: str, values: object) -> list[str]:
    """Problems with one ``{"configs": [{"name", "inputs": [{"name", "value"}]}]}`` structure.

    ``configs`` may be left out (the reference marks it optional), a config's ``inputs`` too; either
    may be ``{}`` for an empty list. Other keys (``id``, ``type``, ``extended-configs``) are CDM's own.
    """
    if not isinstance(values, Mapping):
        return [f"{field} {values!r:.80} must be an object with a 'configs' list"]
    configs = values.get("configs", [])
    if _empty_object(configs):
        return []
    if not isinstance(configs, list):
        return [f"{field}: 'configs' {configs!r:.80} must be a list of {{name, inputs}} objects (or {{}} when empty)"]
    problems: list[str] = []
    for config in configs:
        if not isinstance(config, Mapping) or not isinstance(config.get("name"), str):
            problems.append(f"{field}: config {config!r:.80} needs a string 'name'")
            continue
        inputs = config.get("inputs", [])
        if _empty_object(inputs):
            continue
        if not isinstance(inputs, list):
            problems.append(
                f"{field}.{config['name']}: 'inputs' {inputs!r:.80} must be a list of {{name, value}} objects "
                "(or {} when empty)"
            )
            continue
        for item in inputs:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                problems.append(f"{field}.{config['name']}: input {item!r:.80} needs a string 'name'")
            elif not isinstance(item.get("value"), str):
                problems.append(
                    f"{field}: input {item['name']!r} has value {item.get('value')!r}; every value must be a string"
                )
    return problems


def normalized_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a valid Job (no :func:`definition_problems`) as the client sends and the emulator stores it.

    ``job_type`` defaults to ``NORMAL_JOB`` (CDM's default); a missing ``configs`` and every ``{}``
    standing for an empty list become ``[]`` (the documented type). Nothing else changes: left-out
    optional fields stay out, and every key CDM may add is kept.
    """
    result = copy.deepcopy(dict(job))
    result.setdefault("job_type", DEFAULT_JOB_TYPE)
    for field in CONFIG_VALUE_FIELDS:
        values = result[field]
        configs = values.get("configs", [])
        values["configs"] = [] if _empty_object(configs) else configs
        for config in values["configs"]:
            if _empty_object(config.get("inputs")):
                config["inputs"] = []
    return result
