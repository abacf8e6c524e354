"""One request spec per CDM operation, free of any HTTP library.

Each function checks its input (refusing it with :class:`CdmConfigError` before any request) and
returns a :class:`CdmCall`: the endpoint, path parameters, query, JSON body, extra headers, a parser
from the decoded JSON answer to a typed result and, for calls that are not safe to repeat, a
reconciler (:mod:`airflow_provider_cdm.client.reconcile`). The sync transport (requests) and the async
one (httpx) send the same specs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

from airflow_provider_cdm.api import cluster_actions, endpoints
from airflow_provider_cdm.api.endpoints import Endpoint
from airflow_provider_cdm.api.job_schema import JOB_TYPES, MAX_JOB_NAME_LENGTH, job_name_problems, to_cdm_string
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.links import Link, link_from_answer
from airflow_provider_cdm.client.models import (
    Cluster,
    CreateJobResult,
    Job,
    Page,
    ResponseShapeError,
    Submission,
    ValidationMessage,
    as_list,
    as_object,
)
from airflow_provider_cdm.client.reconcile import (
    ClusterProbe,
    CreateAndStartOutcome,
    CreateAndStartReconciler,
    CreateReconciler,
    Reconciler,
    StartReconciler,
)
from airflow_provider_cdm.client.settings import check_path_segment
from airflow_provider_cdm.job_definition import CdmJobDefinitionError, load_job_definition

T = TypeVar("T")

LANGUAGE = "en-us"  # create-and-execute's mandatory X-Language: the language of CDM's messages (or zh-cn)
_NAME_EXPECTED = "a non-empty name without '/', '\\', control characters or surrounding whitespace, not 'all'"


class ValidationRejected(Exception):
    """A 200 answer whose ``validation-result`` has ERROR entries; the transport makes it an API error."""

    def __init__(self, messages: Sequence[ValidationMessage]) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(message.message for message in self.messages if message.is_error))


@dataclass(frozen=True)
class CdmCall(Generic[T]):
    """Everything needed to send one request and read its answer.

    ``reconciler`` makes a fresh reconciler per send (it keeps state across the attempts of one send).
    """

    endpoint: Endpoint
    parse: Callable[[Any], T]
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    reconciler: Callable[[], Reconciler[T]] | None = None

    @property
    def method(self) -> str:
        return self.endpoint.method

    def path(self, project_id: str) -> str:
        """The escaped request path."""
        return self.endpoint.path(project_id, **self.path_params)

    def target(self, project_id: str) -> str:
        """Path and query string, exactly as sent and signed."""
        query = urlencode(self.query, quote_via=quote, safe="")
        return self.path(project_id) + (f"?{query}" if query else "")

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def check_job_name(name: object, setting: str = "job_name") -> str:
    """A job name CDM accepts and a path can carry, by the one rule (``job_schema.job_name_problems``):
    1-240 characters, no ``/``, ``\\`` or control characters, not ``.`` or ``..``, no leading or
    trailing whitespace, not ``all`` in any case (non-ASCII is fine: it is percent-encoded)."""
    if not isinstance(name, str):
        raise CdmConfigError(setting, f"got a {type(name).__name__} ({name!r:.80})", "a string")
    problems = job_name_problems(name, setting)
    if not problems:
        return name
    if len(name) > MAX_JOB_NAME_LENGTH:  # too long to repeat in the message
        raise CdmConfigError(setting, f"is {len(name)} characters long", f"at most {MAX_JOB_NAME_LENGTH}")
    if not name:
        problems = [f"{setting} must not be empty"]
    raise CdmConfigError(setting, "; ".join(problems), _NAME_EXPECTED)


def check_variables(variables: Mapping[str, Any] | None) -> dict[str, str]:
    """Start variables as CDM wants them: every value a string (numbers as text, booleans true/false)."""
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise CdmConfigError("variables", f"got a {type(variables).__name__}", "a mapping of names to values")
    checked: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(key, str) or not key:
            raise CdmConfigError("variables", f"key {key!r} is not a non-empty string", "string keys")
        try:
            checked[key] = to_cdm_string(value)
        except TypeError as err:
            raise CdmConfigError(f"variables[{key!r}]", str(err), "a string, number or boolean") from None
    return checked


def check_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """One job definition, given as the job itself or as the ``{"jobs": [job]}`` body, validated by
    :func:`~airflow_provider_cdm.job_definition.load_job_definition` (values converted to strings)."""
    if not isinstance(job, Mapping):
        raise CdmConfigError("job", f"got a {type(job).__name__}", "a job definition (a mapping)")
    if "jobs" in job:
        jobs = job["jobs"]
        if not isinstance(jobs, Sequence) or isinstance(jobs, str) or len(jobs) != 1:
            raise CdmConfigError("job", "the 'jobs' list must hold exactly one job", "one job per call")
        return check_job(jobs[0])
    check_job_name(job.get("name"), "job.name")
    try:
        return load_job_definition(job)
    except CdmJobDefinitionError as err:
        raise CdmConfigError("job", str(err)) from None


def _segment(setting: str, value: object) -> str:
    return check_path_segment(setting, value, what="name")


def _cluster(cluster_id: object) -> dict[str, str]:
    return {"cluster_id": _segment("cluster_id", cluster_id)}


def _job_path(cluster_id: object, job_name: object) -> dict[str, str]:
    return {**_cluster(cluster_id), "job_name": check_job_name(job_name)}


def _validated(document: Mapping[str, Any]) -> list[ValidationMessage]:
    """The ``validation-result`` entries; raises ValidationRejected when any is an ERROR."""
    messages = ValidationMessage.list_from(document)
    if any(message.is_error for message in messages):
        raise ValidationRejected(messages)
    return messages


def _latest(items: Sequence[Submission]) -> Submission:
    """The newest run (highest submission id; the first listed when ids are missing)."""
    return max(items, key=lambda item: item.submission_id if item.submission_id is not None else -1)


def _submissions(document: object) -> list[Submission]:
    return [
        Submission.from_api(item) for item in as_list(as_object(document, "answer").get("submissions"), "submissions")
    ]


def _runs(document: object) -> list[Submission]:
    """The runs an answer lists: without the NEVER_EXECUTED one Sqoop 2 makes up for a job that never
    ran (dated now, no id: cdm-dialects.md row 1), which is no run at all."""
    return [item for item in _submissions(document) if item.status is not JobStatus.NEVER_EXECUTED]


def _total(document: Mapping[str, Any]) -> int | None:
    """The wrapper's ``total`` (a number or numeric string); None when absent or not a count."""
    total = document.get("total")
    if isinstance(total, str) and total.strip().isdigit():
        return int(total)
    if isinstance(total, float) and total.is_integer() and total >= 0:
        return int(total)
    return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None


