"""Every CDM and IAM endpoint this project speaks: method, path, quota and whether it is safe to repeat.

The hook renders paths from here and the emulator routes by the same templates, so a path exists in
exactly one place. Quotas are Huawei's documented per-user, per-minute limits; endpoints that share a
``quota_group`` share one limit (show one job and list jobs are one API).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import quote

from airflow_provider_cdm.api.job_schema import MAX_JOB_NAME_LENGTH as MAX_JOB_NAME_LENGTH

API_VERSION_PREFIX = "/v1.1/{project_id}"
DEFAULT_CDM_ENDPOINT = "https://cdm.{region}.myhuaweicloud.com"
DEFAULT_IAM_ENDPOINT = "https://iam.{region}.myhuaweicloud.com"
LIST_ALL_JOBS = "all"  # the job name that makes "show job" list every job
LIST_ALL_LINKS = "all"  # likewise the link name that makes "show link" list every link
LIST_PAGE_SIZE_RANGE = (10, 100)
LANGUAGE_HEADER = "X-Language"
PROJECT_HEADER = "X-Project-Id"
SECURITY_TOKEN_HEADER = "X-Security-Token"  # noqa: S105 - a name, not a secret
AUTH_TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 - a name, not a secret
SUBJECT_TOKEN_HEADER = "X-Subject-Token"  # noqa: S105 - a name, not a secret
JSON_CONTENT_TYPE = "application/json;charset=UTF-8"  # of every request and answer body
IAM_TOKEN_LIFETIME_S = 24 * 3600.0  # documented lifetime of an IAM token (it may be revoked earlier)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class PathParameterError(ValueError):
    """A value cannot go into a path segment."""


def escape_path_segment(name: str, value: object) -> str:
    """Percent-encode one path segment; refuse what would change the path's shape or cannot be a name."""
    text = str(value)
    if not text:
        raise PathParameterError(f"{name} must not be empty")
    if "/" in text or "\\" in text:
        raise PathParameterError(f"{name} {text!r} must not contain '/' or '\\' (it would change the API path)")
    if text in (".", ".."):
        raise PathParameterError(f"{name} {text!r} is not a usable path segment")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise PathParameterError(f"{name} {text!r} must not contain control characters")
    return quote(text, safe="")


@dataclass(frozen=True)
class Endpoint:
    """One API operation."""

    name: str
    method: str
    template: str  # relative to API_VERSION_PREFIX unless project_scoped is False
    quota_per_minute: int | None = None
    quota_group: str = ""
    # Repeating the call after a lost response does no harm (the second answer may differ, e.g. a stop
    # answering "not running", but no state changes twice).
    idempotent: bool = True
    project_scoped: bool = True
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        escaped = re.escape(self.full_template).replace(r"\{", "{").replace(r"\}", "}")
        regex = _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", escaped)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}/?$"))
        if not self.quota_group:
            object.__setattr__(self, "quota_group", self.name)

    @property
    def full_template(self) -> str:
        """The path template from the root, with the ``/v1.1/{project_id}`` prefix where it applies."""
        return (API_VERSION_PREFIX if self.project_scoped else "") + self.template

    def path(self, project_id: str | None = None, **params: object) -> str:
        """The request path with every parameter escaped (``project_id`` only for project-scoped ones)."""
        values = dict(params)
        if self.project_scoped:
            values["project_id"] = project_id

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            if values.get(key) is None:
                raise PathParameterError(f"{key} is required for {self.name}")
            return escape_path_segment(key, values[key])

        return _PLACEHOLDER.sub(substitute, self.full_template)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters (still percent-encoded) when method and path are this endpoint's."""
        if method.upper() != self.method:
            return None
        found = self.pattern.match(path)
        return found.groupdict() if found else None


IAM_TOKEN = Endpoint("iam_token", "POST", "/v3/auth/tokens", project_scoped=False, idempotent=True)

LIST_CLUSTERS = Endpoint("list_clusters", "GET", "/clusters")
SHOW_CLUSTER = Endpoint("show_cluster", "GET", "/clusters/{cluster_id}")
# Start, stop or restart a cluster (api/cluster_actions.py). No quota is documented. Not repeated blindly: a
# second restart would restart again; a caller that lost the answer reads the cluster's status instead.
CLUSTER_ACTION = Endpoint("cluster_action", "POST", "/clusters/{cluster_id}/action", idempotent=False)
CREATE_JOB = Endpoint("create_job", "POST", "/clusters/{cluster_id}/cdm/job", 1200, idempotent=False)
# Create-and-execute in a random cluster: neither part is safe to repeat blindly.
CREATE_AND_START_JOB = Endpoint("create_and_start_job", "POST", "/clusters/job", 120, idempotent=False)
START_JOB = Endpoint("start_job", "PUT", "/clusters/{cluster_id}/cdm/job/{job_name}/start", 1200, idempotent=False)
STOP_JOB = Endpoint("stop_job", "PUT", "/clusters/{cluster_id}/cdm/job/{job_name}/stop", 1200)
JOB_STATUS = Endpoint("job_status", "GET", "/clusters/{cluster_id}/cdm/job/{job_name}/status", 120)
LIST_SUBMISSIONS = Endpoint("list_submissions", "GET", "/clusters/{cluster_id}/cdm/submissions", 120)
LIST_JOBS = Endpoint("list_jobs", "GET", "/clusters/{cluster_id}/cdm/job/" + LIST_ALL_JOBS, 120, quota_group="show_job")
SHOW_JOB = Endpoint("show_job", "GET", "/clusters/{cluster_id}/cdm/job/{job_name}", 120)
UPDATE_JOB = Endpoint("update_job", "PUT", "/clusters/{cluster_id}/cdm/job/{job_name}", 120)
DELETE_JOB = Endpoint("delete_job", "DELETE", "/clusters/{cluster_id}/cdm/job/{job_name}", 120)
# Link management: 120 calls a minute per user for each link API (create, show, update, delete).
SHOW_LINK = Endpoint("show_link", "GET", "/clusters/{cluster_id}/cdm/link/{link_name}", 120)

# Routing order matters where templates overlap: the literal "all" before the job-name placeholder,
# the longer paths before the shorter ones.
ENDPOINTS: tuple[Endpoint, ...] = (
    IAM_TOKEN,
    CREATE_AND_START_JOB,
    LIST_CLUSTERS,
    CLUSTER_ACTION,
    SHOW_CLUSTER,
    CREATE_JOB,
    START_JOB,
    STOP_JOB,
    JOB_STATUS,
    LIST_SUBMISSIONS,
    LIST_JOBS,
    SHOW_JOB,
    UPDATE_JOB,
    DELETE_JOB,
    SHOW_LINK,
)


def route(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint a request is for, with its path parameters; None when no API has that path."""
    for endpoint in ENDPOINTS:
        params = endpoint.match(method, path)
        if params is not None:
            return endpoint, params
    return None


def path_exists(path: str) -> bool:
    """Whether any endpoint has this path, whatever the method."""
    return any(endpoint.pattern.match(path) for endpoint in ENDPOINTS)
