"""Operators for Huawei Cloud CDM jobs: create, start (and wait), create-and-start, stop, delete.

Every operator takes ``cdm_conn_id`` (default ``cdm_default``), ``cluster_id`` (default: the
connection's ``cluster_id`` extra) and ``hook_params`` (keyword arguments of :class:`CdmHook`).
Parameters that are not templated are checked when the DAG is parsed; templated ones at the start of
``execute``, after rendering and before any request. How a run is waited for lives in
:mod:`airflow_provider_cdm.operators._waiting`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from airflow_provider_cdm.api.job_options import JobOptions
from airflow_provider_cdm.client.exceptions import (
    CdmConfigError,
    CdmJobExistsError,
    CdmJobNotFoundError,
    CdmJobRunningError,
)
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.operations import LANGUAGE, check_job_name, check_language, check_variables
from airflow_provider_cdm.client.runs import RunRef
from airflow_provider_cdm.console import CdmConsoleLink
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.job_definition import (
    CdmJobDefinition,
    CdmJobDefinitionError,
    apply_variables,
    load_job_definition,
)
from airflow_provider_cdm.operators._cluster_waiting import ClusterReadyOperator
from airflow_provider_cdm.operators._lineage import CdmLineageMixin
from airflow_provider_cdm.operators._waiting import (
    STOP_WAIT_S,
    CdmJobFailedError,
    CdmJobTimeoutError,
    bind_run,
    check_choice,
    check_hook_params,
    check_seconds,
    describe_run,
    stop_and_settle,
)
from airflow_provider_cdm.progress import started_run

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

__all__ = [
    "CdmCreateAndStartJobOperator",
    "CdmCreateJobOperator",
    "CdmDeleteJobOperator",
    "CdmJobFailedError",
    "CdmJobTimeoutError",
    "CdmStartJobOperator",
    "CdmStopJobOperator",
]

IF_EXISTS = ("fail", "skip", "update", "replace")
IF_RUNNING = ("wait", "fail", "restart")


def _check_static_job(job: object) -> None:
    """Refuse a definition given as an object now (DAG parse); a string is a template, read at run time."""
    if isinstance(job, (CdmJobDefinition, Mapping)):
        load_job_definition(job)


def _definition(job: object) -> dict[str, Any]:
    """The rendered ``job`` (builder, dict, or JSON text read from a ``.json`` template) as a raw Job."""
    try:
        return load_job_definition(job)  # type: ignore[arg-type]
    except CdmJobDefinitionError as err:
        raise CdmConfigError("job", str(err)) from None


def _with_run_variables(definition: dict[str, Any], variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """The definition with a run's variables applied; unrendered ones (an operator object that did not run
    the task) are not the run's values and are left out."""
    checked = check_variables(variables)
    if any("{{" in value or "{%" in value for value in checked.values()):
        return definition
    return apply_variables(definition, checked) if checked else definition