class PageWalk(Generic[T]):
    """Which page of a listing to read next, and when to stop.

    When the answer carries ``total``, the walk goes by it and ``page_no``: it ends once ``total`` items
    were seen (so by page ``total`` at the latest: every page taken holds an item), whatever the pages'
    length: CDM may answer 10 items a page whatever ``page_size`` asked for. Without ``total``, a page
    shorter than ``page_size`` is the last one. Always: an empty page, or one that repeats the previous
    page (a server ignoring ``page_no``), ends the walk.

    Sans-IO, so both transports walk alike::

        walk = PageWalk(lambda page_no: list_submissions(cluster, job, page_no=page_no), 100)
        while (call := walk.next_call()) is not None:
            items = walk.take(transport.execute(call))
    """

    def __init__(self, page_call: Callable[[int], CdmCall[Page[T]]], page_size: int) -> None:
        self._page_call = page_call
        self._page_size = page_size
        self._page_no = 1
        self._seen = 0
        self._previous: tuple[T, ...] = ()
        self._done = False

    def next_call(self) -> CdmCall[Page[T]] | None:
        """The request for the next page; None when the walk is over."""
        return None if self._done else self._page_call(self._page_no)

    def take(self, page: Page[T]) -> tuple[T, ...]:
        """The items of the page just read (none when it ends the walk without new items)."""
        if not page.items or page.items == self._previous:
            self._done = True
            return ()
        self._seen += len(page.items)
        if page.total is not None:
            self._done = self._seen >= page.total
        else:
            self._done = len(page.items) < self._page_size
        self._previous = page.items
        self._page_no += 1
        return page.items


# --- clusters -------------------------------------------------------------------------------------


def list_clusters() -> CdmCall[list[Cluster]]:
    def parse(document: object) -> list[Cluster]:
        return [Cluster.from_api(item) for item in as_list(as_object(document, "answer").get("clusters"), "clusters")]

    return CdmCall(endpoints.LIST_CLUSTERS, parse)


def show_cluster(cluster_id: str) -> CdmCall[Cluster]:
    return CdmCall(endpoints.SHOW_CLUSTER, Cluster.from_api, _cluster(cluster_id))


def start_cluster(cluster_id: str) -> CdmCall[list[str]]:
    """Start a stopped cluster; the answer's ``jobId`` list (CDM's ids of the action)."""
    return _cluster_action(cluster_id, cluster_actions.start_body())


