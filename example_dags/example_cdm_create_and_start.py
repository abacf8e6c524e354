"""Create a CDM job from the typed builder, run it for the day, report what it moved.

``create_job`` (re)creates the job ``orders_to_obs`` from a :class:`CdmJobDefinition` (no nested
``configs``/``inputs`` lists to write by hand); ``if_exists="replace"`` keeps the definition in CDM
equal to the one in this file. ``migrate_orders`` starts it with the day as the ``${date}`` variable
and waits in the triggerer (``deferrable=True``), so no worker slot is held while CDM copies. A task
retried after a worker crash attaches to the run already under way instead of starting a second one.
``report`` reads the result the start operator returned (XCom) and logs the run's counters.

Needs a connection ``cdm_default`` of type ``huaweicloud_cdm`` with a ``cluster_id`` extra, or the
local emulator: ``make emulator`` prints an ``AIRFLOW_CONN_CDM_DEFAULT=...`` line to export.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

# [START howto_cdm_job_definition]
from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator, CdmStartJobOperator

ORDERS_TO_OBS = CdmJobDefinition(
    name="orders_to_obs",
    from_connector="generic-jdbc-connector",
    from_link="pg_sales",
    from_config={"schemaName": "public", "tableName": "orders", "whereClause": "order_date = '${date}'"},
    to_connector="obs-connector",
    to_link="obs_lake",
    to_config={"bucketName": "sales-lake", "outputDirectory": "/orders/${date}/", "outputFormat": "CSV_FILE"},
    driver_config={"throttlingConfig": {"numExtractors": 4, "numLoaders": 2}},
)
# [END howto_cdm_job_definition]

# Seconds between status reads: each is one request, and CDM allows 120 a minute per user.
# The demo and the tests poll the local emulator faster through this variable.
POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "30"))

with DAG(
    dag_id="example_cdm_create_and_start",
    description="Create a CDM job from the builder, run it deferrably for the day, report its counters",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5), "poll_interval": POLL_INTERVAL},
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    # [START howto_operator_cdm_create_job]
    create_job = CdmCreateJobOperator(task_id="create_job", job=ORDERS_TO_OBS, if_exists="replace")
    # [END howto_operator_cdm_create_job]

    # [START howto_operator_cdm_start_job_deferrable]
    migrate_orders = CdmStartJobOperator(
        task_id="migrate_orders",
        job_name=ORDERS_TO_OBS.name,
        variables={"date": "{{ ds }}"},
        deferrable=True,
        timeout=2 * 3600,  # then the CDM run is stopped and the task fails
    )
    create_job >> migrate_orders
    # [END howto_operator_cdm_start_job_deferrable]

    # [START howto_operator_cdm_start_job_result]
    @task
    def report(result: dict[str, Any]) -> dict[str, Any]:
        """Log what the run moved; the return value is what a downstream check would read."""
        print(
            f"CDM job {result['job_name']} run {result['submission_id']} in cluster {result['cluster_id']}: "
            f"{result['status']}, {result['rows_read']} rows read, {result['rows_written']} rows written, "
            f"{result['bytes_written']} bytes written, from {result['started_at']} to {result['ended_at']}"
        )
        for name, value in sorted(result["counters"].items()):
            print(f"  {name:<22} {value}")
        return {"rows_written": result["rows_written"], "bytes_written": result["bytes_written"]}

    report(migrate_orders.output)
    # [END howto_operator_cdm_start_job_result]
