"""What a failed CDM run looks like: the task fails, and its log and exception carry CDM's error.

The job reads a table that does not exist, so CDM ends the run with status ``FAILED``.
``migrate_archive`` fails with a :class:`CdmJobFailedError` whose message (also in the task log)
holds CDM's status, error summary and error details; ``notify_owner``, the task's failure callback,
shows where an alert would pick them up. ``retries=0``: a run that failed on bad input fails again.

On the local emulator, script the failure first (the emulator copies whatever it is given)::

    curl -X POST "$EMULATOR/_emulator/jobs/orders_archive_to_obs/script" \\
         -d '{"outcome": "FAILED", "error_summary": "Table public.orders_archive does not exist"}'
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator, CdmJobFailedError, CdmStartJobOperator

POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "30"))

ARCHIVE_TO_OBS = CdmJobDefinition(
    name="orders_archive_to_obs",
    from_connector="generic-jdbc-connector",
    from_link="pg_sales",
    from_config={"schemaName": "public", "tableName": "orders_archive"},
    to_connector="obs-connector",
    to_link="obs_lake",
    to_config={"bucketName": "sales-lake", "outputDirectory": "/orders_archive/", "outputFormat": "CSV_FILE"},
)


# [START howto_cdm_job_failed_error]
def notify_owner(context: Any) -> None:
    """Failure callback: CDM's error, ready for a chat message or a ticket."""
    error = context.get("exception")
    if isinstance(error, CdmJobFailedError) and error.submission:
        print(
            f"CDM run {error.run.submission_id} of {error.run.job_name} failed: {error.submission.get('error_summary')}"
        )
    else:
        print(f"Task {context['ti'].task_id} failed: {error}")


# [END howto_cdm_job_failed_error]


with DAG(
    dag_id="example_cdm_failing_job",
    description="A CDM run that fails: the task fails with CDM's error summary",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0, "poll_interval": POLL_INTERVAL},
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    create_job = CdmCreateJobOperator(task_id="create_job", job=ARCHIVE_TO_OBS, if_exists="replace")
    # [START howto_operator_cdm_start_job_failure]
    migrate_archive = CdmStartJobOperator(
        task_id="migrate_archive", job_name=ARCHIVE_TO_OBS.name, on_failure_callback=notify_owner
    )
    # [END howto_operator_cdm_start_job_failure]
    create_job >> migrate_archive
