"""Typed results of CDM calls: frozen, built from the API's JSON, and back to plain JSON for XCom.

``from_api`` is lenient about what CDM may add or leave out (unknown statuses become None, odd
numbers None) but refuses an answer whose shape is not the documented one (:class:`ResponseShapeError`).
Every object keeps the decoded JSON it came from as ``raw``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

from airflow_provider_cdm.api.job_schema import CONFIG_VALUE_FIELDS, DEFINITION_FIELDS, to_cdm_string
from airflow_provider_cdm.api.statuses import ClusterStatus, JobStatus

T = TypeVar("T")

# The fields a job definition consists of; anything else on a job read back was added by the server.
DEFINITION_KEYS = DEFINITION_FIELDS
CONFIG_VALUES_KEYS = frozenset(CONFIG_VALUE_FIELDS)


class ResponseShapeError(ValueError):
    """A successful answer whose JSON is not shaped as documented."""


def as_object(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or ResponseShapeError naming ``what``."""
    if not isinstance(value, Mapping):
        raise ResponseShapeError(f"{what} is not a JSON object")
    return value


def as_list(value: object, what: str) -> list[Any]:
    """``value`` as a JSON array (a missing one is empty), or ResponseShapeError naming ``what``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ResponseShapeError(f"{what} is not a JSON array")
    return value


# Below this a number is epoch seconds: as milliseconds it would be before March 1973.
_EPOCH_S_BELOW = 1e11


def epoch_ms_to_datetime(value: object) -> datetime | None:
    """A CDM date as an aware UTC datetime; None if unusable (not a date, not after 1970).

    Numbers and numeric strings are epoch milliseconds, or epoch seconds (maybe fractional) when below
    1e11; other strings are ISO 8601 or ``yyyy-MM-dd HH:mm:ss``, read as UTC when they carry no offset.
    """
    number = _number(value)
    if number is None:
        return _date_text(value) if isinstance(value, str) else None
    if number <= 0:
        return None
    try:
        return datetime.fromtimestamp(number if number < _EPOCH_S_BELOW else number / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _date_text(value: str) -> datetime | None:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _number(value: object) -> float | None:
    """A finite number sent as a JSON number or numeric string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _progress(value: object, status: JobStatus | None) -> float | None:
    """Progress as CDM reports it, except that a succeeded run is complete: 100, whatever it says
    (Sqoop 2 reports -1 whenever a run is not running, success included: cdm-dialects.md row 14)."""
    if status is JobStatus.SUCCEEDED:
        return 100.0
    return _number(value)


def _flag(value: object) -> bool:
    """A boolean as CDM may send it: true/false or their strings."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _first_present(item: Mapping[str, Any], *keys: str) -> object:
    """The value of the first of ``keys`` that ``item`` holds and is not null."""
    return next((item[key] for key in keys if item.get(key) is not None), None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _flatten_counters(value: object) -> dict[str, int]:
    """``{"<group>": {"ROWS_READ": 10, ...}}`` as ``{"ROWS_READ": 10, ...}``."""
    counters: dict[str, int] = {}
    if not isinstance(value, Mapping):
        return counters
    for name, group in value.items():
        members = group.items() if isinstance(group, Mapping) else [(name, group)]
        for counter, amount in members:
            number = _int(amount)
            if number is not None:
                counters[str(counter)] = number
    return counters


@dataclass(frozen=True)
class Submission:
    """One run of a job, as the start, status and run-history calls report it."""

    job_name: str
    submission_id: int | None
    status: JobStatus | None
    status_text: str | None  # as CDM sent it, also when ``status`` is None (a value this code does not know)
    progress: float | None  # as CDM reports it (see docs/architecture.md); never decides an outcome
    creation_date: datetime | None
    execute_date: datetime | None
    last_update_date: datetime | None
    creation_user: str | None
    last_update_user: str | None
    rows_written: int | None
    rows_updated: int | None
    rows_deleted: int | None
    counters: Mapping[str, int]
    error_summary: str | None
    error_details: str | None
    external_id: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: object) -> Submission:
        item = as_object(data, "submission")
        return cls(
            job_name=str(item.get("job-name") or ""),
            submission_id=_int(item.get("submission-id")),
            status=JobStatus.parse(item.get("status")),
            status_text=_text(item.get("status")),
            progress=_progress(item.get("progress"), JobStatus.parse(item.get("status"))),
            creation_date=epoch_ms_to_datetime(item.get("creation-date")),
            execute_date=epoch_ms_to_datetime(item.get("execute-date")),
            last_update_date=epoch_ms_to_datetime(item.get("last-update-date")),
            creation_user=_text(item.get("creation-user")),
            last_update_user=_text(_first_present(item, "last-udpate-user", "last-update-user")),
            rows_written=_int(item.get("write_rows")),
            rows_updated=_int(item.get("update_rows")),
            rows_deleted=_int(item.get("delete_rows")),
            counters=_flatten_counters(item.get("counters")),
            error_summary=_text(item.get("error-summary")),
            error_details=_text(item.get("error-details")),
            external_id=_text(item.get("external-id")),
            raw=dict(item),
        )

    @property
    def is_active(self) -> bool:
        return self.status is not None and self.status.is_active

    @property
    def is_terminal(self) -> bool:
        return self.status is not None and self.status.is_terminal

    @property
    def is_success(self) -> bool:
        return self.status is not None and self.status.is_success

    @property
    def is_failure(self) -> bool:
        return self.status is not None and self.status.is_failure

    @property
    def deletes_job(self) -> bool | None:
        """Whether CDM deletes the job after this run (``isDeleteJob``); None when the answer does not say
        (sparse start and BOOTING answers carry only a few fields: cdm-dialects.md row 12)."""
        value = self.raw.get("isDeleteJob")
        return None if value is None else _flag(value)

    @property
    def started_by_schedule(self) -> bool:
        """CDM started this run on the job's schedule (``is-execute-auto``), not a start call."""
        return _flag(self.raw.get("is-execute-auto"))

    def to_json(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "submission_id": self.submission_id,
            "status": self.status.value if self.status else self.status_text,
            "progress": self.progress,
            "creation_date": _iso(self.creation_date),
            "execute_date": _iso(self.execute_date),
            "last_update_date": _iso(self.last_update_date),
            "creation_user": self.creation_user,
            "last_update_user": self.last_update_user,
            "rows_written": self.rows_written,
            "rows_updated": self.rows_updated,
            "rows_deleted": self.rows_deleted,
            "counters": dict(self.counters),
            "error_summary": self.error_summary,
            "error_details": self.error_details,
            "external_id": self.external_id,
        }


