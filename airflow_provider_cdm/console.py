"""The "CDM Console" extra link: from a start task to its job in the Huawei Cloud console.

The URL is built when the task runs (the connection, its region and the console's address are known
there, not in the web server) and pushed to XCom under :data:`XCOM_KEY`, which is also the link's
``xcom_key``: Airflow 3's API server reads that XCom directly, Airflow 2's web server calls
:meth:`CdmConsoleLink.get_link`. So the link works while the task is deferred and after it ended.
It holds the console address, region, cluster id and job name only: nothing secret.

Huawei Cloud consoles address a service as ``{console}/{service}/?region={region}#{route}``; the
route after ``#`` is the console's client-side one, which Huawei does not document. The default
(:data:`DEFAULT_JOB_URL_TEMPLATE`) names the cluster and job; ``[cdm] console_job_url_template``
replaces it. The console's base address: the connection's ``console_url`` extra, else
``[cdm] console_url``, else :data:`DEFAULT_CONSOLE_URL`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom, conf

from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.settings import http_base_url

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

    from airflow_provider_cdm.client.settings import CdmSettings

log = logging.getLogger(__name__)

DEFAULT_CONSOLE_URL = "https://console.huaweicloud.com"
DEFAULT_JOB_URL_TEMPLATE = "{console_url}/cdm/?region={region}#/cdm/clusters/{cluster_id}/jobs?jobName={job_name}"
CONFIG_SECTION = "cdm"
XCOM_KEY = "cdm_console_url"
PLACEHOLDERS = ("console_url", "region", "project_id", "cluster_id", "job_name")


class ConsoleUrlError(ValueError):
    """A console address or template that cannot give a link."""


def base_url(value: str, setting: str) -> str:
    """An http(s) base URL without credentials, query or fragment, and without a trailing slash."""
    try:
        return http_base_url(setting, value, DEFAULT_CONSOLE_URL)
    except CdmConfigError as err:
        raise ConsoleUrlError(str(err)) from None


def console_job_url(
    *,
    region: str,
    cluster_id: str,
    job_name: str,
    project_id: str = "",
    console_url: str = DEFAULT_CONSOLE_URL,
    template: str = DEFAULT_JOB_URL_TEMPLATE,
) -> str:
    """The console URL of a job; every value but the console's address is percent-encoded."""
    values = {"region": region, "project_id": project_id, "cluster_id": cluster_id, "job_name": job_name}
    encoded = {key: quote(value, safe="") for key, value in values.items()}
    base = base_url(console_url, "console_url")
    try:
        return template.format(console_url=base, **encoded)
    except (KeyError, IndexError, ValueError) as err:
        raise ConsoleUrlError(
            f"console_job_url_template {template!r} does not format ({err!r}); it may use {', '.join(PLACEHOLDERS)}"
        ) from None


def configured(key: str) -> str | None:
    """``[cdm] <key>`` from Airflow's configuration (``AIRFLOW__CDM__<KEY>``); None when unset or blank."""
    value = conf.get(CONFIG_SECTION, key, fallback=None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def job_url_for(settings: CdmSettings, cluster_id: str, job_name: str) -> str | None:
    """The job's console URL for a hook's settings; None when they name no region (an endpoint override)."""
    if not settings.region:
        return None
    return console_job_url(
        region=settings.region,
        project_id=settings.project_id,
        cluster_id=cluster_id,
        job_name=job_name,
        console_url=settings.console_url or configured("console_url") or DEFAULT_CONSOLE_URL,
        template=configured("console_job_url_template") or DEFAULT_JOB_URL_TEMPLATE,
    )


# Set on the task's operator: the URL it pushed ("" for none), so that its link needs no XCom read.
KNOWN_URL_ATTRIBUTE = "_cdm_console_url"


def persist(context: Mapping[str, Any], settings: CdmSettings, cluster_id: str, job_name: str) -> str | None:
    """Push the job's console URL for the task's link; a link that cannot be built is logged, never raised."""
    url: str | None = None
    try:
        url = job_url_for(settings, cluster_id, job_name)
    except Exception as err:  # a bad console setting or template costs the link, never the task
        log.warning("No CDM console link for this task: %s", err)
    else:
        if url is None:
            log.info("No CDM console link for this task: the connection names no region")
    operator = context.get("task")
    if operator is not None:
        setattr(operator, KNOWN_URL_ATTRIBUTE, url or "")
    if url is not None:
        context["ti"].xcom_push(key=XCOM_KEY, value=url)
    return url


def no_link_yet(operator: BaseOperator) -> None:
    """Note that ``operator`` pushed no URL (yet): a task that fails before CDM knows its run has none."""
    setattr(operator, KNOWN_URL_ATTRIBUTE, "")


class CdmConsoleLink(BaseOperatorLink):
    """The job of the task's CDM run in the Huawei Cloud console."""

    name: ClassVar[str] = "CDM Console"
    xcom_key: ClassVar[str] = XCOM_KEY

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL this task pushed. The task's own operator (Airflow 3 asks it as the task ends) knows
        whether it pushed one: a task that failed before CDM knew its run has none, and asks no XCom
        (a missing XCom is an error line in the task's log)."""
        known = getattr(operator, KNOWN_URL_ATTRIBUTE, None)
        if isinstance(known, str):
            return known
        url = XCom.get_value(ti_key=ti_key, key=XCOM_KEY)
        return url if isinstance(url, str) else ""
