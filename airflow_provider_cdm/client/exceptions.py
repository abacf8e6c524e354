"""The client's errors: one family for what CDM (or the way to it) answered, one for bad settings or input.

Callers tell errors apart by class or by ``kind`` (from :mod:`airflow_provider_cdm.api.errors`), never by
matching message text. Messages never contain a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_cdm.api.errors import KNOWN_ERRORS, ErrorKind, kind_of, known_error
from airflow_provider_cdm.client.models import ResponseShapeError, ValidationMessage

# errCode first: the wire code golangsdk and Terraform act on; ``code`` may differ from it.
_CODE_KEYS = ("errCode", "code", "error_code")
# "ternalMessage": one documented example misspells "externalMessage".
_MESSAGE_KEYS = ("externalMessage", "ternalMessage", "message", "error_msg")
_EXCERPT_CHARS = 200


class CdmConfigError(AirflowException, ValueError):
    """A setting or an argument that cannot work, refused before any request is sent."""

    def __init__(self, setting: str, problem: str, expected: str | None = None) -> None:
        self.setting = setting
        self.problem = problem
        self.expected = expected
        text = f"{setting}: {problem}"
        super().__init__(f"{text}; expected {expected}" if expected else text)


class CdmApiError(AirflowException):
    """CDM, IAM or the API gateway refused a request, or no readable answer came back.

    ``http_status`` is None when no HTTP answer arrived (connection error, timeout); ``code`` is None
    when the answer carried no error code. ``code`` is the documented spelling of a known code
    (``Cdm.0100`` for ``Cdm.00100``, ``APIG.0301`` for ``APIGW.0301``); ``sent_code`` is as CDM sent it.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        method: str = "",
        path: str = "",
        code: str | None = None,
        request_id: str | None = None,
        kind: ErrorKind | None = None,
        validation: Sequence[str] = (),
        sent_code: str | None = None,
    ) -> None:
        self.message = message
        self.http_status = http_status
        self.method = method
        self.path = path
        known = known_error(code)
        self.sent_code = sent_code or code
        self.code = known.code if known is not None else code
        self.request_id = request_id
        self.kind = kind if kind is not None else kind_of(code, http_status)
        self.validation = list(validation)
        super().__init__(message)

    @property
    def transient(self) -> bool:
        """Whether the failure may pass by itself (no answer, a server error, throttling): a waiter keeps
        waiting for its run until its own deadline instead of giving up on it; a definite refusal
        (auth, not found, ...) is not transient."""
        return self.http_status is None or self.kind in (ErrorKind.SERVER, ErrorKind.THROTTLED)

    def __str__(self) -> str:
        code = self.code if self.sent_code in (None, self.code) else f"{self.code} (sent as {self.sent_code})"
        head = f"{code}: {self.message}" if code else self.message
        context = [f"HTTP {self.http_status}"] if self.http_status is not None else []
        if self.method or self.path:
            context.append(f"{self.method} {self.path}".strip())
        return f"{head} ({', '.join(context)})" if context else head


class CdmJobNotFoundError(CdmApiError):
    """The job does not exist (Cdm.0054, Cdm.0100, Cdm.0319)."""


class CdmJobExistsError(CdmApiError):
    """A job with that name exists already (Cdm.0104, Cdm.0318)."""


class CdmJobRunningError(CdmApiError):
    """The job has an active run, so the operation is refused (Cdm.0052, Cdm.0322)."""


class CdmJobNotRunningError(CdmApiError):
    """The job has no active run, e.g. a stop of an idle job (Cdm.0053)."""


class CdmThrottledError(CdmApiError):
    """Over the per-minute quota (HTTP 429, APIG.0308), still so after the retries."""


class CdmAuthError(CdmApiError):
    """Credentials refused: bad AK/SK or signature, bad or revoked token, wrong IAM password, no access."""


class CdmValidationError(CdmApiError):
    """CDM answered 200 but its ``validation-result`` has ERROR entries: nothing was created or changed."""


_CLASS_BY_KIND: dict[ErrorKind, type[CdmApiError]] = {
    ErrorKind.JOB_NOT_FOUND: CdmJobNotFoundError,
    ErrorKind.JOB_EXISTS: CdmJobExistsError,
    ErrorKind.JOB_RUNNING: CdmJobRunningError,
    ErrorKind.JOB_NOT_RUNNING: CdmJobNotRunningError,
    ErrorKind.THROTTLED: CdmThrottledError,
    ErrorKind.AUTH: CdmAuthError,
}


def api_error(
    message: str,
    *,
    http_status: int | None = None,
    method: str = "",
    path: str = "",
    code: str | None = None,
    request_id: str | None = None,
    kind: ErrorKind | None = None,
    validation: Sequence[str] = (),
) -> CdmApiError:
    """The error of the subclass that matches its kind (given, or derived from code and status)."""
    resolved = kind if kind is not None else kind_of(code, http_status)
    return _CLASS_BY_KIND.get(resolved, CdmApiError)(
        message,
        http_status=http_status,
        method=method,
        path=path,
        code=code,
        request_id=request_id,
        kind=resolved,
        validation=validation,
    )


def error_from_response(
    http_status: int, headers: Mapping[str, str], body: bytes, *, method: str, path: str
) -> CdmApiError:
    """Read an error answer in any of the three body shapes (CDM, gateway, IAM) or a non-JSON body.

    ``headers`` must have lower-case names.
    """
    document = _json_object(body)
    fields: Mapping[str, Any] = document
    if isinstance(document.get("error"), Mapping):  # IAM (Keystone style): {"error": {"code", "message"}}
        fields = document["error"]
    code = _error_code(fields)
    message = _first_text(fields, _MESSAGE_KEYS) or _excerpt(body) or f"HTTP {http_status} with an empty body"
    try:
        validation = [entry.message for entry in ValidationMessage.list_from(document)]
    except ResponseShapeError:  # an error is reported whatever shape its details have
        validation = []
    return api_error(
        message,
        http_status=http_status,
        method=method,
        path=path,
        code=code,
        request_id=_first_text(document, ("request_id",)) or headers.get("x-request-id"),
        validation=validation,
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _error_code(fields: Mapping[str, Any]) -> str | None:
    """The body's error code: the first one sent in a documented spelling, else the first in any
    spelling of a documented one (``Cdm.00095``), else the first one sent."""
    codes = [code for key in _CODE_KEYS if (code := _first_text(fields, (key,)))]
    exact = [code for code in codes if code in KNOWN_ERRORS]
    variant = [code for code in codes if known_error(code) is not None]
    return next(iter(exact or variant or codes), None)


def _first_text(fields: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = fields.get(key)
        # A numeric "code" (IAM's HTTP status echo) is no error code.
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _excerpt(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", errors="replace").split())
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."
