"""Run a DAG for the successful runs of a CDM job that CDM itself scheduled (Airflow 3).

``orders_nightly`` is a CDM job on CDM's own schedule (``schedulerConfig``): Airflow does not start it.
The asset ``cdm_orders_nightly`` is watched by a :class:`CdmJobRunEventTrigger` in the triggerer,
which reports each run of the job that ends ``SUCCEEDED`` as one asset event, with the run's figures
(rows and bytes read and written, duration). This DAG is scheduled on the asset. Airflow's scheduler
makes one DAG run of the asset events queued since the DAG's last run, so runs that end close together
may come as one DAG run with several triggering events. ``check_volume`` reads the figures of every
triggering asset event, and ``build_report`` starts the follow-up CDM job ``orders_report``; its outlet
``cdm_orders_report`` gets an asset event whose extra carries that run's figures, for the DAGs
scheduled on the report.

Runs that ended before the watcher first ran are not reported. Asset watchers are Airflow 3's: on
Airflow 2 this file defines no DAG.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

# Seconds between two looks at CDM's job list (one request per 100 jobs); the tests look faster.
POLL_INTERVAL = float(os.environ.get("CDM_EXAMPLE_POLL_INTERVAL", "60"))

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import DAG, Asset, AssetWatcher, task
    from airflow.sdk.exceptions import AirflowSkipException

    from airflow_provider_cdm.operators.cdm import CdmStartJobOperator
    from airflow_provider_cdm.triggers.events import CdmJobRunEventTrigger

    # [START howto_trigger_cdm_job_run_events]
    orders_loaded = Asset(
        name="cdm_orders_nightly",
        uri="cdm://orders_nightly",
        watchers=[
            AssetWatcher(
                name="orders_nightly_runs",
                trigger=CdmJobRunEventTrigger(job_names=["orders_nightly"], poll_interval=POLL_INTERVAL),
            )
        ],
    )
    # [END howto_trigger_cdm_job_run_events]

    with DAG(
        dag_id="example_cdm_asset_watch",
        description="DAG runs for the successful runs of a CDM-scheduled job, with the runs' figures",
        schedule=[orders_loaded],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["example", "cdm"],
        doc_md=__doc__,
    ):
        # [START howto_asset_event_cdm_figures]
        @task
        def check_volume(*, triggering_asset_events: Any = None) -> dict[str, Any]:
            """The CDM runs that triggered this DAG run (one, or several that ended close together):
            each asset event's payload holds a run's figures. Returns the newest run's."""
            runs: list[dict[str, Any]] = [event.extra["payload"] for event in triggering_asset_events[orders_loaded]]
            if not runs:  # a run started by hand (or by dag.test()): no CDM run to check or follow up
                raise AirflowSkipException("no CDM run triggered this DAG run: nothing to check")
            for figures in runs:
                if figures.get("rows_written") == 0:  # None: CDM reported no count, nothing to check
                    raise ValueError(f"CDM run {figures['submission_id']} of {figures['job_name']} wrote no rows")
            return runs[-1]

        # [END howto_asset_event_cdm_figures]

        # [START howto_operator_cdm_outlet_figures]
        build_report = CdmStartJobOperator(
            task_id="build_report",
            job_name="orders_report",
            variables={"source_run": "{{ ti.xcom_pull(task_ids='check_volume')['submission_id'] }}"},
            poll_interval=POLL_INTERVAL,
            outlets=[Asset(name="cdm_orders_report", uri="cdm://orders_report")],
        )
        # [END howto_operator_cdm_outlet_figures]

        check_volume() >> build_report
