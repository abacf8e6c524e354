"""The DAG the README's plugin snippet tests: create a CDM job, then start it and wait (tests/plugin)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator, CdmStartJobOperator

ORDERS = CdmJobDefinition(
    name="orders_daily",
    from_connector="generic-jdbc-connector",
    from_link="pg_sales",
    from_config={"schemaName": "public", "tableName": "orders"},
    to_connector="obs-connector",
    to_link="obs_lake",
    to_config={"bucketName": "sales-lake", "outputDirectory": "/orders/", "outputFormat": "CSV_FILE"},
)

with DAG(
    dag_id="orders_daily",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0, "poll_interval": 0.2},
):
    create_job = CdmCreateJobOperator(task_id="create_job", job=ORDERS, if_exists="replace")
    create_job >> CdmStartJobOperator(task_id="copy_orders", job_name=ORDERS.name)
