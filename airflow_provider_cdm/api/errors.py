"""CDM and API-gateway error codes: what each means, the HTTP status it comes with, and its text.

The client reads ``kind`` to tell errors apart without matching strings; the emulator answers with
``http_status`` and ``message``. Codes not listed here are still carried through verbatim.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class ErrorKind(str, enum.Enum):
    """What a caller can do something about."""

    JOB_NOT_FOUND = "job_not_found"
    JOB_EXISTS = "job_exists"
    JOB_RUNNING = "job_running"
    JOB_NOT_RUNNING = "job_not_running"
    NOT_FOUND = "not_found"  # any other resource (cluster, link), or no permission on it
    SUBMIT_REFUSED = "submit_refused"
    INVALID_REQUEST = "invalid_request"
    THROTTLED = "throttled"
    AUTH = "auth"
    SERVER = "server"
    OTHER = "other"


@dataclass(frozen=True)
class ErrorCode:
    """One documented error: code, meaning, the HTTP status it is sent with, and a message template."""

    code: str
    kind: ErrorKind
    http_status: int
    message: str

    def render(self, **values: object) -> str:
        return self.message.format(**values)


def _table(*codes: ErrorCode) -> dict[str, ErrorCode]:
    return {error.code: error for error in codes}


CDM_SYSTEM_ERROR = ErrorCode("Cdm.0000", ErrorKind.SERVER, 500, "System error: {detail}")
CDM_NO_RESOURCE = ErrorCode(
    "Cdm.0001", ErrorKind.NOT_FOUND, 400, "The resource {resource} does not exist or you have no permission."
)
CDM_CANNOT_SUBMIT = ErrorCode("Cdm.0037", ErrorKind.SUBMIT_REFUSED, 400, "Job[{job}] cannot be submitted: {reason}")
CDM_CANNOT_SUBMIT_2 = ErrorCode("Cdm.0056", ErrorKind.SUBMIT_REFUSED, 400, "Job[{job}] cannot be submitted: {reason}")
CDM_JOB_RUNNING = ErrorCode("Cdm.0052", ErrorKind.JOB_RUNNING, 400, "Job[{job}] is running.")
CDM_JOB_NOT_RUNNING = ErrorCode("Cdm.0053", ErrorKind.JOB_NOT_RUNNING, 400, "Job[{job}] is not running.")
CDM_JOB_NOT_EXIST = ErrorCode("Cdm.0054", ErrorKind.JOB_NOT_FOUND, 400, "Job[{job}] does not exist.")
CDM_JOB_DISABLED = ErrorCode("Cdm.0059", ErrorKind.SUBMIT_REFUSED, 400, "Job[{job}] is disabled.")
# The update reference's worked example (the error table lists Cdm.0319 instead).
CDM_JOB_NOT_EXIST_3 = ErrorCode("Cdm.0095", ErrorKind.JOB_NOT_FOUND, 400, "A job with the name {job} does not exist.")
CDM_JOB_NOT_EXIST_2 = ErrorCode("Cdm.0100", ErrorKind.JOB_NOT_FOUND, 400, "Job[{job}] does not exist.")
CDM_LINK_NOT_EXIST = ErrorCode("Cdm.0101", ErrorKind.NOT_FOUND, 400, "Link[{link}] does not exist.")
CDM_JOB_NAME_EXISTS = ErrorCode("Cdm.0104", ErrorKind.JOB_EXISTS, 400, "Job name[{job}] already exists.")
CDM_JOB_STATUS_UNKNOWN = ErrorCode("Cdm.0202", ErrorKind.OTHER, 400, "The status of job[{job}] is unknown.")
CDM_LINK_NAME_EXISTS = ErrorCode("Cdm.0315", ErrorKind.OTHER, 400, "Link name[{link}] already exists.")
CDM_JOB_EXISTS = ErrorCode("Cdm.0318", ErrorKind.JOB_EXISTS, 400, "Job[{job}] already exists.")
CDM_UPDATE_MISSING_JOB = ErrorCode(
    "Cdm.0319", ErrorKind.JOB_NOT_FOUND, 400, "Job[{job}] cannot be updated because it does not exist."
)
CDM_JOB_IN_USE = ErrorCode("Cdm.0322", ErrorKind.JOB_RUNNING, 400, "Job[{job}] is in use.")
# Assumed: no public page shows what CDM answers to an action its cluster's status does not allow (a stop of a
# stopped cluster). The client does not depend on the code: after any refused action it reads the cluster.
CDM_CLUSTER_ACTION_REFUSED = ErrorCode(
    "Cdm.0401", ErrorKind.OTHER, 400, "Cluster[{cluster}] cannot {action} in status {status} ({label})."
)

APIG_NO_API = ErrorCode(
    "APIG.0101", ErrorKind.NOT_FOUND, 404, "The API does not exist or has not been published in the environment"
)
APIG_REQUEST_ERROR = ErrorCode("APIG.0201", ErrorKind.INVALID_REQUEST, 400, "API request error: {detail}")
APIG_ENTITY_TOO_LARGE = ErrorCode("APIG.0201", ErrorKind.INVALID_REQUEST, 413, "Request entity too large.")
# The gateway's detail texts include "verify aksk signature fail", "decrypt token fail",
# "x-auth-token not found" and "x-sdk-date expired".
APIG_BAD_IAM_AUTH = ErrorCode("APIG.0301", ErrorKind.AUTH, 401, "Incorrect IAM authentication information: {detail}")
# Assumed for a project id in the path that is not the caller's (undocumented for CDM).
APIG_FORBIDDEN = ErrorCode(
    "APIG.0302", ErrorKind.AUTH, 403, "The IAM user is not authorized to access the API: {detail}"
)
APIG_BACKEND_UNAVAILABLE = ErrorCode("APIG.0202", ErrorKind.SERVER, 502, "Backend unavailable")
APIG_BACKEND_TIMEOUT = ErrorCode("APIG.0203", ErrorKind.SERVER, 504, "Backend timeout")
APIG_THROTTLED = ErrorCode(
    "APIG.0308",
    ErrorKind.THROTTLED,
    429,
    "The throttling threshold has been reached: policy user over ratelimit,limit:{limit},time:1 minute",
)
APIG_TOKEN_OUTDATED = ErrorCode("APIG.0307", ErrorKind.AUTH, 401, "The token must be updated.")
APIG_BAD_TOKEN = ErrorCode("APIG.1002", ErrorKind.AUTH, 401, "Incorrect token or token resolution failed")

IAM_BAD_CREDENTIALS = ErrorCode("IAM.0004", ErrorKind.AUTH, 401, "The username or password is wrong.")

KNOWN_ERRORS: dict[str, ErrorCode] = _table(
    CDM_SYSTEM_ERROR,
    CDM_NO_RESOURCE,
    CDM_CANNOT_SUBMIT,
    CDM_CANNOT_SUBMIT_2,
    CDM_JOB_RUNNING,
    CDM_JOB_NOT_RUNNING,
    CDM_JOB_NOT_EXIST,
    CDM_JOB_DISABLED,
    CDM_JOB_NOT_EXIST_2,
    CDM_JOB_NOT_EXIST_3,
    CDM_LINK_NOT_EXIST,
    CDM_JOB_NAME_EXISTS,
    CDM_JOB_STATUS_UNKNOWN,
    CDM_LINK_NAME_EXISTS,
    CDM_JOB_EXISTS,
    CDM_UPDATE_MISSING_JOB,
    CDM_JOB_IN_USE,
    CDM_CLUSTER_ACTION_REFUSED,
    APIG_NO_API,
    APIG_REQUEST_ERROR,
    APIG_BAD_IAM_AUTH,
    APIG_FORBIDDEN,
    APIG_BACKEND_UNAVAILABLE,
    APIG_BACKEND_TIMEOUT,
    APIG_THROTTLED,
    APIG_TOKEN_OUTDATED,
    APIG_BAD_TOKEN,
    IAM_BAD_CREDENTIALS,
)


# Prefix and number of a code as CDM and the gateway spell it: "Cdm.0100", "CDM.0100", "Cdm.00095"
# (the update example's errCode for Cdm.0095), "APIGW.0301" (the gateway's other prefix).
_CODE_SHAPE = re.compile(r"(?i)(cdm|apigw|apig|iam)\.(\d+)")
_PREFIXES = {"cdm": "Cdm", "apig": "APIG", "apigw": "APIG", "iam": "IAM"}


def known_error(code: str | None) -> ErrorCode | None:
    """The documented error ``code`` names, in any of its spellings (prefix case, ``APIGW.`` for
    ``APIG.``, zero padding of the number); None for codes not listed here."""
    if not code:
        return None
    if code in KNOWN_ERRORS:
        return KNOWN_ERRORS[code]
    shape = _CODE_SHAPE.fullmatch(code.strip())
    if shape is None:
        return None
    prefix, number = shape.groups()
    return KNOWN_ERRORS.get(f"{_PREFIXES[prefix.lower()]}.{int(number):04d}")


# Kinds that do not say what became of the request: a system error (Cdm.0000, a gateway 502/504)
# may come after CDM acted; an unclassified code says nothing either way.
_INDEFINITE_KINDS = frozenset({ErrorKind.SERVER, ErrorKind.OTHER})


def is_definite_refusal(code: str | None) -> bool:
    """Whether ``code`` is a known error that refuses the request outright, whatever the HTTP status.

    CDM sends its errors with HTTP 400, sometimes 500: a 500 carrying e.g. Cdm.0052 (job running) or
    Cdm.0100 (no such job) is an answer, not a lost request, and asking again gets the same answer
    (throttling excepted: that passes). False for Cdm.0000, unknown codes and no code.
    """
    known = known_error(code)
    return known is not None and known.kind not in _INDEFINITE_KINDS


def kind_of(code: str | None, http_status: int | None) -> ErrorKind:
    """Classify an error by its code, falling back on the HTTP status for codes we do not know."""
    known = known_error(code)
    if known is not None:
        return known.kind
    if http_status == 429:
        return ErrorKind.THROTTLED
    if http_status in (401, 403):
        return ErrorKind.AUTH
    if http_status is not None and http_status >= 500:
        return ErrorKind.SERVER
    return ErrorKind.OTHER
