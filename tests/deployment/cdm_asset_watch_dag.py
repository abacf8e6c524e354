"""The deployment test's asset-watch DAGs, copied by the harness into the DAGs folder beside its spec (JSON).

An asset watched by a ``CdmJobRunEventTrigger`` on one CDM job that CDM runs on its own schedule (the
emulator's ``fire_schedule``), and a downstream DAG scheduled on the asset: one DAG run per reported run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_cdm.triggers.events import CdmJobRunEventTrigger

SPEC: dict[str, Any] = json.loads(Path(__file__).with_suffix(".json").read_text())

watched = Asset(
    name=SPEC["asset"],
    uri=f"cdm://{SPEC['job']}",
    watchers=[
        AssetWatcher(
            name=f"{SPEC['job']}_runs",
            trigger=CdmJobRunEventTrigger(job_names=[SPEC["job"]], poll_interval=SPEC["poll_interval_s"]),
        )
    ],
)

with DAG(dag_id=SPEC["dag_id"], schedule=[watched], catchup=False, max_active_runs=16):

    @task
    def figures(*, triggering_asset_events: Any = None) -> list[Any]:
        return [event.extra.get("payload") for event in triggering_asset_events[watched]]

    figures()
