"""The deployment test's DAG, copied by the harness into a temporary DAGs folder beside its spec (JSON).

Four groups of CDM jobs, each job created by a mapped ``CdmCreateJobOperator`` and run once:
``deferred`` (mapped ``CdmStartJobOperator(deferrable=True)``: waits in the triggerer), ``polling``
(mapped, non-deferrable: polls in the worker), and ``poke`` / ``reschedule`` (a non-waiting start,
then a ``CdmJobStatusSensor`` in that mode bound to the run the start returned). The spec (written
by ``tests/deployment/harness.py``) names the jobs and sets the poll interval; which runs fail is
scripted in the emulator, not here.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_cdm.job_definition import CdmJobDefinition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator, CdmStartJobOperator
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor

SPEC: dict[str, Any] = json.loads(Path(__file__).with_suffix(".json").read_text())
POLL_S: float = SPEC["poll_interval_s"]
TIMEOUT_S: float = SPEC["task_timeout_s"]


def definition(name: str) -> dict[str, Any]:
    """A small JDBC-to-OBS job (the raw Job object)."""
    return CdmJobDefinition(
        name=name,
        from_connector="generic-jdbc-connector",
        from_link="pg",
        from_config={"schemaName": "public", "tableName": name},
        to_connector="obs-connector",
        to_link="obs",
        to_config={"bucketName": "warehouse", "outputDirectory": f"/{name}/"},
    ).to_api()


with DAG(
    dag_id=SPEC["dag_id"],
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=SPEC["parallelism"],
    default_args={"retries": 0},
):
    for group, deferrable in (("deferred", True), ("polling", False)):
        if SPEC["jobs"][group]:
            created = CdmCreateJobOperator.partial(task_id=f"create_{group}", if_exists="fail").expand(
                job=[definition(name) for name in SPEC["jobs"][group]]
            )
            CdmStartJobOperator.partial(
                task_id=group, deferrable=deferrable, poll_interval=POLL_S, timeout=TIMEOUT_S
            ).expand(job_name=created.output)

    for mode in ("poke", "reschedule"):
        names = SPEC["jobs"][mode]
        if not names:
            continue
        created = CdmCreateJobOperator.partial(task_id=f"create_{mode}", if_exists="fail").expand(
            job=[definition(name) for name in names]
        )
        for index, name in enumerate(names):
            start = CdmStartJobOperator(
                task_id=f"start_{mode}_{index}", job_name=name, wait_for_completion=False, deferrable=False
            )
            sensor = CdmJobStatusSensor(
                task_id=f"{mode}_{index}",
                job_name=name,
                submission_id=f"{{{{ ti.xcom_pull(task_ids='start_{mode}_{index}', key='submission_id') }}}}",
                mode=mode,
                poke_interval=POLL_S if mode == "poke" else SPEC["reschedule_interval_s"],
                timeout=TIMEOUT_S,
                deferrable=False,
            )
            created >> start >> sensor
