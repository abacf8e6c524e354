"""A nightly window: start the CDM cluster, copy the tables, and stop the cluster again, whatever happened.

A CDM cluster is billed while it runs; this one runs only for the night's copies. ``start_cluster``
(:class:`CdmStartClusterOperator`) starts it and waits until it is Normal (200): a cluster that is up
already costs one read and no start, one that is starting already is only waited for, and a failed or
frozen one fails the task in plain words. ``create_jobs`` and ``migrate`` create (or update) and run one
job per table, mapped, as in ``example_cdm_parallel_tables``.

``stop_cluster`` (:class:`CdmStopClusterOperator`) is the window's teardown, with ``start_cluster`` as its
setup: it runs once the copies are done, whether they succeeded, failed or were skipped, and its own
success never hides a failed copy, because Airflow leaves teardowns out when it decides a DAG run's
state: the run is failed when any table failed, and the cluster is stopped all the same. Its trigger rule
is ``all_done`` rather than a teardown's usual "a setup succeeded", so the cluster is stopped even when
the start timed out (a cluster still starting would come up later and run, billed, all night).
``GRACEFULLY`` lets CDM finish runs still under way for up to ten minutes before it stops.

Every wait is deferrable when ``CDM_EXAMPLE_DEFERRABLE=true`` (no worker slot held while the cluster
starts or a copy runs); the tests run it both ways. The cluster is the connection's ``cluster_id`` extra.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG, TriggerRule

from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator, CdmStartJobOperator
from airflow_provider_cdm.operators.cluster import CdmStartClusterOperator, CdmStopClusterOperator

POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "30"))
DEFERRABLE = os.environ.get("CDM_EXAMPLE_DEFERRABLE", "false").strip().lower() == "true"
TABLES = ["orders", "customers", "payments"]


def nightly_job(table: str) -> CdmJobDefinition:
    """The job that copies one table of the sales database to the lake, one directory per night."""
    return CdmJobDefinition(
        name=f"nightly_{table}_to_obs",
        from_connector="generic-jdbc-connector",
        from_link="pg_sales",
        from_config={"schemaName": "public", "tableName": table},
        to_connector="obs-connector",
        to_link="obs_lake",
        to_config={"bucketName": "sales-lake", "outputDirectory": f"/{table}/${{date}}/", "outputFormat": "CSV_FILE"},
    )


with DAG(
    dag_id="example_cdm_nightly_window",
    description="Start the CDM cluster, copy the tables, stop the cluster (always); the run fails if a copy did",
    schedule="0 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one window at a time: a second run's teardown would stop the cluster under the first's copies
    default_args={"retries": 0, "poll_interval": POLL_INTERVAL, "deferrable": DEFERRABLE},
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    # [START howto_operator_cdm_start_cluster]
    start_cluster = CdmStartClusterOperator(task_id="start_cluster", timeout=30 * 60)
    # [END howto_operator_cdm_start_cluster]

    # [START howto_operator_cdm_nightly_copies]
    create_jobs = CdmCreateJobOperator.partial(task_id="create_jobs", if_exists="update").expand(
        job=[nightly_job(table).to_api() for table in TABLES]
    )
    migrate = CdmStartJobOperator.partial(task_id="migrate", variables={"date": "{{ ds }}"}, timeout=2 * 3600).expand(
        job_name=create_jobs.output
    )
    start_cluster >> create_jobs
    # [END howto_operator_cdm_nightly_copies]

    # [START howto_operator_cdm_stop_cluster_teardown]
    stop_cluster = CdmStopClusterOperator(task_id="stop_cluster", stop_mode="GRACEFULLY", delay_time=600)
    migrate >> stop_cluster.as_teardown(setups=start_cluster)
    stop_cluster.trigger_rule = TriggerRule.ALL_DONE  # stop even when the start failed or timed out
    # [END howto_operator_cdm_stop_cluster_teardown]