def stop_cluster(cluster_id: str, stop_mode: object = "IMMEDIATELY", delay_time: object = -1) -> CdmCall[list[str]]:
    """Stop a running cluster: IMMEDIATELY, or GRACEFULLY (active runs get up to ``delay_time`` seconds to end;
    -1: as long as they take)."""
    mode = _choice("stop_mode", stop_mode, cluster_actions.STOP_MODES)
    delay = _whole_seconds("delay_time", delay_time, minimum=-1)
    return _cluster_action(cluster_id, cluster_actions.stop_body(mode, delay))


def restart_cluster(
    cluster_id: str, restart_mode: object = "IMMEDIATELY", restart_level: object = "SERVICE", delay_time: object = 0
) -> CdmCall[list[str]]:
    """Restart a running cluster's service (or its VMs: ``restart_level="VM"``), after ``delay_time`` seconds."""
    mode = _choice("restart_mode", restart_mode, cluster_actions.RESTART_MODES)
    level = _choice("restart_level", restart_level, cluster_actions.RESTART_LEVELS)
    delay = _whole_seconds("delay_time", delay_time, minimum=0)
    return _cluster_action(cluster_id, cluster_actions.restart_body(delay, mode, level))


def _cluster_action(cluster_id: str, body: dict[str, Any]) -> CdmCall[list[str]]:
    return CdmCall(endpoints.CLUSTER_ACTION, cluster_actions.job_ids_of, _cluster(cluster_id), body=body)


def _choice(setting: str, value: object, allowed: Sequence[str]) -> str:
    """One of ``allowed``, in any case, as CDM spells it."""
    if isinstance(value, str) and value.strip().upper() in allowed:
        return value.strip().upper()
    raise CdmConfigError(setting, f"got {value!r}", "one of " + ", ".join(allowed))


def _whole_seconds(setting: str, value: object, *, minimum: int) -> int:
    """Whole seconds (an int, or a float or numeric string without a fraction), at least ``minimum``."""
    number: object = value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if not isinstance(number, int) or isinstance(number, bool) or number < minimum:
        raise CdmConfigError(setting, f"got {value!r}", f"whole seconds, at least {minimum}")
    return number


# --- jobs -----------------------------------------------------------------------------------------


def create_job(cluster_id: str, job: Mapping[str, Any]) -> CdmCall[CreateJobResult]:
    """Create one job in a cluster; ERROR entries in the answer's validation result raise."""
    definition = check_job(job)
    name = definition["name"]

    def parse(document: object) -> CreateJobResult:
        answer = as_object(document, "answer")
        messages = _validated(answer)
        return CreateJobResult(name=str(answer.get("name") or name), warnings=tuple(messages))

    return CdmCall(
        endpoints.CREATE_JOB,
        parse,
        _cluster(cluster_id),
        body={"jobs": [definition]},
        reconciler=lambda: CreateReconciler(definition, show_job(cluster_id, name)),
    )


def check_language(language: object, name: str = "language") -> str:
    """An ``X-Language`` value: a non-empty tag that fits in a header (CDM documents en-us and zh-cn)."""
    if not isinstance(language, str) or not language.strip() or any(c in language for c in "\r\n"):
        raise CdmConfigError(name, f"got {language!r}", "a language tag such as 'en-us' or 'zh-cn'")
    return language.strip()


def create_and_start_job(
    job: Mapping[str, Any], clusters: Sequence[str], *, language: str = LANGUAGE
) -> CdmCall[CreateAndStartOutcome]:
    """Create a job in one of ``clusters`` (CDM picks a running one) and start it.

    The answer does not say which cluster took the job: the outcome names it only when there was a
    single candidate (or reconciliation found it). ``language`` is the mandatory ``X-Language`` header.
    """
    definition = check_job(job)
    language = check_language(language)
    if isinstance(clusters, str) or not isinstance(clusters, Sequence) or not clusters:
        raise CdmConfigError("clusters", f"got {clusters!r}", "a non-empty list of cluster ids")
    candidates = [_segment("clusters", cluster) for cluster in clusters]
    name = definition["name"]

    def parse(document: object) -> CreateAndStartOutcome:
        answer = as_object(document, "answer")
        _validated(answer)
        return (candidates[0] if len(candidates) == 1 else None, _submissions(answer))

    return CdmCall(
        endpoints.CREATE_AND_START_JOB,
        parse,
        body={"jobs": [definition], "clusters": candidates},
        headers={endpoints.LANGUAGE_HEADER: language},
        reconciler=lambda: CreateAndStartReconciler(
            definition,
            [ClusterProbe(cluster, show_job(cluster, name), job_status(cluster, name)) for cluster in candidates],
        ),
    )


