"""The API as the gateway, IAM and CDM answer it, without sockets: a request in, a response out.

Like moto's responses layer: authenticate, check the project and the quota, parse the body and map
the operation onto the backend. Routing comes from ``api.endpoints``; faults are the transport's
business (``server.py``) because some of them need the socket. The backend answers the reference's
shapes; the active dialect (``dialects.py``, switchable at run time) rewrites answers and errors here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from airflow_provider_cdm.api import endpoints, errors
from airflow_provider_cdm.api.endpoints import JSON_CONTENT_TYPE, Endpoint
from airflow_provider_cdm.emulator import dialects
from airflow_provider_cdm.emulator.auth import Authenticator, Credentials, IamUser, Principal
from airflow_provider_cdm.emulator.config import EmulatorConfig
from airflow_provider_cdm.emulator.dialects import Dialect
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.faults import FaultInjector
from airflow_provider_cdm.emulator.links import LinkSpec
from airflow_provider_cdm.emulator.models import DEFAULT_JOB_TYPE, DEFAULT_PAGE_SIZE, CdmBackend
from airflow_provider_cdm.emulator.quotas import QuotaLimiter
from airflow_provider_cdm.emulator.stats import Stats

CONNECTION_ENV_VAR = "AIRFLOW_CONN_CDM_DEFAULT"
CONNECTION_TYPE = "huaweicloud_cdm"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent: still percent-encoded, without the query
    query: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})})

    @classmethod
    def error(
        cls,
        error: ApiError,
        request_id: str,
        headers: Mapping[str, str] | None = None,
        *,
        dialect: Dialect | None = None,
        method: str = "GET",
    ) -> Response:
        """The error's answer; in ``dialect`` when given (the CDM API's errors), else the reference's."""
        if dialect is None:
            return cls.json(error.http_status, error.body(request_id), headers)
        status, body = dialects.error_answer(dialect, error, request_id, method=method)
        return cls.json(status, body, headers)


def parse_json_body(body: bytes, *, required: bool = True) -> Any:
    """The request's JSON; APIG.0201 when it is not JSON (or missing where required)."""
    if not body.strip():
        if required:
            raise ApiError(errors.APIG_REQUEST_ERROR, detail="a JSON body is required")
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
        raise ApiError(errors.APIG_REQUEST_ERROR, detail="the body is not valid JSON") from None


def _single_job(body: object) -> object:
    jobs = body.get("jobs") if isinstance(body, dict) else None
    if not isinstance(jobs, list) or len(jobs) != 1:
        raise ApiError(errors.APIG_REQUEST_ERROR, detail='the body must be {"jobs": [one Job object]}')
    return jobs[0]


