"""OpenLineage for the start operators: what the CDM run a task finished read and wrote.

Airflow's OpenLineage listener calls ``get_openlineage_facets_on_complete`` after the task; without
``apache-airflow-providers-openlineage`` nothing calls it, and a direct call returns None. OpenLineage
is imported inside the method only, so DAG parsing never loads it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError
from airflow_provider_cdm.client.retry import RetryPolicy

if TYPE_CHECKING:  # the naming and link modules load when lineage is asked for, not at DAG parse
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_cdm.client.links import Link
    from airflow_provider_cdm.hooks.cdm import CdmHook
    from airflow_provider_cdm.lineage.naming import DatasetName, Side

log = logging.getLogger(__name__)

# Each lineage read: two attempts within 6 s, 2 s to connect and 3 s to answer.
LINEAGE_RETRY = RetryPolicy(
    max_attempts=2, max_elapsed_s=6.0, throttled_s=6.0, initial_backoff_s=0.5, max_backoff_s=1.0
)
LINEAGE_TIMEOUT_S = (2.0, 3.0)

RESULT_KEY = "return_value"


class CdmLineageMixin:
    """``get_openlineage_facets_on_complete`` for an operator that returns a run result (``run_result``).

    The operator provides ``cdm_conn_id``, ``hook_params``, ``run_result`` (the result it returned, None
    until then) and :meth:`lineage_job`, the job definition as the run used it (config values decoded,
    variables applied). Lineage reads CDM through :attr:`lineage_hook`: a short budget, since
    OpenLineage's listener gives each task a few seconds and the reads share CDM's per-user quotas with
    the triggerer's pollers.
    """

    cdm_conn_id: str
    hook_params: dict[str, Any]
    run_result: dict[str, Any] | None

    @cached_property
    def lineage_hook(self) -> CdmHook:
        from airflow_provider_cdm.hooks.cdm import CdmHook

        return CdmHook(
            self.cdm_conn_id, **{**self.hook_params, "retry_policy": LINEAGE_RETRY, "timeout": LINEAGE_TIMEOUT_S}
        )

    def lineage_job(self, job_name: str, cluster_id: str) -> Mapping[str, Any]:
        raise NotImplementedError

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any] | None:
        """Input and output datasets of the run, with its read and written counters; None without the
        OpenLineage provider or when the run or its job cannot be read."""
        try:
            from airflow_provider_cdm.lineage.facets import operator_lineage
        except ImportError:
            return None
        from airflow_provider_cdm.lineage.naming import DESTINATION, SOURCE, datasets, job_side, statistics

        result = self.run_result if self.run_result is not None else _pulled_result(task_instance)
        if result is None:
            log.info("No OpenLineage facets: this task has no CDM run result")
            return None
        job_name, cluster_id = str(result["job_name"]), str(result["cluster_id"])
        try:
            definition = self.lineage_job(job_name, cluster_id)
        except (CdmApiError, CdmConfigError) as err:
            log.warning("No OpenLineage facets: CDM job %r in cluster %s is unreadable: %s", job_name, cluster_id, err)
            return None
        links: dict[str, Link | None] = {}
        named: dict[str, list[DatasetName]] = {}
        for which in (SOURCE, DESTINATION):
            side = job_side(definition, which)
            named[which] = datasets(side, which, self._link(side, cluster_id, links), cluster_id)
        read, written = statistics(result.get("counters") or {})
        return operator_lineage(named[SOURCE], named[DESTINATION], read=read, written=written, run=result)

    def _link(self, side: Side, cluster_id: str, cache: dict[str, Link | None]) -> Link | None:
        """The side's link (read once per name), when its namespace needs it; None when it cannot be read."""
        from airflow_provider_cdm.lineage.naming import needs_link

        if not needs_link(side) or not side.link_name:
            return None
        if side.link_name not in cache:
            try:
                cache[side.link_name] = self.lineage_hook.get_link(side.link_name, cluster_id)
            except (CdmApiError, CdmConfigError) as err:
                log.warning("CDM link %r unreadable, its datasets are named by the link: %s", side.link_name, err)
                cache[side.link_name] = None
        return cache[side.link_name]


def _pulled_result(task_instance: Any) -> dict[str, Any] | None:
    """The run result the task pushed, for an operator object that did not run it itself."""
    try:
        value = task_instance.xcom_pull(
            task_ids=task_instance.task_id, key=RESULT_KEY, map_indexes=task_instance.map_index
        )
    except Exception as err:  # no lineage is better than a failing listener
        log.info("No CDM run result in XCom: %s", err)
        return None
    if isinstance(value, Mapping) and value.get("job_name") and value.get("cluster_id"):
        return dict(value)
    return None
