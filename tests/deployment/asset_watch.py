"""The asset-watch scenario of the deployment test, run in the deployment the main DAG run used.

A CDM job on CDM's own schedule (the emulator starts each run with ``fire_schedule``, as CDM's scheduler
would), an asset watched by ``CdmJobRunEventTrigger`` and a downstream DAG scheduled on it. The runs:

A succeeds; B fails; the triggerer is killed (SIGKILL) once B's watermark is written, C succeeds while
no triggerer runs, a new triggerer starts; once C's watermark is written (a kill within the commit
delay after an event repeats that event: docs/reference/assets.md), D succeeds and the triggerer is
killed the moment CDM reports D ended (before the watcher's next look), and a new one starts.
Expected: exactly one downstream DAG run and one asset event for each of A, C and D, none for B, the
watermarks in the asset's state store.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DAG_FILE = Path(__file__).with_name("cdm_asset_watch_dag.py")
DAG_ID = "cdm_asset_watch_downstream"
ASSET = "cdm_deployment_scheduled_orders"
JOB = "deployment_scheduled_orders"
POLL_S = 2.0
RUN_S = 2.0  # each scripted run's duration
WAIT_S = 90.0  # for a downstream DAG run, a watermark, a run's end
SETTLE_S = 3 * POLL_S + 5.0 + 2.0  # nothing more may come: polls, the commit delay, a margin
SCHEDULE = {
    "schedulerConfig.isSchedulerJob": "true",
    "schedulerConfig.cycleType": "day",
    "schedulerConfig.startDate": "2099-01-01 00:00:00",  # never due on its own: each run is fired
}


@dataclass
class AssetWatchResult:
    reported_expected: list[int] = field(default_factory=list)  # ids of the successful runs, in order
    failed: list[int] = field(default_factory=list)
    dag_runs: int = 0  # downstream DAG runs at the end
    reported: list[int] = field(default_factory=list)  # submission ids in the asset events, in order
    extras_ok: bool = False  # every event carries the run's figures
    watermarks: dict[str, Any] = field(default_factory=dict)  # the asset's state store, by key
    kills: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def summary(self) -> str:
        return (
            f"asset watch: expected events for runs {self.reported_expected}, failed runs {self.failed}, "
            f"asset events for {self.reported}, downstream DAG runs {self.dag_runs}, figures ok {self.extras_ok}, "
            f"triggerer kills {self.kills}, watermarks {self.watermarks}, timings {self.timings_s}, "
            f"error {self.error}"
        )


@contextlib.contextmanager
def _connection(connection_json: str) -> Iterator[Any]:
    from airflow_provider_cdm.hooks.cdm import CdmHook

    os.environ["AIRFLOW_CONN_CDM_ASSET_WATCH"] = connection_json
    hook = CdmHook("cdm_asset_watch")
    try:
        yield hook
    finally:
        hook.close()
        os.environ.pop("AIRFLOW_CONN_CDM_ASSET_WATCH", None)


def write_dags(dags: Path) -> None:
    spec = {"dag_id": DAG_ID, "asset": ASSET, "job": JOB, "poll_interval_s": POLL_S}
    shutil.copyfile(DAG_FILE, dags / DAG_FILE.name)
    (dags / DAG_FILE.name).with_suffix(".json").write_text(json.dumps(spec))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def run_asset_watch(
    *,
    emulator: Any,
    db: Any,
    dags: Path,
    restart_triggerer: Callable[[], None],
    kill_triggerer: Callable[[], None],
    start_triggerer: Callable[[], None],
) -> AssetWatchResult:
    """The scenario (module docstring); failures to get there are in ``error``, the counts tell the rest."""
    from tests.jobs import job_definition, with_driver_inputs

    result = AssetWatchResult()
    began = time.monotonic()

    def mark(name: str) -> None:
        result.timings_s[name] = round(time.monotonic() - began, 1)

    def wait(what: str, ready: Callable[[], bool], seconds: float = WAIT_S) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {seconds} s")
            time.sleep(0.25)

    def dag_runs() -> int:
        return int(db.scalar("SELECT count(*) FROM dag_run WHERE dag_id = %s", DAG_ID))

    def watermarks() -> dict[str, Any]:
        rows = db.rows(
            "SELECT s.key, s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id WHERE a.name = %s",
            ASSET,
        )
        return {key: _json(value) for key, value in rows}

    def watermark_id() -> int | None:
        for value in watermarks().values():
            mark_ = (value.get("jobs") or {}).get(JOB) if isinstance(value, dict) else None
            if isinstance(mark_, dict):
                return mark_.get("submission_id")
        return None

    def fire(outcome: str) -> int:
        emulator.script_job(JOB, outcome, duration_s=RUN_S, count=1, error_summary="scripted failure")
        before = len(emulator.runs(JOB))
        emulator.fire_schedule(JOB)
        wait(f"end of run {before + 1}", lambda: _ended(emulator.runs(JOB), before + 1), seconds=RUN_S + 30)
        return int(emulator.runs(JOB)[before]["submission_id"])

    try:
        with _connection(emulator.connection_json) as hook:
            hook.create_job(with_driver_inputs(job_definition(JOB), **SCHEDULE))
        write_dags(dags)
        wait("watcher baseline in the asset's state store", lambda: bool(watermarks()), seconds=120)
        mark("watching")
        first = fire("SUCCEEDED")
        result.reported_expected.append(first)
        wait("downstream DAG run for run A", lambda: dag_runs() >= 1)
        mark("A reported")
        failed = fire("FAILED")
        result.failed.append(failed)
        wait("watermark past the failed run", lambda: (watermark_id() or 0) >= failed)
        kill_triggerer()  # between runs
        result.kills += 1
        third = fire("SUCCEEDED")  # while no triggerer runs
        result.reported_expected.append(third)
        start_triggerer()
        wait("downstream DAG run for run C", lambda: dag_runs() >= 2, seconds=120)
        mark("C reported after a restart")
        # Past the documented window (a kill within COMMIT_AFTER_S of an event repeats it): C's mark is written.
        wait("watermark at run C", lambda: (watermark_id() or 0) >= third)
        emulator.script_job(JOB, "SUCCEEDED", duration_s=RUN_S, count=1)
        before = len(emulator.runs(JOB))
        emulator.fire_schedule(JOB)
        deadline = time.monotonic() + RUN_S + 30
        while not _ended(emulator.runs(JOB), before + 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        restart_triggerer()  # the moment CDM reports the run ended
        result.kills += 1
        result.reported_expected.append(int(emulator.runs(JOB)[before]["submission_id"]))
        wait("downstream DAG run for run D", lambda: dag_runs() >= 3, seconds=120)
        mark("D reported after a restart")
        time.sleep(SETTLE_S)
    except Exception as err:  # the assertions say what is missing
        result.error = f"{type(err).__name__}: {err}"
    result.dag_runs = dag_runs()
    extras = [
        _json(extra)
        for (extra,) in db.rows(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = %s ORDER BY e.id",
            ASSET,
        )
    ]
    payloads = [extra.get("payload") or {} for extra in extras if isinstance(extra, dict)]
    result.reported = [payload.get("submission_id") for payload in payloads]
    result.extras_ok = bool(payloads) and all(
        payload.get("job_name") == JOB and payload.get("status") == "SUCCEEDED" and payload.get("rows_written")
        for payload in payloads
    )
    result.watermarks = watermarks()
    mark("total")
    return result


def _ended(runs: list[dict[str, Any]], count: int) -> bool:
    return len(runs) >= count and runs[count - 1]["status"] not in ("PENDING", "BOOTING", "RUNNING")