def _decode_config_values(values: object) -> object:
    """Config values with every input value percent-decoded (CDM encodes some values it sends back), and
    ``{}`` standing for an empty list (as CDM writes one) as ``[]``."""
    if not isinstance(values, Mapping):
        return values
    configs = []
    for config in as_list(_list_or_empty(values.get("configs")), "configs"):
        if isinstance(config, Mapping):
            inputs = [
                {**item, "value": unquote(item["value"])} if isinstance(item.get("value"), str) else dict(item)
                for item in as_list(_list_or_empty(config.get("inputs")), "inputs")
                if isinstance(item, Mapping)
            ]
            config = {**config, "inputs": inputs}
        configs.append(config)
    return {**values, "configs": configs}


def _list_or_empty(value: object) -> object:
    """``[]`` for an empty object, else ``value`` as it is."""
    return [] if isinstance(value, Mapping) and not value else value


def _input_values(values: object) -> dict[tuple[str, str], str]:
    """``{(config name, input name): value}`` of a config-values object."""
    found: dict[tuple[str, str], str] = {}
    if not isinstance(values, Mapping):
        return found
    for config in values.get("configs") or ():
        if not isinstance(config, Mapping):
            continue
        for item in config.get("inputs") or ():
            if isinstance(item, Mapping) and "value" in item:
                found[(str(config.get("name")), str(item.get("name")))] = _comparable(item["value"])
    return found


def _comparable(value: object) -> str:
    try:
        return to_cdm_string(value)
    except TypeError:
        return str(value)


# A Job object's flat counters of its last run, by the run's counter name.
_JOB_COUNTER_FIELDS = {
    "ROWS_READ": "rows_read",
    "ROWS_WRITTEN": "rows_written",
    "BYTES_READ": "bytes_read",
    "BYTES_WRITTEN": "bytes_written",
    "FILES_READ": "files_read",
    "FILES_WRITTEN": "files_written",
}


