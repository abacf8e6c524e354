"""CDM's state and rules without HTTP: clusters, jobs, their runs (submissions) and the scripts for them.

Like a moto backend, this is plain logic the HTTP layer maps requests onto; its answers are already
in CDM's JSON shapes, quirks included. Runs derive their state from the injected clock (``runs.py``),
so nothing here has a thread; what the clock brings about besides (queued runs booting, CDM's retries,
jobs deleted after their run, scheduled runs) is applied lazily by ``lifecycle.py`` at the start of each
public method, as of that moment. The job options behind it are read by ``job_options.py``. Clusters'
start, stop and restart (``clusters.py``) change their status the same way, each change applied at its
own instant between the lifecycle's events. One lock guards all state.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any
from urllib.parse import quote

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.cluster_actions import ClusterAction
from airflow_provider_cdm.api.endpoints import LIST_PAGE_SIZE_RANGE
from airflow_provider_cdm.api.job_schema import CONFIG_VALUE_FIELDS, JOB_TYPES, definition_problems, normalized_job
from airflow_provider_cdm.api.job_schema import DEFAULT_JOB_TYPE as DEFAULT_JOB_TYPE  # the app's list-jobs default
from airflow_provider_cdm.api.statuses import ClusterStatus, JobStatus
from airflow_provider_cdm.emulator.clusters import (
    DEFAULT_TRANSITION_S,
    ActionRequest,
    ClusterScript,
    ClusterState,
    active_runs,
    apply_change,
    event,
    fail_runs,
    next_change,
    not_running_reason,
)
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.job_options import EmulatedOptions, option_problems
from airflow_provider_cdm.emulator.lifecycle import Lifecycle, PendingRetry
from airflow_provider_cdm.emulator.links import LinkSpec, LinkStore
from airflow_provider_cdm.emulator.runs import JsonDict, Run, Script, epoch_millis

DEFAULT_PAGE_SIZE = LIST_PAGE_SIZE_RANGE[0]
MAX_CLUSTER_CHANGES = 10_000  # per access; the rest waits for the next one


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster as configured: stable id, name and status (its live status is :attr:`Cluster.state`'s)."""

    id: str
    name: str
    status: ClusterStatus = ClusterStatus.NORMAL


def _encoded_config_values(values: Any) -> Any:
    """A copy of a ConfigValues structure with every input value percent-encoded, as CDM reads back."""
    out = copy.deepcopy(values)
    for config in out.get("configs", []):
        for item in config.get("inputs", []):
            item["value"] = quote(item["value"], safe="")
    return out


