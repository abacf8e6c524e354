"""A one-off copy with CDM's create-and-execute: no job kept in CDM, run in whichever cluster is up.

``running_clusters`` reads the project's clusters with :class:`CdmHook` and keeps those that can run
jobs. ``copy_snapshot`` (:class:`CdmCreateAndStartJobOperator`) sends the job definition and those
candidate clusters in one call: CDM creates the job in one of them and starts it; the operator finds
the cluster that took the job and waits for the run as the start operator does, returning the same
result plus that cluster's id. Create-and-execute carries no variables, so the operator fills the
definition's ``${date}`` placeholders before sending it. ``drop_job`` then deletes the job from the
cluster named in the copy's result.

If the copy fails, the job stays in CDM for inspection (``drop_job`` does not run): delete it before
the next run, or CDM refuses the name (``Cdm.0104``).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateAndStartJobOperator, CdmDeleteJobOperator

POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "30"))

ORDERS_SNAPSHOT = CdmJobDefinition(
    name="orders_snapshot_to_obs",
    from_connector="generic-jdbc-connector",
    from_link="pg_sales",
    from_config={"schemaName": "public", "tableName": "orders"},
    to_connector="obs-connector",
    to_link="obs_lake",
    to_config={"bucketName": "sales-lake", "outputDirectory": "/snapshots/orders/${date}/", "outputFormat": "CSV_FILE"},
)

with DAG(
    dag_id="example_cdm_one_off_copy",
    description="A one-off CDM copy with create-and-execute in a running cluster, then the job is deleted",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0, "poll_interval": POLL_INTERVAL},
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    # [START howto_hook_cdm_running_clusters]
    @task
    def running_clusters() -> list[str]:
        """The ids of the project's clusters that can run jobs now (status 200, normal)."""
        hook = CdmHook()  # cdm_conn_id="cdm_default"
        return [cluster.id for cluster in hook.list_clusters() if cluster.status and cluster.status.can_run_jobs]

    # [END howto_hook_cdm_running_clusters]

    # [START howto_operator_cdm_create_and_start_job]
    copy_snapshot = CdmCreateAndStartJobOperator(
        task_id="copy_snapshot",
        job=ORDERS_SNAPSHOT,
        clusters=running_clusters(),
        variables={"date": "{{ ds }}"},
    )
    # [END howto_operator_cdm_create_and_start_job]

    # [START howto_operator_cdm_delete_job]
    drop_job = CdmDeleteJobOperator(
        task_id="drop_job",
        job_name=ORDERS_SNAPSHOT.name,
        cluster_id="{{ ti.xcom_pull(task_ids='copy_snapshot')['cluster_id'] }}",
    )
    copy_snapshot >> drop_job
    # [END howto_operator_cdm_delete_job]
