"""Stop and delete CDM jobs that are no longer needed, e.g. the per-table jobs of a finished migration.

``stop_job`` stops each job's active run (a job that is not running is fine) and waits until it has
ended; ``delete_job`` then deletes each job. ``ignore_missing=True`` on both: a job deleted already
is fine, so the DAG can be re-run. The jobs come from the ``job_names`` param: trigger with
``{"job_names": ["..."]}`` to clean up others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_cdm.operators.cdm import CdmDeleteJobOperator, CdmStopJobOperator

with DAG(
    dag_id="example_cdm_cleanup",
    description="Stop and delete CDM jobs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"job_names": ["sales_orders_to_obs", "sales_customers_to_obs", "sales_payments_to_obs"]},
    tags=["example", "cdm"],
    doc_md=__doc__,
):

    @task
    def jobs_to_remove(**context: Any) -> list[str]:
        return list(context["params"]["job_names"])

    job_names = jobs_to_remove()
    # [START howto_operator_cdm_stop_and_delete]
    stop_job = CdmStopJobOperator.partial(task_id="stop_job", ignore_missing=True).expand(job_name=job_names)
    delete_job = CdmDeleteJobOperator.partial(task_id="delete_job", ignore_missing=True).expand(job_name=job_names)
    stop_job >> delete_job
    # [END howto_operator_cdm_stop_and_delete]
