"""CdmHook: Huawei Cloud CDM (Cloud Data Migration) jobs and clusters from Airflow.

The hook reads the connection (lazily, on first use), masks its secrets, and sends typed request specs
through one transport (one keep-alive HTTP session) per hook. Protocol details live in
:mod:`airflow_provider_cdm.client`; importing this module stays cheap (no requests, no tenacity).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_cdm._compat import mask_secret, quiet_connection_scheme_warning
from airflow_provider_cdm.api.errors import ErrorKind
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmAuthError, CdmConfigError
from airflow_provider_cdm.client.links import Link
from airflow_provider_cdm.client.models import Cluster, CreateJobResult, Job, Page, Submission, ValidationMessage
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.settings import CdmSettings

if TYPE_CHECKING:
    from airflow_provider_cdm.client.transport import SyncTransport

T = TypeVar("T")


class CdmHook(BaseHook):
    """Talks to CDM with the credentials of an Airflow connection of type ``huaweicloud_cdm``.

    Keyword arguments override the connection's values (credentials come from the connection only).
    Every method that takes ``cluster_id`` falls back to the connection's ``cluster_id`` extra.
    """

    conn_name_attr = "cdm_conn_id"
    default_conn_name = "cdm_default"
    conn_type = "huaweicloud_cdm"
    hook_name = "Huawei Cloud CDM"

    @staticmethod
    def get_ui_field_behaviour() -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form (before Airflow 3.2)."""
        from airflow_provider_cdm.get_provider_info import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @staticmethod
    def get_connection_form_widgets() -> dict[str, Any]:
        """The provider info's ``conn-fields`` as WTForms fields (before Airflow 3.2); {} without WTForms."""
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget  # type: ignore[import-not-found,import-untyped,unused-ignore]
            from flask_babel import lazy_gettext  # type: ignore[import-not-found,import-untyped,unused-ignore]
            from wtforms import PasswordField, StringField  # type: ignore[import-not-found,import-untyped,unused-ignore]
            from wtforms.validators import AnyOf, Optional  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError:
            return {}
        from airflow_provider_cdm.get_provider_info import CONN_FIELDS

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema = spec["schema"]
            label, description = lazy_gettext(spec["label"]), spec["description"]
            if schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
                continue
            validators = [Optional(), AnyOf(schema["enum"])] if "enum" in schema else []
            widgets[name] = StringField(
                label,
                widget=BS3TextFieldWidget(),
                description=description,
                validators=validators,
                default=schema.get("default"),
            )
        return widgets

    def __init__(
        self,
        cdm_conn_id: str = default_conn_name,
        *,
        region: str | None = None,
        project_id: str | None = None,
        cluster_id: str | None = None,
        endpoint: str | None = None,
        auth_type: str | None = None,
        domain: str | None = None,
        iam_endpoint: str | None = None,
        verify: bool | str | None = None,
        timeout: float | tuple[float, float] | None = None,
        proxies: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.cdm_conn_id = cdm_conn_id
        self._overrides: dict[str, Any] = {
            "region": region,
            "project_id": project_id,
            "cluster_id": cluster_id,
            "endpoint": endpoint,
            "auth_type": auth_type,
            "domain": domain,
            "iam_endpoint": iam_endpoint,
            "verify": verify,
            "timeout": timeout,
            "proxies": proxies,
            "retry_policy": retry_policy,
        }

    @cached_property
    def settings(self) -> CdmSettings:
        """The checked settings, read from the connection on first use."""
        settings = CdmSettings.from_connection(self.get_connection(self.cdm_conn_id), **self._overrides)
        for secret in settings.secrets():
            mask_secret(secret)
        return settings

    @cached_property
    def transport(self) -> SyncTransport:
        """The HTTP transport, paced within this process's share of the quotas (``[cdm] worker_quota_share``)."""
        from airflow_provider_cdm.client.rate_limit import ROLE_WORKER, shared_limiter  # not at DAG-parse time
        from airflow_provider_cdm.client.transport import SyncTransport
        from airflow_provider_cdm.options import client_pacing, worker_quota_share

        limiter = shared_limiter(self.settings, worker_quota_share(), role=ROLE_WORKER) if client_pacing() else None
        return SyncTransport(self.settings, on_token=mask_secret, limiter=limiter)

    def close(self) -> None:
        """Close the HTTP session (a later call opens a new one)."""
        if "transport" in self.__dict__:
            self.transport.close()

    def resolve_cluster_id(self, cluster_id: str | None = None) -> str:
        """``cluster_id``, else the connection's ``cluster_id`` extra; CdmConfigError when neither is set."""
        chosen = cluster_id or self.settings.cluster_id
        if not chosen:
            raise CdmConfigError(
                "cluster_id",
                f"not given, and connection {self.cdm_conn_id!r} has no cluster_id extra",
                "a CDM cluster id",
            )
        return chosen

    # --- jobs ---------------------------------------------------------------------------------------

    def create_job(self, job: Mapping[str, Any], cluster_id: str | None = None) -> CreateJobResult:
        """Create one job (the Job object, or the ``{"jobs": [job]}`` body).

        Raises CdmValidationError when CDM's validation result has ERROR entries (nothing is created),
        CdmJobExistsError when a job of that name exists (unless an earlier attempt of this very call
        created it with this definition).
        """
        return self.transport.execute(ops.create_job(self.resolve_cluster_id(cluster_id), job))

    def create_and_start_job(
        self, job: Mapping[str, Any], clusters: Sequence[str] | None = None, *, language: str = ops.LANGUAGE
    ) -> tuple[str | None, list[Submission]]:
        """Create a job in one of ``clusters`` (CDM picks a running one) and start it at once.

        ``language`` is CDM's mandatory ``X-Language`` header (``en-us``, ``zh-cn``): the language of
        CDM's messages about this job.

        Returns the cluster that took the job and the runs CDM reported (possibly none, with the older
        answer shape). CDM's answer does not name the cluster: with several candidates the hook looks
        for the job in each (one show-job request per cluster tried); None if it is found nowhere.
        """
        candidates = clusters if clusters is not None else [self.resolve_cluster_id()]  # [] is refused, not defaulted
        call = ops.create_and_start_job(job, candidates, language=language)  # checks the job (once)
        definition = call.body["jobs"][0]
        cluster_id, runs = self.transport.execute(call)
        return (cluster_id or self.locate_job(definition, candidates)), runs

    def locate_job(self, definition: Mapping[str, Any], clusters: Sequence[str]) -> str | None:
        """The candidate cluster holding a job with this definition; None when none holds it.

        A lookup that fails otherwise than "no such job or cluster" (throttled after the retries, auth,
        a server error) raises: "found nowhere" must not be concluded from it while the job may run.
        """
        for cluster_id in clusters:
            try:
                job = self.get_job(definition["name"], cluster_id)
            except CdmApiError as err:
                if err.kind in (ErrorKind.JOB_NOT_FOUND, ErrorKind.NOT_FOUND):
                    continue
                raise
            if job.matches(definition):
                return cluster_id
        return None

    def start_job(
        self, job_name: str, cluster_id: str | None = None, variables: Mapping[str, Any] | None = None
    ) -> Submission:
        """Start a run; ``variables`` values may be strings, numbers or booleans.

        Raises CdmJobRunningError when a run is active already (unless this very call started it).
        """
        return self.transport.execute(ops.start_job(self.resolve_cluster_id(cluster_id), job_name, variables))

    def get_job_status(self, job_name: str, cluster_id: str | None = None) -> Submission | None:
        """The latest run, or None when no run is known yet (None never means success)."""
        return self.transport.execute(ops.job_status(self.resolve_cluster_id(cluster_id), job_name))

    def stop_job(self, job_name: str, cluster_id: str | None = None) -> list[ValidationMessage]:
        """Stop the active run: an empty list means stopped, entries say why not.

        Raises CdmJobNotRunningError when there is no active run.
        """
        return self.transport.execute(ops.stop_job(self.resolve_cluster_id(cluster_id), job_name))

    def delete_job(self, job_name: str, cluster_id: str | None = None) -> None:
        """Delete a job (CDM refuses with CdmJobRunningError while a run is active)."""
        self.transport.execute(ops.delete_job(self.resolve_cluster_id(cluster_id), job_name))

    def get_job(self, job_name: str, cluster_id: str | None = None) -> Job:
        return self.transport.execute(ops.show_job(self.resolve_cluster_id(cluster_id), job_name))

    def iter_jobs(
        self,
        cluster_id: str | None = None,
        *,
        name_filter: str | None = None,
        job_type: str = "NORMAL_JOB",
        page_size: int = 100,
    ) -> Iterator[Job]:
        """Every job of the cluster, page by page as they are consumed."""
        cluster = self.resolve_cluster_id(cluster_id)
        return self._walk(
            lambda page_no: ops.list_jobs(
                cluster, page_no=page_no, page_size=page_size, name_filter=name_filter, job_type=job_type
            ),
            page_size,
        )

    def list_jobs(
        self,
        cluster_id: str | None = None,
        *,
        name_filter: str | None = None,
        job_type: str = "NORMAL_JOB",
        page_size: int = 100,
    ) -> list[Job]:
        """Every job of the cluster (all pages)."""
        return list(self.iter_jobs(cluster_id, name_filter=name_filter, job_type=job_type, page_size=page_size))

    def update_job(self, job: Mapping[str, Any], cluster_id: str | None = None) -> list[ValidationMessage]:
        """Replace the definition of the job named in ``job``; returns CDM's warnings.

        Raises CdmValidationError on ERROR entries, CdmJobNotFoundError for a job that does not exist.
        """
        return self.transport.execute(ops.update_job(self.resolve_cluster_id(cluster_id), job))

    def list_submissions(self, job_name: str, cluster_id: str | None = None) -> list[Submission]:
        """The job's run history (all pages)."""
        cluster = self.resolve_cluster_id(cluster_id)
        return list(self._walk(lambda page_no: ops.list_submissions(cluster, job_name, page_no=page_no), 100))

    def _walk(self, page_call: Callable[[int], ops.CdmCall[Page[T]]], page_size: int) -> Iterator[T]:
        """Items of every page (stop rules in :class:`~airflow_provider_cdm.client.operations.PageWalk`)."""
        page_call(1)  # check the arguments now, not at the first next()
        return self.transport.iter_pages(page_call, page_size)

    # --- clusters -----------------------------------------------------------------------------------

    def list_clusters(self) -> list[Cluster]:
        return self.transport.execute(ops.list_clusters())

    def get_cluster(self, cluster_id: str | None = None) -> Cluster:
        """One cluster, with its status (``Cluster.status``; None for a code this provider does not know)."""
        return self.transport.execute(ops.show_cluster(self.resolve_cluster_id(cluster_id)))

    def start_cluster(self, cluster_id: str | None = None) -> list[str]:
        """Ask CDM to start a stopped cluster (it shows 920, then 200); returns CDM's ids of the action.

        Sent once, never repeated blindly; CDM refuses it (CdmApiError) for a cluster that is not stopped.
        Waiting, and telling "already running" apart from a refusal, is the cluster operators' job.
        """
        return self.transport.execute(ops.start_cluster(self.resolve_cluster_id(cluster_id)))

    def stop_cluster(
        self, cluster_id: str | None = None, *, stop_mode: str = "IMMEDIATELY", delay_time: int = -1
    ) -> list[str]:
        """Ask CDM to stop a running cluster (910, then 900): ``stop_mode`` IMMEDIATELY (active runs fail) or
        GRACEFULLY (waiting up to ``delay_time`` seconds for them; -1: as long as they take)."""
        call = ops.stop_cluster(self.resolve_cluster_id(cluster_id), stop_mode, delay_time)
        return self.transport.execute(call)

    def restart_cluster(
        self,
        cluster_id: str | None = None,
        *,
        restart_mode: str = "IMMEDIATELY",
        restart_level: str = "SERVICE",
        delay_time: int = 0,
    ) -> list[str]:
        """Ask CDM to restart a running cluster (500, then 200); ``restart_level`` SERVICE or VM."""
        call = ops.restart_cluster(self.resolve_cluster_id(cluster_id), restart_mode, restart_level, delay_time)
        return self.transport.execute(call)

    # --- Airflow UI ---------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """List the clusters; say what failed (settings, credentials, project, endpoint) if that fails."""
        try:
            settings = self.settings
            clusters = self.list_clusters()
        except CdmConfigError as err:
            return False, f"Invalid connection settings: {err}"
        except CdmAuthError as err:
            if err.http_status == 403:
                return False, f"Access to project {self.settings.project_id} denied (is project_id right?): {err}"
            return False, f"Authentication failed (check the {self.settings.auth_type} credentials): {err}"
        except CdmApiError as err:
            if err.http_status is None:
                return False, f"CDM endpoint {self.settings.endpoint} unreachable: {err}"
            return False, f"CDM refused the request: {err}"
        ids = {cluster.id for cluster in clusters}
        if settings.cluster_id and settings.cluster_id not in ids:
            return False, (
                f"Connected, but cluster {settings.cluster_id} is not one of the {len(ids)} cluster(s) "
                f"of project {settings.project_id}"
            )
        return True, f"Connected to CDM at {settings.endpoint}: {len(ids)} cluster(s) in project {settings.project_id}"

    # --- links --------------------------------------------------------------------------------------

    def get_link(self, link_name: str, cluster_id: str | None = None) -> Link:
        """A link's connector and non-secret configuration (its credentials are dropped on arrival).

        Raises CdmApiError of kind NOT_FOUND (Cdm.0101) for a link that does not exist.
        """
        return self.transport.execute(ops.show_link(self.resolve_cluster_id(cluster_id), link_name))


quiet_connection_scheme_warning(CdmHook.conn_type)
