"""Migrate several tables in parallel: one CDM job per table, created and run with dynamic task mapping.

``create_jobs`` maps :class:`CdmCreateJobOperator` over one job definition per table (built with
:class:`CdmJobDefinition`; ``if_exists="update"`` keeps each job's definition in CDM equal to this
file's) and returns each job's name; ``migrate`` maps :class:`CdmStartJobOperator`
over those names, so each table is one task instance that can be retried on its own. ``summarize``
adds up what the runs moved. ``max_active_tis_per_dag`` keeps the number of concurrent CDM runs (and
status polls: CDM allows 120 status reads a minute per user) in check.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator, CdmStartJobOperator

POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "30"))
TABLES = ["orders", "customers", "payments"]


def table_job(table: str) -> CdmJobDefinition:
    """The job that copies one table of the sales database to the lake, one directory per day."""
    return CdmJobDefinition(
        name=f"sales_{table}_to_obs",
        from_connector="generic-jdbc-connector",
        from_link="pg_sales",
        from_config={"schemaName": "public", "tableName": table},
        to_connector="obs-connector",
        to_link="obs_lake",
        to_config={"bucketName": "sales-lake", "outputDirectory": f"/{table}/${{date}}/", "outputFormat": "CSV_FILE"},
        driver_config={"throttlingConfig": {"numExtractors": 2}},
    )


with DAG(
    dag_id="example_cdm_parallel_tables",
    description="One CDM job per table, created and run in parallel with dynamic task mapping",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    # [START howto_operator_cdm_mapped]
    create_jobs = CdmCreateJobOperator.partial(task_id="create_jobs", if_exists="update").expand(
        job=[table_job(table).to_api() for table in TABLES]
    )

    migrate = CdmStartJobOperator.partial(
        task_id="migrate",
        variables={"date": "{{ ds }}"},
        poll_interval=POLL_INTERVAL,
        max_active_tis_per_dag=8,
    ).expand(job_name=create_jobs.output)
    # [END howto_operator_cdm_mapped]

    @task
    def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
        results = results[:]  # one read of every mapped result (iterating would ask for one past the end)
        for result in results:
            print(f"{result['job_name']}: {result['status']}, {result['rows_written']} rows written")
        return {
            "tables": len(results),
            "rows_written": sum(result["rows_written"] or 0 for result in results),
            "bytes_written": sum(result["bytes_written"] or 0 for result in results),
        }

    summarize(migrate.output)
