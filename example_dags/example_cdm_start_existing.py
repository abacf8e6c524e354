"""Start an existing CDM job with variables, then watch it with a sensor that frees its worker slot.

``start_job`` starts the job named by the ``job_name`` param (created in CDM beforehand, e.g. in the
console) with the day as its ``${date}`` variable and returns at once (``wait_for_completion=False``),
pushing the run's ``submission_id`` to XCom. ``wait_for_job`` is a :class:`CdmJobStatusSensor` in
``reschedule`` mode bound to that very run: between checks it gives its worker slot back, and it fails
at once, with CDM's error summary, if the run fails. Useful when the copy takes hours and the
triggerer is not available.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_cdm.operators.cdm import CdmStartJobOperator
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor

# Seconds between status checks (one request each); the demo and the tests check the emulator faster.
POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "60"))

with DAG(
    dag_id="example_cdm_start_existing",
    description="Start an existing CDM job with variables, then wait for it with a rescheduling sensor",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"job_name": "orders_daily"},
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    # [START howto_operator_cdm_start_job_no_wait]
    start_job = CdmStartJobOperator(
        task_id="start_job",
        job_name="{{ params.job_name }}",
        variables={"date": "{{ ds }}", "full_load": False},
        wait_for_completion=False,
    )
    # [END howto_operator_cdm_start_job_no_wait]

    # [START howto_sensor_cdm_job_status]
    wait_for_job = CdmJobStatusSensor(
        task_id="wait_for_job",
        job_name="{{ params.job_name }}",
        submission_id="{{ ti.xcom_pull(task_ids='start_job', key='submission_id') }}",
        mode="reschedule",
        poke_interval=POLL_INTERVAL,
        timeout=6 * 3600,
    )
    # [END howto_sensor_cdm_job_status]

    start_job >> wait_for_job
