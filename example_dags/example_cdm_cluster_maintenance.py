"""Weekly maintenance of a CDM cluster: wait until it is up, restart its service, check it came back.

Some teams let CDM start and stop a cluster on its own schedule (the console's scheduled start and
stop) and restart the CDM service once a week, out of hours, to begin the week with a fresh one.
``wait_until_up`` (:class:`CdmClusterStatusSensor`, in ``reschedule`` mode so no worker slot is held)
waits until the cluster is Normal (200) and fails at once if it failed (300) or was never created (303).
``restart_service`` (:class:`CdmRestartClusterOperator`) restarts it (every run restarts: there is no
"restarted already"; runs under way fail, so keep it out of hours) and waits until it has been seen
restarting (500) and is Normal again. The result (XCom) holds the cluster's status, its label
and how long the restart took.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_cdm.operators.cluster import CdmRestartClusterOperator
from airflow_provider_cdm.sensors.cluster import CdmClusterStatusSensor

POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "60"))

with DAG(
    dag_id="example_cdm_cluster_maintenance",
    description="Wait until the CDM cluster is up, restart its service, wait until it is back",
    schedule="0 3 * * 0",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 0},
    tags=["example", "cdm"],
    doc_md=__doc__,
):
    # [START howto_sensor_cdm_cluster_status]
    wait_until_up = CdmClusterStatusSensor(
        task_id="wait_until_up",
        target_statuses=["NORMAL"],
        mode="reschedule",
        poke_interval=POLL_INTERVAL,
        timeout=2 * 3600,
    )
    # [END howto_sensor_cdm_cluster_status]

    # [START howto_operator_cdm_restart_cluster]
    restart_service = CdmRestartClusterOperator(
        task_id="restart_service",
        restart_level="SERVICE",
        poll_interval=POLL_INTERVAL,
        timeout=30 * 60,
    )
    wait_until_up >> restart_service
    # [END howto_operator_cdm_restart_cluster]