class _CdmJobOperator(BaseOperator):
    """What every CDM operator has: the connection, a default cluster and a lazily made hook."""

    def __init__(
        self,
        *,
        cluster_id: str | None = None,
        cdm_conn_id: str = CdmHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_id = cluster_id
        self.cdm_conn_id = cdm_conn_id
        self.hook_params = check_hook_params(hook_params)

    @cached_property
    def hook(self) -> CdmHook:
        return CdmHook(self.cdm_conn_id, **self.hook_params)


class CdmCreateJobOperator(_CdmJobOperator):
    """Create a CDM job from a definition; returns the job's name.

    :param job: the definition: a :class:`CdmJobDefinition`, a raw Job dict (or a ``{"jobs": [Job]}``
        console export), JSON text, or the path of a ``.json`` file (relative to the DAG's folder or
        its ``template_searchpath``), which is read and rendered with Jinja. Templated.
    :param if_exists: when a job of that name exists: ``"fail"`` (default) raises; ``"skip"`` keeps it;
        ``"update"`` replaces its definition (CDM refuses while it runs); ``"replace"`` stops an active
        run, deletes the job and creates it anew.
    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook`.

    Every templated field whose value ends in ``.json`` is read as a template file; to pass such a
    value literally, wrap it in Airflow's ``literal()``.
    """

    template_fields: Sequence[str] = ("job", "cluster_id")
    template_ext: Sequence[str] = (".json",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"job": "json"}
    ui_color = "#e6f1fa"

    def __init__(self, *, job: Any, if_exists: str = "fail", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.if_exists = check_choice("if_exists", if_exists, IF_EXISTS)
        _check_static_job(job)

    def execute(self, context: Context) -> str:
        definition = _definition(self.job)
        name = str(definition["name"])
        cluster = self.hook.resolve_cluster_id(self.cluster_id)
        try:
            self.hook.create_job(definition, cluster)
            self.log.info("Created CDM job %r in cluster %s", name, cluster)
            return name
        except CdmJobExistsError as err:
            if self.if_exists == "fail":
                raise AirflowException(
                    f"CDM job {name!r} exists in cluster {cluster} (if_exists='fail'; "
                    "use 'skip', 'update' or 'replace' to accept it): " + str(err)
                ) from err
        if self.if_exists == "skip":
            self.log.info("CDM job %r exists in cluster %s: kept as it is (if_exists='skip')", name, cluster)
        elif self.if_exists == "update":
            warnings = self.hook.update_job(definition, cluster)
            for warning in warnings:
                self.log.warning("CDM warns about job %r: %s", name, warning.message)
            self.log.info("Updated the definition of CDM job %r in cluster %s", name, cluster)
        else:
            stop_and_settle(self.hook, name, cluster, self.log)
            self.hook.delete_job(name, cluster)
            self.hook.create_job(definition, cluster)
            self.log.info("Replaced CDM job %r in cluster %s", name, cluster)
        return name


class CdmStartJobOperator(CdmLineageMixin, ClusterReadyOperator):
    """Start an existing CDM job with variables and (by default) wait until its run ends.

    Returns (and pushes to XCom as ``return_value``) the run's result as JSON: ``job_name``,
    ``cluster_id``, ``submission_id``, ``status``, ``progress``, ``rows_read``, ``rows_written``,
    ``bytes_read``, ``bytes_written``, ``counters``, ``started_at`` and ``ended_at`` (ISO 8601). As
    soon as the run is known, its ``submission_id`` is pushed under that XCom key, and the run
    (job, cluster, submission id) under ``cdm_run``.

    :param job_name: the job (templated).
    :param variables: the run's variables, ``{name: str | int | float | bool}`` (templated).
    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param if_running: when the job has an active run already: ``"wait"`` (default) attaches to it, so a
        retried task never starts a second run; ``"fail"`` raises; ``"restart"`` stops it, waits until
        it has ended, then starts a new run.
    :param wait_for_completion: wait for the run to end (default); if False, return once it started.
    :param poll_interval: seconds between status reads (each is one request; CDM allows 120 a minute).
    :param timeout: seconds to wait for the run (None: no limit of this task's own; the task's
        ``execution_timeout`` still applies). On expiry the task fails with
        :class:`CdmJobTimeoutError`, after stopping the run when ``stop_on_timeout``.
    :param deferrable: wait in the triggerer instead of a worker slot (default: the
        ``[operators] default_deferrable`` option). A run that ended already is not deferred.
    :param stop_on_timeout: stop the run when ``timeout`` expires (default True).
    :param wait_for_cluster: before starting, wait until the cluster is Normal (200): one show-cluster call
        when it is; else poll (or defer) until it is, failing on 300, 303 or 800 (default False).
    :param cluster_timeout: seconds ``wait_for_cluster`` waits for the cluster (default 1800).
    :param success_statuses: statuses that end the wait successfully (default ``SUCCEEDED``).
    :param failure_statuses: statuses that fail the task (default ``FAILED``, ``FAILURE_ON_SUBMIT``,
        ``UNKNOWN``). A status in neither set keeps the task waiting (NEVER_EXECUTED for a bounded grace).
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook` (JSON values only when deferrable).

    A failed run raises :class:`CdmJobFailedError` carrying CDM's status, error summary and details.
    When the task is killed (``on_kill``, also called by Airflow when ``execution_timeout`` passes), the
    run it started or attached to is stopped if still active, even one whose start answer never came
    back; so is the run of a deferred task Airflow gives up on (its trigger timed out or failed).
    """

    template_fields: Sequence[str] = ("job_name", "cluster_id", "variables")
    template_fields_renderers: ClassVar[dict[str, str]] = {"variables": "json"}
    ui_color = "#c7e3f6"
    operator_extra_links = (CdmConsoleLink(),)

    def __init__(
        self,
        *,
        job_name: str,
        variables: dict[str, Any] | None = None,
        cluster_id: str | None = None,
        if_running: str = "wait",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.variables = variables
        self.cluster_id = cluster_id
        self.if_running = check_choice("if_running", if_running, IF_RUNNING)

    def begin(self, context: Context) -> tuple[RunRef, Submission | None]:
        """Start the run. Only when CDM answers that a run is active already (Cdm.0052) is the status
        read, and ``if_running`` decides: one call per start in the common case."""
        job_name = check_job_name(self.job_name)
        variables = check_variables(self.variables)
        cluster = self.hook.resolve_cluster_id(self.cluster_id)
        started = self._start(job_name, cluster, variables)
        if not isinstance(started, CdmJobRunningError):
            return started
        active = self._active_run(job_name, cluster)
        if active is None:  # the active run ended between CDM's refusal and the status read
            started = self._start(job_name, cluster, variables)
            if not isinstance(started, CdmJobRunningError):
                return started
            active = self._active_run(job_name, cluster)
            if active is None:  # CDM's refusal stands: its own words are the error
                raise started
        run = bind_run(active, job_name, cluster)
        if self.if_running == "wait":
            self.log.info("Attaching to %s, which is %s (if_running='wait')", describe_run(run), active.status_text)
            return run, active
        if self.if_running == "fail":
            raise AirflowException(f"{describe_run(run)} is {active.status_text} already (if_running='fail')")
        self.log.info("Stopping %s to start the job again (if_running='restart')", describe_run(run))
        stop_and_settle(self.hook, job_name, cluster, self.log, limit_s=self.timeout or STOP_WAIT_S)
        started = self._start(job_name, cluster, variables)
        if isinstance(started, CdmJobRunningError):
            raise AirflowException(
                f"Another run of CDM job {job_name!r} started while this task restarted it: {started}"
            ) from started
        return started

    def _start(
        self, job_name: str, cluster: str, variables: Mapping[str, Any]
    ) -> tuple[RunRef, Submission] | CdmJobRunningError:
        """Start a run: the run and CDM's answer, or CDM's refusal because a run is active (Cdm.0052)."""
        sent_at_ms = int(time.time() * 1000)
        # Until the start answers, this task's run is the job's run that begins from now on: a kill or
        # an execution_timeout that comes before the answer stops it all the same.
        self.run_ref = RunRef(job_name, cluster, None, sent_at_ms)
        try:
            submission = self.hook.start_job(job_name, cluster, variables)
        except CdmJobRunningError as refusal:
            return refusal
        self.log.info("Started CDM job %r in cluster %s: %s", job_name, cluster, started_run(submission.submission_id))
        return bind_run(submission, job_name, cluster, sent_at_ms), submission

    def _active_run(self, job_name: str, cluster: str) -> Submission | None:
        latest = self.hook.get_job_status(job_name, cluster)
        return latest if latest is not None and latest.is_active else None

    def lineage_job(self, job_name: str, cluster_id: str) -> dict[str, Any]:
        """The job as CDM holds it, with this run's variables in place of its ``${name}`` placeholders."""
        return _with_run_variables(self.lineage_hook.get_job(job_name, cluster_id).definition(), self.variables)


class CdmCreateAndStartJobOperator(CdmLineageMixin, ClusterReadyOperator):
    """Create a job in one of ``clusters`` (CDM picks a running one), start it, and wait as the start operator does.

    Uses CDM's create-and-execute call; its result is the start operator's, with ``cluster_id`` naming
    the cluster that received the job. CDM refuses a job name that exists in a candidate cluster.

    :param job: the definition (see :class:`CdmCreateJobOperator`); templated, ``.json`` files read.
    :param clusters: candidate cluster ids (templated); default: the connection's ``cluster_id`` extra.
    :param variables: values for the definition's ``${name}`` placeholders, substituted before the job
        is sent (create-and-execute carries no variables); templated.
    :param x_language: create-and-execute's ``X-Language`` header, the language of CDM's messages
        (``en-us``, the default, or ``zh-cn``); templated.

    The waiting parameters (``wait_for_completion``, ``poll_interval``, ``timeout``, ``deferrable``,
    ``stop_on_timeout``, ``success_statuses``, ``failure_statuses``, ``wait_for_cluster`` (until any one
    candidate is Normal), ``cluster_timeout``), ``cdm_conn_id`` and ``hook_params`` are the start operator's.
    """

    template_fields: Sequence[str] = ("job", "clusters", "variables", "x_language")
    template_ext: Sequence[str] = (".json",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"job": "json", "variables": "json"}
    ui_color = "#c7e3f6"
    operator_extra_links = (CdmConsoleLink(),)

    def __init__(
        self,
        *,
        job: Any,
        clusters: Collection[str] | None = None,
        variables: dict[str, Any] | None = None,
        x_language: str = LANGUAGE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.clusters = clusters
        self.variables = variables
        self.x_language = check_language(x_language, "x_language")
        _check_static_job(job)

    def begin(self, context: Context) -> tuple[RunRef, Submission | None]:
        definition = _definition(self.job)
        variables = check_variables(self.variables)
        if variables:
            definition = apply_variables(definition, variables)
        run, submission = self._create_and_start(definition)
        # The task knows the job's disposal and CDM's retries: its waits need not read them.
        return dataclasses.replace(run, options=JobOptions.of_definition(definition)), submission

    def _create_and_start(self, definition: dict[str, Any]) -> tuple[RunRef, Submission | None]:
        name = str(definition["name"])
        candidates = self._candidates()
        sent_at_ms = int(time.time() * 1000)
        if len(candidates) == 1:  # as the start operator does; with several, the cluster is CDM's choice
            self.run_ref = RunRef(name, candidates[0], None, sent_at_ms)
        try:
            language = check_language(self.x_language, "x_language")  # as rendered
            cluster, runs = self.hook.create_and_start_job(definition, candidates, language=language)
        except CdmJobExistsError:
            attached = self._attach_to_active_run(definition, candidates)
            if attached is None:
                raise
            return attached
        if cluster is None:
            raise AirflowException(
                f"CDM accepted job {name!r} but it was found in none of the clusters {candidates}: "
                "cannot follow its run"
            )
        self.log.info("Created and started CDM job %r in cluster %s", name, cluster)
        submission = runs[0] if runs else self.hook.get_job_status(name, cluster)  # a new job has one run
        if submission is None:
            return RunRef(name, cluster, None, sent_at_ms), None
        return bind_run(submission, name, cluster, sent_at_ms), submission

    def lineage_job(self, job_name: str, cluster_id: str) -> dict[str, Any]:
        """The definition this task sent (CDM may delete the job once it ran), variables applied."""
        return _with_run_variables(_definition(self.job), self.variables)

    def _attach_to_active_run(
        self, definition: Mapping[str, Any], candidates: list[str]
    ) -> tuple[RunRef, Submission] | None:
        """After "job exists": the active run of this very job, e.g. left by a try that crashed.

        Only an active run is adopted (as ``if_running="wait"`` does): a finished one may be an
        earlier DAG run's, whose result is not this task's.
        """
        name = str(definition["name"])
        cluster = self.hook.locate_job(definition, candidates)
        current = self.hook.get_job_status(name, cluster) if cluster else None
        if cluster is None or current is None or not current.is_active:
            return None
        self.log.info("CDM job %r exists in cluster %s with an active run: attaching to it", name, cluster)
        return bind_run(current, name, cluster), current

    def cluster_candidates(self) -> list[str]:
        return self._candidates()

    def _candidates(self) -> list[str]:
        if self.clusters is None:
            return [self.hook.resolve_cluster_id(None)]
        if isinstance(self.clusters, str) or not isinstance(self.clusters, Collection) or not self.clusters:
            raise CdmConfigError("clusters", f"got {self.clusters!r}", "a non-empty list of cluster ids, or None")
        return list(self.clusters)


class CdmStopJobOperator(_CdmJobOperator):
    """Stop a job's active run and wait until it has ended; a job that is not running is fine.

    Returns True if a run was stopped, False if none was active (or the job does not exist, with
    ``ignore_missing``).

    :param job_name: the job (templated).
    :param ignore_missing: a job that does not exist is fine (default False: the task fails).
    :param stop_timeout: seconds to wait for the run to end after the stop (default 300).
    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook`.
    """

    template_fields: Sequence[str] = ("job_name", "cluster_id")
    ui_color = "#f6e3c7"

    def __init__(
        self, *, job_name: str, ignore_missing: bool = False, stop_timeout: float = STOP_WAIT_S, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.ignore_missing = ignore_missing
        self.stop_timeout = check_seconds("stop_timeout", stop_timeout)

    def execute(self, context: Context) -> bool:
        job_name = check_job_name(self.job_name)
        cluster = self.hook.resolve_cluster_id(self.cluster_id)
        try:
            return stop_and_settle(self.hook, job_name, cluster, self.log, limit_s=self.stop_timeout)
        except CdmJobNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("CDM job %r does not exist in cluster %s: nothing to stop", job_name, cluster)
            return False


class CdmDeleteJobOperator(_CdmJobOperator):
    """Delete a job; a running job is stopped first (unless ``stop_if_running=False``).

    Returns True if the job was deleted, False if it did not exist (with ``ignore_missing``).

    :param job_name: the job (templated).
    :param stop_if_running: stop an active run and wait until it has ended, then delete (default True);
        if False, a running job fails the task.
    :param ignore_missing: a job that does not exist is fine (default False: the task fails).
    :param stop_timeout: seconds to wait for a stopped run to end (default 300).
    :param cluster_id: the cluster (templated); default: the connection's ``cluster_id`` extra.
    :param cdm_conn_id: the Airflow connection (type ``huaweicloud_cdm``).
    :param hook_params: extra keyword arguments of :class:`CdmHook`.
    """

    template_fields: Sequence[str] = ("job_name", "cluster_id")
    ui_color = "#f6c7c7"

    def __init__(
        self,
        *,
        job_name: str,
        stop_if_running: bool = True,
        ignore_missing: bool = False,
        stop_timeout: float = STOP_WAIT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_name = job_name
        self.stop_if_running = stop_if_running
        self.ignore_missing = ignore_missing
        self.stop_timeout = check_seconds("stop_timeout", stop_timeout)

    def execute(self, context: Context) -> bool:
        job_name = check_job_name(self.job_name)
        cluster = self.hook.resolve_cluster_id(self.cluster_id)
        try:
            self._delete(job_name, cluster)
        except CdmJobNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("CDM job %r does not exist in cluster %s: nothing to delete", job_name, cluster)
            return False
        return True

    def _delete(self, job_name: str, cluster: str) -> None:
        try:
            self.hook.delete_job(job_name, cluster)
        except CdmJobRunningError as err:
            if not self.stop_if_running:
                raise AirflowException(
                    f"CDM job {job_name!r} in cluster {cluster} is running; not stopped (stop_if_running=False): {err}"
                ) from err
            stop_and_settle(self.hook, job_name, cluster, self.log, limit_s=self.stop_timeout)
            self.hook.delete_job(job_name, cluster)
        self.log.info("Deleted CDM job %r from cluster %s", job_name, cluster)
