"""`make demo`: the first example DAG, end to end, with `airflow dags test` against a local CDM emulator.

Starts the emulator, points `cdm_default` at it (the `AIRFLOW_CONN_CDM_DEFAULT` line it prints), makes
a throw-away Airflow home with `example_dags/` as its DAGs folder, runs `airflow db migrate`, then
`airflow dags test example_cdm_create_and_start`: it creates the CDM job `orders_to_obs`, starts it
for the day and waits for it in a trigger (run inline by `dags test`), then reports its counters.
Finally prints a summary: the task states, the job's final status and counters, and the requests the
emulator served. No cloud account, no network beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "example_cdm_create_and_start"
JOB_NAME = "orders_to_obs"  # the job that DAG creates
JOB_DURATION_S = "4"  # how long the emulator's runs take: long enough to watch the progress
DIALECT = os.environ.get("CDM_DEMO_DIALECT", "observed")  # the emulator's answer shapes (emulator/dialects.py)
# Lines of `airflow dags test` worth showing as it runs (the full output is shown if it fails).
SHOWN = (JOB_NAME, "[DAG TEST] running trigger", "Marking run", "ERROR", "Error")


def airflow(env: dict[str, str], *args: str, show: bool = False) -> str:
    """Run an `airflow` command in the demo's environment; its output, or exit with it on failure."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if show and any(marker in line for marker in SHOWN):
            print("  | " + line.rstrip()[:220])
    if process.wait() != 0:
        print("".join(lines[-80:]), file=sys.stderr)
        sys.exit(f"airflow {' '.join(args)} failed with exit code {process.returncode}")
    return "".join(lines)


def main() -> int:
    from airflow_provider_cdm.emulator.testing import run_emulator  # standard library only: no Airflow yet

    with (
        run_emulator("--job-duration", JOB_DURATION_S, "--dialect", DIALECT) as emulator,
        tempfile.TemporaryDirectory(prefix="cdm-demo-airflow-home-") as home,
    ):
        env = {
            **os.environ,
            **emulator.env,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "CDM_EXAMPLE_POLL_INTERVAL": "1",  # the example polls every 30 s against real CDM
        }
        print(
            f"CDM emulator on {emulator.url} (project {emulator.project_id}, cluster {emulator.cluster_id}, "
            f"answering in the {DIALECT!r} dialect: real CDM's likely shapes)"
        )
        print(f"Airflow home {home}; DAGs folder {env['AIRFLOW__CORE__DAGS_FOLDER']}")

        started = time.monotonic()
        airflow(env, "db", "migrate")
        print(f"airflow db migrate: done in {time.monotonic() - started:.0f} s")

        logical_date = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        print(f"airflow dags test {DAG_ID} {logical_date}:")
        started = time.monotonic()
        airflow(env, "dags", "test", DAG_ID, logical_date, show=True)
        print(f"airflow dags test: done in {time.monotonic() - started:.0f} s")

        states = _task_states(env, logical_date)
        os.environ.update({key: env[key] for key in ("AIRFLOW_HOME", "AIRFLOW__CORE__LOAD_EXAMPLES", *emulator.env)})
        from airflow_provider_cdm.hooks.cdm import CdmHook

        hook = CdmHook()
        final = hook.get_job_status(JOB_NAME)
        hook.close()
        stats = emulator.stats()

    print("\nSummary")
    print("  task states: " + ", ".join(f"{task} {state}" for task, state in states.items()))
    if final is None:
        print(f"  CDM job {JOB_NAME}: no run known")
    else:
        print(f"  CDM job {JOB_NAME}: run {final.submission_id} {final.status_text}, progress {final.progress}%")
        for name, value in sorted(final.counters.items()):
            print(f"    {name:<22} {value}")
    print(
        "  emulator requests: " + ", ".join(f"{op} {_codes(codes)}" for op, codes in sorted(stats["requests"].items()))
    )
    print(f"  runs started: {json.dumps(stats['starts'], sort_keys=True)}")
    succeeded = bool(states) and set(states.values()) == {"success"} and final is not None and final.is_success
    print("\nThe example pipeline " + ("succeeded." if succeeded else "did NOT succeed."))
    return 0 if succeeded else 1


def _task_states(env: dict[str, str], logical_date: str) -> dict[str, str]:
    output = airflow(env, "tasks", "states-for-dag-run", DAG_ID, logical_date, "--output", "json")
    rows: list[dict[str, Any]] = json.loads(output[output.index("[") :])
    return {row["task_id"]: row["state"] for row in rows}


def _codes(codes: dict[str, int]) -> str:
    return "/".join(f"{count}x{status}" for status, count in sorted(codes.items()))


if __name__ == "__main__":
    sys.exit(main())