class _Query:
    """The first value of each query parameter, with integer parsing that answers APIG.0201."""

    def __init__(self, query: str) -> None:
        self._values = parse_qs(query, keep_blank_values=True)

    def text(self, name: str, default: str | None = None) -> str | None:
        values = self._values.get(name)
        return values[0] if values else default

    def integer(self, name: str, default: int) -> int:
        value = self.text(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(errors.APIG_REQUEST_ERROR, detail=f"{name} must be an integer") from None


_Operation = Callable[[Request, Mapping[str, str], Principal], Response]


class EmulatorApp:
    """Everything an emulator holds (backend, auth, quotas, faults, stats) and the CDM/IAM pipeline."""

    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.dialect: Dialect = config.dialect  # replaced whole at run time (POST /_emulator/dialect)
        self.backend = CdmBackend(
            config.clusters,
            clock=clock,
            job_duration_s=config.job_duration_s,
            retry_delay_s=config.retry_delay_s,
            cluster_concurrency=config.cluster_concurrency,
            cluster_transition_s=config.cluster_transition_s,
            links=[*(LinkSpec.declared(name, link) for name, link in config.links), *config.link_definitions],
            strict_links=config.strict_links,
            seed=config.seed,
        )
        credentials = [Credentials(config.access_key, config.secret_key)]
        if config.temporary_access_key and config.temporary_secret_key and config.security_token:
            credentials.append(
                Credentials(config.temporary_access_key, config.temporary_secret_key, config.security_token)
            )
        self.auth = Authenticator(
            project_id=config.project_id,
            region=config.region,
            credentials=credentials,
            users=[IamUser(config.user, config.password, config.domain)],
            owner=config.user,
            token_ttl_s=config.token_ttl_s,
            clock=clock,
        )
        self.quotas = QuotaLimiter(clock)
        self.faults = FaultInjector(config.faults, config.seed)
        self.stats = Stats()
        self._operations: dict[str, _Operation] = {
            endpoints.LIST_CLUSTERS.name: self._list_clusters,
            endpoints.SHOW_CLUSTER.name: self._show_cluster,
            endpoints.CLUSTER_ACTION.name: self._cluster_action,
            endpoints.CREATE_JOB.name: self._create_job,
            endpoints.CREATE_AND_START_JOB.name: self._create_and_start_job,
            endpoints.START_JOB.name: self._start_job,
            endpoints.STOP_JOB.name: self._stop_job,
            endpoints.JOB_STATUS.name: self._job_status,
            endpoints.LIST_SUBMISSIONS.name: self._list_submissions,
            endpoints.LIST_JOBS.name: self._list_jobs,
            endpoints.SHOW_JOB.name: self._show_job,
            endpoints.UPDATE_JOB.name: self._update_job,
            endpoints.DELETE_JOB.name: self._delete_job,
            endpoints.SHOW_LINK.name: self._show_link,
        }

    @property
    def quotas_enabled(self) -> bool:
        switch = self.faults.settings.quotas
        return self.config.quotas if switch is None else switch

    def reset(self) -> None:
        """Back to the initial state (jobs, runs, scripts, quota windows, stats, faults, and the command
        line's dialect); tokens stay valid."""
        self.backend.reset()
        self.quotas.reset()
        self.stats.reset()
        self.faults.configure(self.config.faults)
        self.dialect = self.config.dialect

    def error_response(
        self, error: ApiError, request_id: str, method: str = "GET", headers: Mapping[str, str] | None = None
    ) -> Response:
        """An error of the CDM, IAM or gateway API, in the active dialect."""
        return Response.error(error, request_id, headers, dialect=self.dialect, method=method)

    def connection(self, url: str) -> dict[str, Any]:
        """An Airflow connection (as JSON-ready dict) that points at this emulator with credentials it accepts."""
        config = self.config
        running = next((c.id for c in config.clusters if c.status.can_run_jobs), None)
        extra: dict[str, Any] = {"region": config.region, "project_id": config.project_id}
        if running is not None:
            extra["cluster_id"] = running
        # auth_type "aksk" is the default and left out: Airflow masks every extra value it loads, and
        # warns in every task that one of 4 characters is too short to mask.
        extra["iam_endpoint"] = url
        login, password = config.access_key, config.secret_key
        if config.connection_auth == "password":
            login, password = config.user, config.password
            extra.update(auth_type="password", domain=config.domain)
        elif config.connection_auth == "temporary":
            login, password = config.temporary_access_key or "", config.temporary_secret_key or ""
            extra["security_token"] = config.security_token
        return {"conn_type": CONNECTION_TYPE, "host": url, "login": login, "password": password, "extra": extra}

    def handle(self, request: Request, endpoint: Endpoint, params: Mapping[str, str]) -> Response:
        """Answer one routed CDM or IAM request; API errors become their documented bodies."""
        try:
            if endpoint is endpoints.IAM_TOKEN:
                token, body = self.auth.issue_token(parse_json_body(request.body))
                return Response.json(201, body, {endpoints.SUBJECT_TOKEN_HEADER: token})
            principal = self.auth.authenticate(
                request.method,
                request.path,
                request.query,
                request.headers,
                request.body,
                unquote(params["project_id"]),
            )
            if self.quotas_enabled:
                self._check_quota(principal, endpoint, request)
            if endpoint is not endpoints.CREATE_AND_START_JOB and dialects.language_header_required(
                self.dialect, endpoint.name
            ):
                _require_language(request)
            return self._operations[endpoint.name](request, params, principal)
        except ApiError as err:
            headers: dict[str, str] = {}
            if err.http_status == 429 and self.faults.settings.retry_after_s is not None:
                headers["Retry-After"] = f"{self.faults.settings.retry_after_s:g}"
            return self.error_response(err, request.request_id, request.method, headers)

    def _check_quota(self, principal: Principal, endpoint: Endpoint, request: Request) -> None:
        try:
            self.quotas.check(principal.quota_key, endpoint)
        except ApiError:
            self.stats.record_fault("quota")
            raise

    # -- operations ---------------------------------------------------------------------------------

    def _list_clusters(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        return Response.json(200, dialects.clusters_answer(self.dialect, self.backend.list_clusters()))

    def _show_cluster(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        answer = self.backend.show_cluster(unquote(params["cluster_id"]))
        return Response.json(200, dialects.cluster(self.dialect, answer, detail=True))

    def _cluster_action(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        answer = self.backend.cluster_action(unquote(params["cluster_id"]), parse_json_body(request.body))
        return Response.json(200, answer)

    def _create_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        job = _single_job(parse_json_body(request.body))
        answer = self.backend.create_job(unquote(params["cluster_id"]), job, who.user_name)
        return Response.json(200, dialects.validation_answer(self.dialect, answer))

    def _create_and_start_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        _require_language(request)
        body = parse_json_body(request.body)
        job = _single_job(body)
        clusters = body.get("clusters")
        if not isinstance(clusters, list) or not clusters or not all(isinstance(c, str) for c in clusters):
            raise ApiError(errors.APIG_REQUEST_ERROR, detail="clusters must be a non-empty list of cluster ids")
        answer = self.backend.create_and_start(clusters, job, who.user_name)
        return Response.json(200, dialects.create_and_execute_answer(self.dialect, answer))

    def _start_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        body = parse_json_body(request.body, required=False)
        variables = body.get("variables") if isinstance(body, dict) else None
        if variables is None:
            variables = {}
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise ApiError(errors.APIG_REQUEST_ERROR, detail="variables must be an object of string values")
        answer = self.backend.start_job(
            unquote(params["cluster_id"]), unquote(params["job_name"]), variables, who.user_name
        )
        return Response.json(200, dialects.start_answer(self.dialect, answer))

    def _stop_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        answer = self.backend.stop_job(unquote(params["cluster_id"]), unquote(params["job_name"]))
        return Response.json(200, dialects.stop_answer(self.dialect, answer))

    def _job_status(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        job_name = unquote(params["job_name"])
        answer = self.backend.job_status(unquote(params["cluster_id"]), job_name)
        return Response.json(200, dialects.status_answer(self.dialect, answer, job_name, dialects.now_ms(self._clock)))

    def _list_submissions(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        query = _Query(request.query)
        job_name = query.text("jname")
        if not job_name:
            raise ApiError(errors.APIG_REQUEST_ERROR, detail="the query parameter jname is required")
        answer = self.backend.list_submissions(
            unquote(params["cluster_id"]),
            job_name,
            page_no=query.integer("page_no", 1),
            page_size=_history_page_size(self.dialect, query),
        )
        return Response.json(200, dialects.history_answer(self.dialect, answer))

    def _list_jobs(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        query = _Query(request.query)
        answer = self.backend.list_jobs(
            unquote(params["cluster_id"]),
            name_filter=query.text("filter") or "",
            page_no=query.integer("page_no", 1),
            page_size=query.integer("page_size", DEFAULT_PAGE_SIZE),
            job_type=query.text("jobType") or DEFAULT_JOB_TYPE,
        )
        return Response.json(200, dialects.jobs_answer(self.dialect, answer, single=False))

    def _show_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        answer = self.backend.show_job(unquote(params["cluster_id"]), unquote(params["job_name"]))
        return Response.json(200, dialects.jobs_answer(self.dialect, answer, single=True))

    def _update_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        job = _single_job(parse_json_body(request.body))
        answer = self.backend.update_job(unquote(params["cluster_id"]), unquote(params["job_name"]), job, who.user_name)
        return Response.json(200, dialects.validation_answer(self.dialect, answer))

    def _delete_job(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        self.backend.delete_job(unquote(params["cluster_id"]), unquote(params["job_name"]))
        status, body = dialects.delete_answer(self.dialect)
        return Response(status) if body is None else Response.json(status, body)

    def _show_link(self, request: Request, params: Mapping[str, str], who: Principal) -> Response:
        answer = self.backend.show_link(unquote(params["cluster_id"]), unquote(params["link_name"]))
        return Response.json(200, dialects.link_answer(self.dialect, answer))


def _require_language(request: Request) -> None:
    """APIG.0201 when the request has no X-Language header (row 19 of cdm-dialects.md)."""
    language = {name.lower(): value for name, value in request.headers.items()}.get(
        endpoints.LANGUAGE_HEADER.lower(), ""
    )
    if not language.strip():
        raise ApiError(errors.APIG_REQUEST_ERROR, detail=f"the {endpoints.LANGUAGE_HEADER} header is mandatory")


def _history_page_size(dialect: Dialect, query: _Query) -> int:
    """The run-history page size to ask the backend for: the query's, or the dialect's fixed one (row 3),
    which ignores whatever page_size says (an invalid one included)."""
    if dialect.history_page_size is not None:
        return dialect.history_page_size
    return query.integer("page_size", DEFAULT_PAGE_SIZE)
