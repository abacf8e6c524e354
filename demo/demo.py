"""`make demo`: a CDM job's whole life through CdmHook, against a local CDM emulator.

Starts the emulator, points the `cdm_default` connection at it, then creates a job, starts it with
variables, waits for it to finish while printing its progress, and prints the result. No cloud
account, no network beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cdm-demo-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_cdm.job_definition import CdmJobDefinition  # noqa: E402  (no Airflow import)

JOB = CdmJobDefinition(
    name="demo_orders_to_obs",
    from_connector="generic-jdbc-connector",
    from_link="demo_postgres",
    from_config={"schemaName": "public", "tableName": "orders", "whereClause": "order_date = '${date}'"},
    to_connector="obs-connector",
    to_link="demo_obs",
    to_config={"bucketName": "warehouse", "outputDirectory": "/orders/${date}/", "outputFormat": "CSV_FILE"},
    driver_config={"throttlingConfig": {"numExtractors": 4}},
)


def main() -> int:
    from airflow_provider_cdm.emulator.testing import run_emulator
    from airflow_provider_cdm.hooks.cdm import CdmHook

    with run_emulator("--job-duration", "4") as emulator:
        os.environ.update(emulator.env)
        print(f"CDM emulator listening on {emulator.url} (project {emulator.project_id})")
        hook = CdmHook()
        clusters = hook.list_clusters()
        print("clusters: " + ", ".join(f"{c.name} ({c.id}, status {c.status.name if c.status else '?'})" for c in clusters))

        created = hook.create_job(JOB.to_api())
        print(f"created job {created.name!r} in cluster {emulator.cluster_id}")
        submission = hook.start_job(JOB.name, variables={"date": "2026-11-22"})
        print(f"started run {submission.submission_id} ({submission.status.value if submission.status else '?'})")

        started = time.monotonic()
        while True:
            current = hook.get_job_status(JOB.name)
            if current is not None:
                print(f"  {current.status.value if current.status else current.raw.get('status'):<10} {current.progress or 0:5.1f}%")
                if current.is_terminal:
                    break
            if time.monotonic() - started > 60:
                print("the job did not finish within 60 s", file=sys.stderr)
                return 1
            time.sleep(0.5)

        print("result:")
        print(json.dumps(current.to_json(), indent=2, sort_keys=True))
        hook.delete_job(JOB.name)
        print(f"deleted job {JOB.name!r}; requests made: {json.dumps(emulator.stats()['requests'], sort_keys=True)}")
        hook.close()
        return 0 if current.is_success else 1


if __name__ == "__main__":
    sys.exit(main())