@dataclass(frozen=True)
class Job:
    """A job as CDM reports it (show job, list jobs)."""

    name: str
    job_type: str | None
    status: JobStatus | None
    from_connector: str | None
    from_link: str | None
    to_connector: str | None
    to_link: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: object) -> Job:
        item = as_object(data, "job")
        return cls(
            name=str(item.get("name") or ""),
            job_type=_text(item.get("job_type")),
            status=JobStatus.parse(item.get("status")),
            from_connector=_text(item.get("from-connector-name")),
            from_link=_text(item.get("from-link-name")),
            to_connector=_text(item.get("to-connector-name")),
            to_link=_text(item.get("to-link-name")),
            raw=dict(item),
        )

    @property
    def creation_date(self) -> datetime | None:
        """When CDM created the job (its ``creation-date``), if it says."""
        return epoch_ms_to_datetime(self.raw.get("creation-date"))

    def last_run(self) -> Submission | None:
        """The job's last run as the Job object carries it (list jobs, show job), or None.

        CDM's Job object repeats its last run's status, dates and counters in flat fields
        (``execute_create_date``, ``rows_written``, ...), without the submission id, the progress or
        an error summary. None when the job never ran or CDM does not send ``execute_create_date``.
        """
        raw = self.raw
        created = raw.get("execute_create_date")
        if self.status is None or _int(created) is None:
            return None
        counters = {
            counter: value
            for counter, field_name in _JOB_COUNTER_FIELDS.items()
            if (value := _int(raw.get(field_name))) is not None
        }
        return Submission.from_api(
            {
                "job-name": self.name,
                "status": raw.get("status"),
                "creation-date": created,
                "execute-date": raw.get("execute_start_date"),
                "last-update-date": raw.get("execute_update_date"),
                "write_rows": raw.get("write_rows"),
                "update_rows": raw.get("update_rows"),
                "delete_rows": raw.get("delete_rows"),
                "external-id": raw.get("external_id"),
                "counters": counters,
            }
        )

    def definition(self) -> dict[str, Any]:
        """The job as create and update expect it: server-added fields left out, config values decoded."""
        return {
            key: _decode_config_values(self.raw[key]) if key in CONFIG_VALUES_KEYS else self.raw[key]
            for key in DEFINITION_KEYS
            if key in self.raw
        }

    def matches(self, definition: Mapping[str, Any]) -> bool:
        """Whether this job holds every value ``definition`` (a job as sent to create) sets.

        Inputs CDM filled in on its own (defaults) do not count; an input sent empty equals one absent.
        Read-back values "may be" percent-encoded: each matches as read back or decoded, so a value
        that legitimately holds ``%41`` matches whether CDM encoded it or not.
        """
        mine = self.definition()
        for key in DEFINITION_KEYS:
            if key not in definition:
                continue
            if key in CONFIG_VALUES_KEYS:
                read_back = _input_values(self.raw.get(key))
                for name, value in _input_values(definition[key]).items():
                    got = read_back.get(name, "")
                    if value != got and value != unquote(got):
                        return False
            elif _comparable(definition[key]) != _comparable(mine.get(key, "")):
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "job_type": self.job_type,
            "status": self.status.value if self.status else _text(self.raw.get("status")),
            "from_connector": self.from_connector,
            "from_link": self.from_link,
            "to_connector": self.to_connector,
            "to_link": self.to_link,
            "definition": self.definition(),
        }


@dataclass(frozen=True)
class Cluster:
    """A CDM cluster."""

    id: str
    name: str
    status: ClusterStatus | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: object) -> Cluster:
        item = as_object(data, "cluster")
        return cls(
            id=str(item.get("id") or ""),
            name=str(item.get("name") or ""),
            status=ClusterStatus.parse(item.get("status")),
            raw=dict(item),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value if self.status else _text(self.raw.get("status")),
        }


@dataclass(frozen=True)
class ValidationMessage:
    """One message of a ``validation-result`` list."""

    message: str
    status: str

    @classmethod
    def from_api(cls, data: object) -> ValidationMessage:
        item = as_object(data, "validation-result entry")
        return cls(message=str(item.get("message") or ""), status=str(item.get("status") or "").upper())

    @classmethod
    def list_from(cls, document: Mapping[str, Any]) -> list[ValidationMessage]:
        """The messages of every entry, OK ones left out. An entry is ``{"status", "message"}`` (the
        reference), ``{}`` (a validator with nothing to say) or, as Sqoop 2 writes it, input names mapped
        to lists of ``{"status", "message"}``: each of those messages then starts with its input's name."""
        messages: list[ValidationMessage] = []
        for entry in as_list(document.get("validation-result"), "validation-result"):
            item = as_object(entry, "validation-result entry")
            if isinstance(item.get("status"), str) or isinstance(item.get("message"), str):
                messages.append(cls.from_api(item))
                continue
            for name, found in item.items():
                nested_entries = (
                    [found] if isinstance(found, Mapping) else as_list(found, f"validation-result {name!r}")
                )
                for nested in nested_entries:
                    message = cls.from_api(nested)
                    text = f"{name}: {message.message}" if message.message else str(name)
                    messages.append(cls(message=text, status=message.status))
        return [message for message in messages if message.status != "OK"]

    @property
    def is_error(self) -> bool:
        return self.status == "ERROR"

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status}


@dataclass(frozen=True)
class CreateJobResult:
    """A job created (or found already created by an earlier attempt of the same call)."""

    name: str
    warnings: tuple[ValidationMessage, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "warnings": [message.to_json() for message in self.warnings]}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing."""

    items: tuple[T, ...]
    total: int | None
