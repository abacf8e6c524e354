"""CDM job definitions without the raw API's nested ``configs``/``inputs`` lists.

``CdmJobDefinition`` is the typed builder; ``load_job_definition`` turns whatever an operator is
given (a builder, a raw Job, a console export, JSON text, a ``.json`` file) into one validated raw
Job dict. Both refuse bad definitions before any request, listing every problem at once.

What CDM accepts is accepted: the loaded Job is :func:`api.job_schema.normalized_job` (``job_type``
defaulted, ``"inputs": {}`` read as ``[]``), a connector name CDM does not document is sent as given
with one warning per name, and only what cannot be right is refused.

Standard library only, no Airflow: DAG files import this at every parse. The Job object's facts
(required fields, the job-name rule, job types, connectors, config groups) live in ``api.job_schema``.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_cdm.api.job_schema import (
    CONFIG_VALUE_FIELDS,
    CONNECTORS,
    DEFAULT_JOB_TYPE,
    DRIVER_CONFIG_GROUPS,
    EXPECTED_VALUE,
    FROM_CONFIG_GROUP,
    TO_CONFIG_GROUP,
    definition_problems,
    normalized_job,
    to_cdm_string,
    unknown_connectors,
)

__all__ = [
    "CdmJobDefinition",
    "CdmJobDefinitionError",
    "JobDefinitionSource",
    "apply_variables",
    "load_job_definition",
    "load_job_definitions",
    "to_config_value",
]

log = logging.getLogger(__name__)

_ALL_GROUPS = frozenset({FROM_CONFIG_GROUP, TO_CONFIG_GROUP}) | DRIVER_CONFIG_GROUPS
_EXPECTED_SOURCE = (
    "a CdmJobDefinition, a Job dict, a {'jobs': [Job]} body, a JSON string of either, or a pathlib.Path to a .json file"
)


class CdmJobDefinitionError(ValueError):
    """A job definition CDM would refuse; ``problems`` lists each thing wrong, naming the bad value."""

    def __init__(self, problems: Iterable[str], job_name: object = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        self.job_name = job_name
        subject = "invalid CDM job definition" + (f" {_short(job_name, 60)}" if isinstance(job_name, str) else "")
        if len(self.problems) == 1:
            message = f"{subject}: {self.problems[0]}"
        else:
            message = f"{subject} ({len(self.problems)} problems):" + "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable despite the custom constructor
        return (type(self), (self.problems, self.job_name))


def to_config_value(key: str, value: object) -> str:
    """One config input value as the string CDM expects (:func:`api.job_schema.to_cdm_string`)."""
    try:
        return to_cdm_string(value)
    except TypeError:
        raise CdmJobDefinitionError(
            [f"{key!r} has value {_short(value)} of type {type(value).__name__}; expected {EXPECTED_VALUE}"]
        ) from None


@dataclass(frozen=True, kw_only=True)
class CdmJobDefinition:
    """A CDM job, typed; ``to_api()`` renders the raw Job object.

    ``from_config``/``to_config`` take input names without their ``fromJobConfig.``/``toJobConfig.``
    prefix (a prefixed name is accepted too); ``driver_config`` takes ``{"throttlingConfig":
    {"numExtractors": 4}}`` or ``{"throttlingConfig.numExtractors": 4}``. Values are converted with
    ``to_config_value``. Construction validates everything and stores the canonical form: unprefixed
    names, string values, driver config nested by group, all in the order given. ``from_link`` and
    ``to_connector`` may be left out, as CDM allows (it takes the destination link's connector).
    """

    name: str
    from_connector: str
    from_link: str | None = None
    to_connector: str | None = None
    to_link: str
    from_config: Mapping[str, Any]
    to_config: Mapping[str, Any]
    driver_config: Mapping[str, Any] = field(default_factory=dict)
    job_type: str = DEFAULT_JOB_TYPE

    def __post_init__(self) -> None:
        problems: list[str] = []
        groups: dict[str, dict[str, str]] = {}
        _add_side(groups, FROM_CONFIG_GROUP, "from_config", self.from_config, problems)
        _add_side(groups, TO_CONFIG_GROUP, "to_config", self.to_config, problems)
        driver = _driver_groups(self.driver_config, problems)
        object.__setattr__(self, "from_config", groups[FROM_CONFIG_GROUP])
        object.__setattr__(self, "to_config", groups[TO_CONFIG_GROUP])
        object.__setattr__(self, "driver_config", driver)
        raw = self.to_api()
        problems.extend(definition_problems(raw))  # the name's rule included
        if problems:
            raise CdmJobDefinitionError(problems, self.name)
        _warn_unknown_connectors(raw)

    def to_api(self) -> dict[str, Any]:
        """The raw Job object, keys and inputs in a fixed order (the documented one, then as given);
        an optional field left out (None) is not sent."""
        raw = {
            "name": self.name,
            "job_type": self.job_type,
            "from-connector-name": self.from_connector,
            "from-link-name": self.from_link,
            "from-config-values": _config_values({FROM_CONFIG_GROUP: self.from_config}),
            "to-connector-name": self.to_connector,
            "to-link-name": self.to_link,
            "to-config-values": _config_values({TO_CONFIG_GROUP: self.to_config}),
            "driver-config-values": _config_values(self.driver_config),
        }
        return {key: value for key, value in raw.items() if value is not None}

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> CdmJobDefinition:
        """Parse a raw Job (e.g. read back from CDM); values are kept, percent-encoded or not.

        Fields other than the definition's (``status``, ``creation-date``...) are ignored; inputs that
        the builder could not render back the same way (a group in the wrong place, a name without its
        group's prefix, a name given twice) are refused.
        """
        job = _checked_job(raw)
        problems: list[str] = []
        from_config = _flat_inputs(job, "from-config-values", {FROM_CONFIG_GROUP}, problems)
        to_config = _flat_inputs(job, "to-config-values", {TO_CONFIG_GROUP}, problems)
        driver_config = _flat_inputs(job, "driver-config-values", DRIVER_CONFIG_GROUPS, problems)
        if problems:
            raise CdmJobDefinitionError(problems, job.get("name"))
        return cls(
            name=job["name"],
            job_type=job["job_type"],
            from_connector=job["from-connector-name"],
            from_link=job.get("from-link-name"),
            to_connector=job.get("to-connector-name"),
            to_link=job["to-link-name"],
            from_config=from_config,
            to_config=to_config,
            driver_config=driver_config,
        )


JobDefinitionSource = CdmJobDefinition | Mapping[str, Any] | str | Path


def load_job_definition(value: JobDefinitionSource) -> dict[str, Any]:
    """The one validated raw Job dict (a deep copy, values converted) from any accepted source.

    Accepts a ``CdmJobDefinition``, a raw Job dict, a ``{"jobs": [Job]}`` body holding exactly one
    job (a console export), a JSON string of either (a rendered template), or a ``pathlib.Path`` to
    a ``.json`` file.
    """
    if isinstance(value, CdmJobDefinition):
        return _checked_job(value.to_api())  # its mappings are plain dicts: re-check, cheaply
    jobs, _ = _jobs_of(value)
    if len(jobs) != 1:
        raise CdmJobDefinitionError(
            [f"the body holds {len(jobs)} jobs; exactly one is expected (load_job_definitions reads several)"]
        )
    return _checked_job(jobs[0])


def load_job_definitions(value: JobDefinitionSource) -> list[dict[str, Any]]:
    """Every job of a ``{"jobs": [...]}`` body (or the one job of any other source), validated.

    Problems of all jobs are reported together, each prefixed with its place in the body; job
    names must be unique within the body.
    """
    if isinstance(value, CdmJobDefinition):
        return [load_job_definition(value)]
    jobs, in_body = _jobs_of(value)
    if not jobs:
        raise CdmJobDefinitionError(["the body's 'jobs' list is empty; at least one job is expected"])
    problems: list[str] = []
    result: list[dict[str, Any]] = []
    seen: dict[object, int] = {}
    for index, job in enumerate(jobs):
        name = job.get("name") if isinstance(job, Mapping) else None
        where = f"jobs[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
        try:
            result.append(_checked_job(job))
        except CdmJobDefinitionError as error:
            problems.extend(f"{where}: {p}" if in_body else p for p in error.problems)
        if isinstance(name, str):
            if name in seen:
                problems.append(f"jobs[{seen[name]}] and jobs[{index}] are both named {name!r}; names must be unique")
            seen.setdefault(name, index)
    if problems:
        raise CdmJobDefinitionError(problems)
    return result


_VARIABLE = re.compile(r"\$\{([^{}]+)\}")


def apply_variables(job: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a raw Job whose config input values have each ``${name}`` of ``variables`` replaced.

    What CDM does with a start's variables, for the create-and-execute call, whose body cannot carry
    them. Placeholders of names not given are left as they are.
    """
    values = {str(name): to_config_value(f"variables[{name!r}]", value) for name, value in variables.items()}
    result: dict[str, Any] = _plain(job)
    for field_name in CONFIG_VALUE_FIELDS:
        field_values = result.get(field_name)
        configs = field_values.get("configs") if isinstance(field_values, dict) else None
        for config in configs if isinstance(configs, list) else []:
            inputs = config.get("inputs") if isinstance(config, dict) else None
            for item in inputs if isinstance(inputs, list) else []:
                if isinstance(item, dict) and isinstance(item.get("value"), str):
                    item["value"] = _VARIABLE.sub(lambda found: values.get(found[1], found[0]), item["value"])
    return result


# --- helpers ---------------------------------------------------------------------------------------


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _got(value: object) -> str:
    return f"got {type(value).__name__} {_short(value)}"


def _input_name(group: str, key: object, where: str, problems: list[str]) -> str | None:
    """``group.key`` (``key`` may carry the prefix already), or None after recording why not."""
    if not isinstance(key, str) or not key:
        problems.append(f"{where} key {_short(key)} must be a non-empty string naming a {group} input")
        return None
    rest = key.removeprefix(f"{group}.")
    head = rest.split(".", 1)[0]
    if not rest:
        problems.append(f"{where} key {key!r} has no input name after the {group + '.'!r} prefix")
        return None
    if head in _ALL_GROUPS:
        problems.append(
            f"{where} key {key!r} names config group {head!r}; expected a {group} input name, "
            f"with or without the {group + '.'!r} prefix"
        )
        return None
    return f"{group}.{rest}"


def _add_inputs(inputs: dict[str, str], group: str, items: Mapping[Any, Any], where: str, problems: list[str]) -> None:
    for key, raw_value in items.items():
        name = _input_name(group, key, where, problems)
        if name is None:
            continue
        short = name[len(group) + 1 :]
        if short in inputs:
            problems.append(f"{where} gives input {name!r} twice")
            continue
        try:
            inputs[short] = to_config_value(name, raw_value)
        except CdmJobDefinitionError as error:
            problems.extend(error.problems)


def _add_side(groups: dict[str, dict[str, str]], group: str, where: str, items: object, problems: list[str]) -> None:
    inputs = groups.setdefault(group, {})
    if not isinstance(items, Mapping):
        problems.append(f"{where} {_short(items)} must be a mapping of input name to value")
        return
    _add_inputs(inputs, group, items, where, problems)


def _driver_groups(items: object, problems: list[str]) -> dict[str, dict[str, str]]:
    """Nested (``{group: {input: value}}``) and dotted (``{"group.input": value}``) keys, grouped."""
    groups: dict[str, dict[str, str]] = {}
    if not isinstance(items, Mapping):
        problems.append(f"driver_config {_short(items)} must be a mapping")
        return groups
    for key, value in items.items():
        nested = isinstance(key, str) and "." not in key and isinstance(value, Mapping)
        group = key.split(".", 1)[0] if isinstance(key, str) else ""
        if group not in DRIVER_CONFIG_GROUPS:
            problems.append(
                f"driver_config key {_short(key)}: {group!r} is not a driver config group; "
                f"expected one of {sorted(DRIVER_CONFIG_GROUPS)}, as {{group: {{input: value}}}} or 'group.input'"
            )
        elif not nested and "." not in key:
            problems.append(f"driver_config key {key!r} must map to {{input: value}} or be written as '{key}.input'")
        else:
            _add_inputs(
                groups.setdefault(group, {}), group, value if nested else {key: value}, "driver_config", problems
            )
    return groups


def _config_values(groups: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    return {
        "configs": [
            {"name": group, "inputs": [{"name": f"{group}.{key}", "value": value} for key, value in inputs.items()]}
            for group, inputs in groups.items()
        ]
    }


def _plain(value: object) -> Any:
    """A deep copy with every mapping a dict and every list or tuple a list (JSON's shapes)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.deepcopy(value)


def _warn_unknown_connectors(job: Mapping[str, Any]) -> None:
    """A warning, once per name and process, for a connector CDM does not document: it is sent as given."""
    for name in unknown_connectors(job):
        if name not in _WARNED_CONNECTORS:
            _WARNED_CONNECTORS.add(name)
            log.warning(
                "CDM connector %r is not one CDM documents (%s); it is sent as given: check its spelling",
                name,
                ", ".join(sorted(CONNECTORS)),
            )


_WARNED_CONNECTORS: set[str] = set()


def _checked_job(raw: object) -> dict[str, Any]:
    """A deep copy of a raw Job with its input values converted and its shape normalised
    (:func:`api.job_schema.normalized_job`); raises listing every problem."""
    if not isinstance(raw, Mapping):
        raise CdmJobDefinitionError([f"a job must be an object; {_got(raw)}"])
    job: dict[str, Any] = _plain(raw)
    problems: list[str] = []
    for field_name in CONFIG_VALUE_FIELDS:
        values = job.get(field_name)
        configs = values.get("configs") if isinstance(values, dict) else None
        for config in configs if isinstance(configs, list) else []:
            inputs = config.get("inputs") if isinstance(config, dict) else None
            for item in inputs if isinstance(inputs, list) else []:
                if not isinstance(item, dict) or "value" not in item or type(item["value"]) is str:
                    continue  # well-formed, or a shape problem definition_problems reports
                try:
                    item["value"] = to_config_value(str(item.get("name")), item["value"])
                except CdmJobDefinitionError as error:
                    problems.extend(error.problems)
                    item["value"] = ""  # reported; keeps the schema check from reporting it again
    problems.extend(definition_problems(job))
    if problems:
        raise CdmJobDefinitionError(problems, job.get("name"))
    _warn_unknown_connectors(job)
    return normalized_job(job)


def _flat_inputs(job: Mapping[str, Any], field_name: str, groups: Iterable[str], problems: list[str]) -> dict[str, str]:
    """A checked Job's inputs of one field as ``{full name: value}``; refuses what would not round-trip."""
    allowed = set(groups)
    flat: dict[str, str] = {}
    for config in job[field_name]["configs"]:
        group = config["name"]
        if group not in allowed:
            problems.append(f"{field_name} has config group {group!r}; expected {' or '.join(sorted(allowed))}")
            continue
        for item in config.get("inputs", []):
            name = item["name"]
            if not name.startswith(f"{group}.") or name in flat:
                reason = "is given twice" if name in flat else f"does not start with {group + '.'!r}"
                problems.append(f"{field_name}: input {name!r} of config group {group!r} {reason}")
                continue
            flat[name] = item["value"]
    return flat


def _jobs_of(value: object) -> tuple[list[Any], bool]:
    """The job(s) a source holds, and whether they came in a ``{"jobs": [...]}`` body."""
    if isinstance(value, Path):
        document = _parse_json(_read(value), f"{str(value)!r}: ")
    elif isinstance(value, str):
        document = _parse_json(value, "")
    elif isinstance(value, Mapping):
        document = value
    else:
        raise CdmJobDefinitionError([f"expected {_EXPECTED_SOURCE}; {_got(value)}"])
    if not isinstance(document, Mapping):
        raise CdmJobDefinitionError([f"expected a JSON object (a Job or a {{'jobs': [Job]}} body); {_got(document)}"])
    if "jobs" not in document:
        return [document], False
    jobs = document["jobs"]
    if not isinstance(jobs, list):
        raise CdmJobDefinitionError([f"the body's 'jobs' must be a list of Job objects; {_got(jobs)}"])
    return jobs, True


def _read(path: Path) -> str:
    if path.suffix.lower() != ".json":
        raise CdmJobDefinitionError([f"job definition file {str(path)!r} must be a .json file"])
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CdmJobDefinitionError([f"cannot read job definition file {str(path)!r}: {error}"]) from error


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        hint = ""
        if text.strip().lower().endswith(".json") and not text.lstrip().startswith(("{", "[")):
            hint = " (it looks like a file name: pass a pathlib.Path to read a file)"
        raise CdmJobDefinitionError(
            [f"{where}invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}{hint}"]
        ) from error