def start_job(cluster_id: str, job_name: str, variables: Mapping[str, Any] | None = None) -> CdmCall[Submission]:
    path_params = _job_path(cluster_id, job_name)

    def parse(document: object) -> Submission:
        submissions = _submissions(document)
        if not submissions:
            raise ResponseShapeError("the start answer holds no submission")
        return _latest(submissions)

    return CdmCall(
        endpoints.START_JOB,
        parse,
        path_params,
        body={"variables": check_variables(variables)},
        reconciler=lambda: StartReconciler(job_status(cluster_id, job_name)),
    )


def job_status(cluster_id: str, job_name: str) -> CdmCall[Submission | None]:
    """The latest run, or None while no run is known (never to be read as success)."""

    def parse(document: object) -> Submission | None:
        submissions = _runs(document)
        return _latest(submissions) if submissions else None

    return CdmCall(endpoints.JOB_STATUS, parse, _job_path(cluster_id, job_name))


def stop_job(cluster_id: str, job_name: str) -> CdmCall[list[ValidationMessage]]:
    """Stop the active run; the answer's entries (if any) say why it was not stopped."""

    def parse(document: object) -> list[ValidationMessage]:
        return ValidationMessage.list_from(as_object(document, "answer"))

    return CdmCall(endpoints.STOP_JOB, parse, _job_path(cluster_id, job_name))


def delete_job(cluster_id: str, job_name: str) -> CdmCall[None]:
    def parse(document: object) -> None:
        return None

    return CdmCall(endpoints.DELETE_JOB, parse, _job_path(cluster_id, job_name))


def show_job(cluster_id: str, job_name: str) -> CdmCall[Job]:
    def parse(document: object) -> Job:
        jobs = [Job.from_api(item) for item in as_list(as_object(document, "answer").get("jobs"), "jobs")]
        for job in jobs:
            if job.name == job_name:
                return job
        raise ResponseShapeError(f"the answer holds no job named {job_name!r}")

    return CdmCall(endpoints.SHOW_JOB, parse, _job_path(cluster_id, job_name))


def list_jobs(
    cluster_id: str,
    *,
    page_no: int = 1,
    page_size: int = 100,
    name_filter: str | None = None,
    job_type: str = "NORMAL_JOB",
) -> CdmCall[Page[Job]]:
    low, high = endpoints.LIST_PAGE_SIZE_RANGE
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not low <= page_size <= high:
        raise CdmConfigError("page_size", f"got {page_size!r}", f"an integer from {low} to {high}")
    if job_type not in JOB_TYPES:
        raise CdmConfigError("job_type", f"got {job_type!r}", f"one of {', '.join(JOB_TYPES)}")
    query = [("page_no", str(page_no)), ("page_size", str(page_size)), ("jobType", job_type)]
    if name_filter:
        query.append(("filter", name_filter))

    def parse(document: object) -> Page[Job]:
        answer = as_object(document, "answer")
        return Page(tuple(Job.from_api(item) for item in as_list(answer.get("jobs"), "jobs")), _total(answer))

    return CdmCall(endpoints.LIST_JOBS, parse, _cluster(cluster_id), query=tuple(query))


def update_job(cluster_id: str, job: Mapping[str, Any]) -> CdmCall[list[ValidationMessage]]:
    """Replace a job's definition; ERROR entries raise, the other entries (warnings) are returned."""
    definition = check_job(job)

    def parse(document: object) -> list[ValidationMessage]:
        return _validated(as_object(document, "answer"))

    return CdmCall(endpoints.UPDATE_JOB, parse, _job_path(cluster_id, definition["name"]), body={"jobs": [definition]})


def list_submissions(
    cluster_id: str, job_name: str, *, page_no: int = 1, page_size: int = 100
) -> CdmCall[Page[Submission]]:
    """One page of a job's run history."""
    query = (("jname", check_job_name(job_name)), ("page_no", str(page_no)), ("page_size", str(page_size)))

    def parse(document: object) -> Page[Submission]:
        return Page(tuple(_runs(document)), _total(as_object(document, "answer")))

    return CdmCall(endpoints.LIST_SUBMISSIONS, parse, _cluster(cluster_id), query=query)


# --- links ----------------------------------------------------------------------------------------


def show_link(cluster_id: str, link_name: str) -> CdmCall[Link]:
    """One link, without its credentials (``all``, which lists every link, is refused as a name)."""
    name = _segment("link_name", link_name)
    if name.strip().lower() == endpoints.LIST_ALL_LINKS:
        raise CdmConfigError("link_name", f"got {link_name!r}", "a link name other than 'all' (which lists every link)")
    return CdmCall(
        endpoints.SHOW_LINK,
        lambda document: link_from_answer(document, name),
        {**_cluster(cluster_id), "link_name": name},
    )