@dataclass
class Job:
    """A stored job definition with its metadata and run history (oldest first).

    ``options`` are the definition's (``job_options.EmulatedOptions``); ``parent`` names the batch job a
    subjob belongs to; ``retry`` and ``next_schedule`` are what CDM will start next on its own.
    """

    id: int
    definition: JsonDict
    creation_user: str
    created_at: float
    update_user: str
    updated_at: float
    runs: list[Run] = field(default_factory=list)
    options: EmulatedOptions = field(default_factory=EmulatedOptions)
    parent: str | None = None
    retry: PendingRetry | None = None
    next_schedule: float | None = None

    @property
    def name(self) -> str:
        return str(self.definition["name"])

    @property
    def job_type(self) -> str:
        return str(self.definition["job_type"])

    def active_run(self, now: float) -> Run | None:
        last = self.runs[-1] if self.runs else None
        return last if last is not None and last.is_active(now) else None

    def status(self, now: float) -> JobStatus:
        return self.runs[-1].status(now) if self.runs else JobStatus.NEW

    def render(self, now: float) -> JsonDict:
        """The Job object as read back: the definition (values percent-encoded), CDM's metadata and,
        once it has run, its last run's execution fields (:meth:`Run.execution_fields`)."""
        out = copy.deepcopy(self.definition)
        for name in CONFIG_VALUE_FIELDS:
            out[name] = _encoded_config_values(out[name])
        out.update(
            {
                "status": self.status(now).value,
                "id": self.id,
                "enabled": True,
                "creation-user": self.creation_user,
                "creation-date": epoch_millis(self.created_at),
                "update-user": self.update_user,
                "update-date": epoch_millis(self.updated_at),
            }
        )
        if self.runs:
            out.update(self.runs[-1].execution_fields(now))
        return out


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Cluster:
    """A cluster: as configured, its live status (``state``), its jobs and its queue."""

    configured: ClusterSpec
    created_at: float
    jobs: dict[str, Job] = field(default_factory=dict)
    queue: deque[Run] = field(default_factory=deque)  # runs waiting for a slot (PENDING), oldest first
    state: ClusterState = field(init=False)

    def __post_init__(self) -> None:
        self.state = ClusterState(self.configured.id, self.configured.status, self.created_at)

    @property
    def spec(self) -> ClusterSpec:
        """The cluster now: its configured id and name with its live status (what job starts check)."""
        return dataclasses.replace(self.configured, status=self.state.status)

    def render(self) -> JsonDict:
        return {
            "id": self.configured.id,
            "name": self.configured.name,
            **self.state.fields(),
            "created": _iso(self.created_at),
            "updated": _iso(self.state.changed_at),
            "version": "2.10.0",
            "datastore": {"type": "cdm", "version": "2.10.0"},
            "flavor": {"id": "emulator-flavor", "name": "cdm.medium"},
            "publicEndpoint": "",
            "instances": [],
        }

    def snapshot(self) -> JsonDict:
        """The admin view of the cluster itself (``state``'s, with id and name)."""
        return {"id": self.configured.id, "name": self.configured.name, **self.state.snapshot()}


def _validation(problems: Sequence[str]) -> list[JsonDict]:
    return [{"message": problem, "status": "ERROR"} for problem in problems]


def _check_page(page_no: int, page_size: int) -> None:
    low, high = LIST_PAGE_SIZE_RANGE
    if page_no < 1:
        raise ApiError(errors.APIG_REQUEST_ERROR, detail="page_no must be at least 1")
    if not low <= page_size <= high:
        raise ApiError(errors.APIG_REQUEST_ERROR, detail=f"page_size must be between {low} and {high}")


