"""What an HTTP exchange means, whatever library carried it: a parsed result or a classified failure.

The sync transport (requests) and the async one (httpx) both hand their answers here, so a status,
an error body or an unreadable answer means the same thing to both retry loops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from airflow_provider_cdm.api.errors import ErrorKind, is_definite_refusal
from airflow_provider_cdm.client.exceptions import CdmValidationError, api_error, error_from_response
from airflow_provider_cdm.client.operations import CdmCall, ValidationRejected
from airflow_provider_cdm.client.retry import AttemptFailure, is_transient_status, parse_retry_after

T = TypeVar("T")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes = field(repr=False)


def http_failure(response: HttpResponse, method: str, path: str) -> AttemptFailure:
    """An error answer: retryable when transient (5xx, 429), ambiguous when CDM may have acted (5xx).

    A 5xx whose body carries a known code of a definite refusal (``api.errors.is_definite_refusal``:
    e.g. Cdm.0052 job running, Cdm.0100 no such job; CDM sends some errors as HTTP 500) is CDM's
    answer: neither retried nor ambiguous. Cdm.0000 (system error) and bodies without a known code
    stay transient; a throttling code stays retryable.
    """
    error = error_from_response(response.status, response.headers, response.body, method=method, path=path)
    refused = is_definite_refusal(error.code)
    transient = is_transient_status(response.status) and (not refused or error.kind is ErrorKind.THROTTLED)
    return AttemptFailure(
        error,
        retryable=transient,
        ambiguous=response.status >= 500 and not refused,
        retry_after=parse_retry_after(response.headers.get("retry-after")) if transient else None,
    )


def transport_failure(
    message: str, method: str, path: str, *, retryable: bool, ambiguous: bool = False
) -> AttemptFailure:
    """No HTTP answer (connection error, timeout): an API error without status or code."""
    return AttemptFailure(api_error(message, method=method, path=path), retryable=retryable, ambiguous=ambiguous)


def read_answer(call: CdmCall[T], response: HttpResponse, path: str) -> T:
    """The parsed result of a 2xx answer; any other answer, or one that cannot be read, as AttemptFailure."""
    if not 200 <= response.status < 300:
        raise http_failure(response, call.method, path)
    empty = not response.body.strip()
    try:
        document = None if empty else json.loads(response.body.decode("utf-8"))
    except ValueError as err:  # not UTF-8 or not JSON: cut short, or not CDM's (a proxy's page): transient
        unreadable = api_error(
            f"Unreadable answer from CDM: {err}", http_status=response.status, method=call.method, path=path
        )
        raise AttemptFailure(unreadable, retryable=True, ambiguous=True) from err
    try:
        return call.parse(document)
    except ValidationRejected as rejected:
        error = CdmValidationError(
            str(rejected),
            http_status=response.status,
            method=call.method,
            path=path,
            kind=ErrorKind.INVALID_REQUEST,
            validation=[message.message for message in rejected.messages],
        )
        raise AttemptFailure(error, retryable=False) from None
    except (ValueError, TypeError) as err:  # ResponseShapeError: valid JSON of another shape
        unreadable = api_error(
            f"Unreadable answer from CDM: {err}", http_status=response.status, method=call.method, path=path
        )
        # Asking again gets the same answer; only an empty body may be one cut short.
        raise AttemptFailure(unreadable, retryable=empty, ambiguous=empty) from err


class ServerClock:
    """CDM's clock, estimated from the latest answer's ``Date`` header (the local clock until one arrives).

    Reconciliation compares run creation dates, stamped by CDM, with when a request left this process.
    """

    def __init__(self) -> None:
        self._anchor: tuple[float, float] | None = None  # (server epoch seconds, local monotonic seconds)

    def observe(self, date_header: str | None) -> None:
        try:
            moment = parsedate_to_datetime(date_header) if date_header else None
        except (TypeError, ValueError):
            return
        if moment is not None:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
            self._anchor = (moment.timestamp(), time.monotonic())

    def at(self, monotonic_s: float) -> datetime:
        """The server time at a local ``time.monotonic()`` instant."""
        server_s, local_s = self._anchor or (time.time(), time.monotonic())
        return datetime.fromtimestamp(server_s + monotonic_s - local_s, tz=timezone.utc)


class AttemptRecord:
    """When the first attempt of one call left (see :class:`reconcile.SendRecord`)."""

    def __init__(self, clock: ServerClock) -> None:
        self._clock = clock
        self._first_sent_s: float | None = None

    def mark_sent(self) -> None:
        if self._first_sent_s is None:
            self._first_sent_s = time.monotonic()

    def first_sent_at(self) -> datetime:
        return self._clock.at(self._first_sent_s if self._first_sent_s is not None else time.monotonic())