class CdmBackend:
    """All clusters, jobs, runs and scripts of one emulator; every public method is atomic.

    ``retry_delay_s``: how long after a failed run CDM's retry (``RETRY_TRIPLE``) starts;
    ``cluster_concurrency``: runs each cluster runs at once, later ones wait PENDING (None: no limit);
    ``schedule_timezone``: the zone of scheduled jobs' ``startDate``/``stopDate`` wall-clock times;
    ``cluster_transition_s``: how long a cluster shows an action's passing status (``clusters.py``).
    """

    def __init__(
        self,
        clusters: Sequence[ClusterSpec],
        *,
        clock: Callable[[], float] = time.time,
        job_duration_s: float = 2.0,
        links: Mapping[str, str] | Sequence[LinkSpec] | None = None,
        strict_links: bool = False,
        seed: int | None = None,
        retry_delay_s: float = 1.0,
        cluster_concurrency: int | None = None,
        schedule_timezone: tzinfo = timezone.utc,
        cluster_transition_s: float = DEFAULT_TRANSITION_S,
    ) -> None:
        if not clusters:
            raise ValueError("the emulator needs at least one cluster")
        if not math.isfinite(retry_delay_s) or retry_delay_s < 0:
            raise ValueError("retry_delay_s must be a finite number >= 0")
        if cluster_concurrency is not None and cluster_concurrency < 1:
            raise ValueError("cluster_concurrency must be at least 1 (or None for no limit)")
        if not math.isfinite(cluster_transition_s) or cluster_transition_s < 0:
            raise ValueError("cluster_transition_s must be a finite number >= 0")
        self._transition_s = cluster_transition_s
        self._retry_delay_s = retry_delay_s
        self._concurrency = cluster_concurrency
        self._tz = schedule_timezone
        self._specs = tuple(clusters)
        self._clock = clock
        self._default_script = Script(duration_s=job_duration_s)
        self.links = LinkStore(links or (), clock)
        self._strict_links = strict_links
        self._seed = seed
        self._lock = threading.Lock()
        self._init_state()

    def _init_state(self) -> None:
        now = self._clock()
        self._clusters = {spec.id: Cluster(spec, now) for spec in self._specs}
        self._scripts: dict[str, Script] = {}
        self._next_submission_id = 1
        self._next_job_id = 1
        self._rng = random.Random(self._seed)
        self._starts: Counter[str] = Counter()
        self._creates: Counter[str] = Counter()
        self._life = Lifecycle(self, retry_delay_s=self._retry_delay_s, concurrency=self._concurrency)

    def reset(self) -> None:
        """Back to the configured clusters (their configured statuses) and links with no jobs, runs or
        scripts."""
        with self._lock:
            self._init_state()
        self.links.reset()

    # -- clusters -----------------------------------------------------------------------------------

    def list_clusters(self) -> JsonDict:
        with self._lock:
            self._now()
            return {"clusters": [cluster.render() for cluster in self._clusters.values()]}

    def show_cluster(self, cluster_id: str) -> JsonDict:
        with self._lock:
            self._now()
            return self._cluster(cluster_id).render()

    def cluster_action(self, cluster_id: str, body: object) -> JsonDict:
        """Start, stop or restart a cluster (``clusters.py``): ``{"jobId": [id]}``, a string for a restart.

        APIG.0201 for a bad body, Cdm.0001 for an unknown cluster, CDM_CLUSTER_ACTION_REFUSED for an action
        its status does not allow."""
        request = ActionRequest.from_body(body)
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            active = active_runs(cluster, now)
            job_id = str(uuid.uuid4())
            cluster.state.begin(request, now, self._transition_s, job_id, [run for run in active if not run.queued])
            self._life.events.append(event(cluster, now, "cluster_action", action=request.action.value, job_id=job_id))
            if request.graceful:  # queued runs fail at once; the others may end (clusters.py)
                fail_runs(cluster, [run for run in active if run.queued], now, request.action, self._life.events)
            self._now()  # an action without delay begins at once
            return {"jobId": job_id if request.action is ClusterAction.RESTART else [job_id]}

    def script_cluster(self, cluster_id: str, script: ClusterScript) -> JsonDict:
        """Script the cluster's next action (the admin API); returns the cluster's admin view."""
        with self._lock:
            self._now()
            cluster = self._cluster(cluster_id)
            cluster.state.script = script
            return cluster.snapshot()

    def set_cluster_status(self, cluster_id: str, status: ClusterStatus) -> JsonDict:
        """Set a cluster's status at once, dropping any action under way (the admin API); a status that runs
        no jobs fails the runs under way. Returns the cluster's admin view."""
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            cluster.state.force(status, now)
            self._life.events.append(event(cluster, now, "cluster_status_set"))
            if not status.can_run_jobs:
                fail_runs(cluster, active_runs(cluster, now), now, None, self._life.events)
            self._life.advance(now)
            return cluster.snapshot()

    def cluster_view(self, cluster_id: str) -> JsonDict:
        """The admin view of one cluster: its live state and show-cluster's answer (``view``)."""
        with self._lock:
            self._now()
            cluster = self._cluster(cluster_id)
            return {**cluster.snapshot(), "view": cluster.render()}

    # -- jobs ---------------------------------------------------------------------------------------

    def create_job(self, cluster_id: str, job: object, user: str) -> JsonDict:
        """Create a job; an invalid definition answers ``validation-result`` errors and creates nothing."""
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            problems = self.problems(job)
            name = job.get("name") if isinstance(job, dict) else None
            if problems or not isinstance(job, dict):
                return {"name": name, "validation-result": _validation(problems)}
            if job["name"] in cluster.jobs:
                raise ApiError(errors.CDM_JOB_NAME_EXISTS, job=job["name"])
            self.add_job(cluster, self._stored(job), user, now, None)
            return {"name": name, "validation-result": []}

    def create_and_start(self, cluster_ids: Sequence[str], job: object, user: str) -> JsonDict:
        """Create a job in a random running cluster among the candidates and start it (PENDING when queued)."""
        with self._lock:
            now = self._now()
            candidates = [self._cluster(cluster_id) for cluster_id in cluster_ids]
            problems = self.problems(job)
            name = job.get("name") if isinstance(job, dict) else None
            if problems or not isinstance(job, dict):
                return {"name": name, "validation-result": _validation(problems)}
            running = [cluster for cluster in candidates if cluster.state.status.can_run_jobs]
            if not running:
                raise ApiError(errors.CDM_NO_RESOURCE, resource=f"running cluster among {list(cluster_ids)}")
            if any(job["name"] in cluster.jobs for cluster in running):
                raise ApiError(errors.CDM_JOB_NAME_EXISTS, job=job["name"])
            cluster = self._rng.choice(running)
            created = self.add_job(cluster, self._stored(job), user, now, None)
            answer = {"submissions": [self._life.submit(cluster, created, {}, user, now).submission(now)]}
            self._life.advance(now)
            return answer

    def start_job(self, cluster_id: str, job_name: str, variables: Mapping[str, str], user: str) -> JsonDict:
        """Start a run: it boots, or waits PENDING for a slot of the cluster; a BATCH_JOB starts its subjobs."""
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            job = self._job(cluster, job_name)
            if not cluster.state.status.can_run_jobs:
                reason = not_running_reason(cluster_id, cluster.state.status)
                raise ApiError(errors.CDM_CANNOT_SUBMIT, job=job_name, reason=reason)
            if job.active_run(now) is not None:
                raise ApiError(errors.CDM_JOB_RUNNING, job=job_name)
            answer = {"submissions": [self._life.submit(cluster, job, variables, user, now).submission(now)]}
            self._life.advance(now)
            return answer

    def stop_job(self, cluster_id: str, job_name: str) -> JsonDict:
        """End the active run early (a PENDING one too, a batch's subjobs with it): it then reads FAILED,
        stopped by the user; CDM does not retry it."""
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            run = self._job(cluster, job_name).active_run(now)
            if run is None:
                raise ApiError(errors.CDM_JOB_NOT_RUNNING, job=job_name)
            self._life.stop(cluster, run, now)
            self._life.advance(now)
            return {"validation-result": []}

    def fire_schedule(self, cluster_id: str, job_name: str) -> JsonDict:
        """Start a scheduled job's run now, as its schedule would (``is-execute-auto`` true); for tests
        and demos. Skipped, as a due run is, while a run is under way. ValueError for an unscheduled job."""
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            job = self._job(cluster, job_name)
            if job.options.schedule is None:
                raise ValueError(f"job {job_name!r} is not scheduled (schedulerConfig.isSchedulerJob is not true)")
            run, reason = self._life.auto_start(cluster, job, now, fired=True)
            answer = {
                "job_name": job_name,
                "fired": run is not None,
                "submission": None if run is None else run.submission(now),
                "skipped": reason,
            }
            self._life.advance(now)
            return answer

    def job_status(self, cluster_id: str, job_name: str) -> JsonDict:
        """The latest run, or an empty list for a job that was never started."""
        with self._lock:
            now = self._now()
            job = self._job(self._cluster(cluster_id), job_name)
            return {"submissions": [job.runs[-1].submission(now)] if job.runs else []}

    def show_job(self, cluster_id: str, job_name: str) -> JsonDict:
        with self._lock:
            now = self._now()
            job = self._job(self._cluster(cluster_id), job_name)
            return {"total": 1, "jobs": [job.render(now)], "page_no": 1, "page_size": DEFAULT_PAGE_SIZE}

    def list_jobs(
        self,
        cluster_id: str,
        *,
        name_filter: str = "",
        page_no: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        job_type: str = DEFAULT_JOB_TYPE,
    ) -> JsonDict:
        _check_page(page_no, page_size)
        if job_type not in JOB_TYPES:
            raise ApiError(errors.APIG_REQUEST_ERROR, detail=f"jobType must be one of {sorted(JOB_TYPES)}")
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            matches = [j for j in cluster.jobs.values() if j.job_type == job_type and name_filter in j.name]
            page = matches[(page_no - 1) * page_size : page_no * page_size]
            jobs = [job.render(now) for job in page]
            return {"total": len(matches), "jobs": jobs, "page_no": page_no, "page_size": page_size}

    def update_job(self, cluster_id: str, job_name: str, job: object, user: str) -> JsonDict:
        """Replace a job's definition; its name cannot change (a missing name means the path's). Its options
        are read anew; a schedule counts from now."""
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            existing = cluster.jobs.get(job_name)
            if existing is None:
                raise ApiError(errors.CDM_UPDATE_MISSING_JOB, job=job_name)
            if existing.active_run(now) is not None:
                raise ApiError(errors.CDM_JOB_IN_USE, job=job_name)
            if isinstance(job, dict):
                job = {"name": job_name, **job}
            problems = self.problems(job)
            if not problems and isinstance(job, dict) and job["name"] != job_name:
                problems = [f"name {job['name']!r} differs from {job_name!r}: a job cannot be renamed"]
            if problems or not isinstance(job, dict):
                return {"validation-result": _validation(problems)}
            existing.definition = self._stored(job)
            existing.update_user, existing.updated_at = user, now
            existing.options = EmulatedOptions.of(existing.definition, now, self._tz)
            self._life.arm_schedule(cluster, existing, now)
            return {"validation-result": []}

    def delete_job(self, cluster_id: str, job_name: str) -> None:
        with self._lock:
            now = self._now()
            cluster = self._cluster(cluster_id)
            if self._job(cluster, job_name).active_run(now) is not None:
                raise ApiError(errors.CDM_JOB_IN_USE, job=job_name)
            del cluster.jobs[job_name]

    def list_submissions(
        self, cluster_id: str, job_name: str, *, page_no: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> JsonDict:
        """Run history, newest first, with dates as strings (as CDM's examples send them)."""
        _check_page(page_no, page_size)
        with self._lock:
            now = self._now()
            runs = list(reversed(self._job(self._cluster(cluster_id), job_name).runs))
            page = runs[(page_no - 1) * page_size : page_no * page_size]
            return {
                "submissions": [run.submission(now, dates_as_text=True) for run in page],
                "total": len(runs),
                "page_no": page_no,
                "page_size": page_size,
            }

    # -- links --------------------------------------------------------------------------------------

    def show_link(self, cluster_id: str, link_name: str) -> JsonDict:
        """A link of the cluster (every cluster has the emulator's links); Cdm.0101 when unknown."""
        with self._lock:
            self._cluster(cluster_id)
        return self.links.show(link_name)

    # -- scripts, counters and the admin view --------------------------------------------------------

    @property
    def default_duration_s(self) -> float:
        return self._default_script.duration_s

    def set_script(self, job_name: str, script: Script) -> None:
        """Script the job's next runs (the job need not exist yet); runs CDM started before now keep theirs."""
        with self._lock:
            self._now()
            self._scripts[job_name] = script

    def counts(self) -> JsonDict:
        with self._lock:
            self._now()
            return {"starts": dict(self._starts), "creates": dict(self._creates)}

    def snapshot(self) -> JsonDict:
        """The admin view: clusters (queues), jobs (options, runs, what CDM will start next), the jobs
        CDM deleted after their run, and the log of what the clock brought about."""
        with self._lock:
            now = self._now()
            return {
                "clusters": [
                    {
                        **cluster.snapshot(),
                        "concurrency": self._concurrency,
                        "queue": [
                            {"job_name": run.job_name, "submission_id": run.submission_id} for run in cluster.queue
                        ],
                        "jobs": [self._job_snapshot(job, now) for job in cluster.jobs.values()],
                    }
                    for cluster in self._clusters.values()
                ],
                "scripts": {name: script.to_json() for name, script in self._scripts.items()},
                "retry_delay_s": self._retry_delay_s,
                "cluster_transition_s": self._transition_s,
                "deleted": [dict(record) for record in self._life.deleted],
                "events": [dict(event) for event in self._life.events],
            }

    def problems(self, job: object) -> list[str]:
        """Why CDM would refuse this definition: the documented shape, an addressable name, the links."""
        if not isinstance(job, dict):
            return ["the job must be a JSON object"]
        problems = definition_problems(job)  # the job-name rule included
        if not problems:
            problems.extend(option_problems(normalized_job(job), self._clock(), self._tz))
        for side in ("from", "to"):
            link, connector = job.get(f"{side}-link-name"), job.get(f"{side}-connector-name")
            if not isinstance(link, str) or not link:
                continue
            declared = self.links.connector(link)
            if declared is None and self._strict_links:
                problems.append(f"{side}-link-name {link!r}: link does not exist")
            elif declared is not None and connector is not None and connector != declared:
                problems.append(f"{side}-link-name {link!r} is a {declared} link, not {connector!r}")
        return problems

    # -- lifecycle hooks (``lifecycle.Hooks``; lock held, not for callers) --------------------------

    def new_submission_id(self) -> int:
        submission_id = self._next_submission_id
        self._next_submission_id += 1
        return submission_id

    def take_script(self, job_name: str) -> Script:
        """The script of the job's next run (a counted script counts down)."""
        script = self._scripts.get(job_name)
        if script is None:
            return self._default_script
        if script.count is not None:
            if script.count == 1:
                del self._scripts[job_name]
            else:
                self._scripts[job_name] = dataclasses.replace(script, count=script.count - 1)
        return script

    def add_job(self, cluster: Cluster, definition: JsonDict, user: str, now: float, parent: str | None) -> Job:
        """Store a (valid) job, replacing one of the same name; a schedule counts from now."""
        options = EmulatedOptions.of(definition, now, self._tz)
        job = Job(self._next_job_id, definition, user, now, user, now, options=options, parent=parent)
        self._next_job_id += 1
        cluster.jobs[job.name] = job
        self._creates[job.name] += 1
        self._life.arm_schedule(cluster, job, now)
        return job

    def count_start(self, job_name: str) -> None:
        self._starts[job_name] += 1

    # -- helpers (lock held) -------------------------------------------------------------------------

    def _now(self) -> float:
        """The clock, once everything due by then has happened: the clusters' changes and the lifecycle's
        events, in time order."""
        now = self._clock()
        for _ in range(MAX_CLUSTER_CHANGES):
            due = next_change(self._clusters.values(), now)
            if due is None:
                break
            at, cluster = due
            self._life.advance(at)
            apply_change(cluster, at, self._life.events)
        self._life.advance(now)
        return now

    @staticmethod
    def _job_snapshot(job: Job, now: float) -> JsonDict:
        return {
            "name": job.name,
            "job_type": job.job_type,
            "status": job.status(now).value,
            "active": job.active_run(now) is not None,
            "options": job.options.to_json(),
            "parent": job.parent,
            "next_schedule_at": job.next_schedule,
            "retry": None if job.retry is None else job.retry.to_json(),
            "runs": [run.snapshot(now) for run in job.runs],
        }

    def _stored(self, job: JsonDict) -> JsonDict:
        """A valid definition as stored and read back: normalised as the client sends it
        (``api.job_schema.normalized_job``), a left-out destination connector its declared link's."""
        stored = normalized_job(job)
        declared = self.links.connector(str(stored["to-link-name"]))
        if declared is not None:
            stored.setdefault("to-connector-name", declared)
        return stored

    def _cluster(self, cluster_id: str) -> Cluster:
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            raise ApiError(errors.CDM_NO_RESOURCE, resource=f"cluster {cluster_id}")
        return cluster

    @staticmethod
    def _job(cluster: Cluster, job_name: str) -> Job:
        job = cluster.jobs.get(job_name)
        if job is None:
            raise ApiError(errors.CDM_JOB_NOT_EXIST_2, job=job_name)
        return job
