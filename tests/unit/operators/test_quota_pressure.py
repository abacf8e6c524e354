"""Under quota pressure a task spends calls only where it must, and throttling costs it time, never the task:
one start call per run (the status is read only when CDM answers that a run is active), waits that
treat a throttled read as "not yet", a rescheduling sensor that gives its slot back, progress lines at
INFO only when something changed (or about once a minute)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests_mock
from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators._waiting import stop_and_settle, wait_for_run
from airflow_provider_cdm.operators.cdm import CdmStartJobOperator
from airflow_provider_cdm.progress import ProgressLog
from airflow_provider_cdm.sensors.cdm import RESCHEDULE_THROTTLED_S, CdmJobStatusSensor
from tests.clock import FakeClock
from tests.unit.client.helpers import job_url, submission
from tests.unit.operators.helpers import RecordingTI, task_context

JOB = "orders_daily"
RUNNING = {"errCode": "Cdm.0052", "externalMessage": f"Job[{JOB}] is running."}
THROTTLED = {"status_code": 429, "json": {"error_code": "APIG.0308", "error_msg": "over ratelimit"}}


def run_json(submission_id: int, status: str, **fields: Any) -> dict[str, Any]:
    return submission(submission_id, status, JOB, **fields)


def calls(cdm: requests_mock.Mocker) -> list[str]:
    return [f"{request.method} {request.path.rsplit('/', 1)[-1]}" for request in cdm.request_history]


def test_a_start_is_one_call_with_no_status_read(cdm: requests_mock.Mocker) -> None:
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    result = CdmStartJobOperator(task_id="migrate", job_name=JOB, wait_for_completion=False).execute(task_context())
    assert result["submission_id"] == 7
    assert calls(cdm) == ["PUT start"]


def test_a_start_and_its_wait_cost_the_start_plus_the_polls(cdm: requests_mock.Mocker) -> None:
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    cdm.get(
        job_url(JOB, "/status"),
        [{"json": {"submissions": [run_json(7, "RUNNING")]}}, {"json": {"submissions": [run_json(7, "SUCCEEDED")]}}],
    )
    result = CdmStartJobOperator(task_id="migrate", job_name=JOB, poll_interval=0.01).execute(task_context())
    assert result["status"] == "SUCCEEDED"
    assert calls(cdm) == ["PUT start", "GET status", "GET status"]


def test_a_running_job_is_read_once_then_attached_to(cdm: requests_mock.Mocker) -> None:
    cdm.put(job_url(JOB, "/start"), status_code=400, json=RUNNING)
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(5, "RUNNING")]})
    ti = RecordingTI()
    result = CdmStartJobOperator(task_id="migrate", job_name=JOB, wait_for_completion=False).execute(task_context(ti))
    assert (result["submission_id"], ti.xcom["submission_id"]) == (5, 5)
    assert calls(cdm) == ["PUT start", "GET status"]


def test_if_running_fail_names_the_active_run(cdm: requests_mock.Mocker) -> None:
    cdm.put(job_url(JOB, "/start"), status_code=400, json=RUNNING)
    cdm.get(job_url(JOB, "/status"), json={"submissions": [run_json(5, "RUNNING")]})
    with pytest.raises(AirflowException, match=r"run 5 .* is RUNNING already \(if_running='fail'\)"):
        CdmStartJobOperator(task_id="migrate", job_name=JOB, if_running="fail").execute(task_context())
    assert calls(cdm) == ["PUT start", "GET status"]


def test_if_running_restart_stops_the_active_run_then_starts(cdm: requests_mock.Mocker) -> None:
    cdm.put(
        job_url(JOB, "/start"),
        [{"status_code": 400, "json": RUNNING}, {"json": {"submissions": [run_json(6, "BOOTING")]}}],
    )
    cdm.get(
        job_url(JOB, "/status"),
        [{"json": {"submissions": [run_json(5, "RUNNING")]}}, {"json": {"submissions": [run_json(5, "FAILED")]}}],
    )
    cdm.put(job_url(JOB, "/stop"), json={"submissions": []})
    result = CdmStartJobOperator(
        task_id="migrate", job_name=JOB, if_running="restart", wait_for_completion=False
    ).execute(task_context())
    assert result["submission_id"] == 6
    assert calls(cdm) == ["PUT start", "GET status", "PUT stop", "GET status", "PUT start"]


def test_a_throttled_poll_is_not_yet_and_the_wait_goes_on(
    cdm: requests_mock.Mocker, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The connection allows no retry (a 429 reaches the wait at once): the wait keeps polling."""
    cdm.put(job_url(JOB, "/start"), json={"submissions": [run_json(7, "BOOTING")]})
    cdm.get(
        job_url(JOB, "/status"),
        [THROTTLED, THROTTLED, {"json": {"submissions": [run_json(7, "SUCCEEDED", progress=100)]}}],
    )
    with caplog.at_level(logging.INFO):
        result = CdmStartJobOperator(task_id="migrate", job_name=JOB, poll_interval=0.01).execute(task_context())
    assert result["status"] == "SUCCEEDED"
    # Airflow 3 writes task logs through structlog (stdout here), Airflow 2 through logging (which may also
    # reach stdout): read the records when they hold the lines, else stdout, never both
    records = [f"[{r.levelname.lower()}] {r.getMessage()}" for r in caplog.records]
    lines = records if any("CDM is throttling" in line for line in records) else capsys.readouterr().out.splitlines()
    throttled = [line for line in lines if "CDM is throttling its API" in line]
    assert len(throttled) == 2 and all("[info" in line for line in throttled)  # pacing, not trouble


def test_a_stop_whose_status_reads_are_throttled_keeps_looking(cdm: requests_mock.Mocker) -> None:
    cdm.put(job_url(JOB, "/stop"), json={"submissions": []})
    cdm.get(job_url(JOB, "/status"), [THROTTLED, {"json": {"submissions": [run_json(5, "FAILED")]}}])
    hook = CdmHook()
    log = logging.getLogger("test")
    assert stop_and_settle(hook, JOB, hook.resolve_cluster_id(), log, poll_interval=0.01) is True  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_throttled_poke_is_not_yet(cdm: requests_mock.Mocker, mode: str) -> None:
    cdm.get(job_url(JOB, "/status"), [THROTTLED, {"json": {"submissions": [run_json(5, "SUCCEEDED")]}}])
    sensor = CdmJobStatusSensor(task_id="wait", job_name=JOB, mode=mode)
    assert sensor.poke(task_context()) is False
    assert sensor.poke(task_context()).is_done  # type: ignore[union-attr]


def test_a_rescheduling_poke_retries_throttling_briefly(cdm: requests_mock.Mocker) -> None:
    """A poke in reschedule mode gives its worker slot back soon rather than waiting out the quota."""
    patient = {"retry_policy": {"throttled_s": 120, "max_attempts": 4}}
    sensor = CdmJobStatusSensor(task_id="wait", job_name=JOB, mode="reschedule", hook_params=patient)
    assert sensor.hook.settings.retry.throttled_s == 120
    assert sensor.brief_hook.settings.retry.throttled_s == RESCHEDULE_THROTTLED_S
    assert sensor.brief_hook.settings.retry.max_attempts == sensor.hook.settings.retry.max_attempts


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, message: str, *args: Any) -> None:
        self.lines.append((level, message % args))

    def info(self, message: str, *args: Any) -> None:
        self.log(logging.INFO, message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self.log(logging.WARNING, message, *args)

    def error(self, message: str, *args: Any) -> None:
        self.log(logging.ERROR, message, *args)


def test_progress_is_logged_when_it_changes_else_about_once_a_minute() -> None:
    clock, log = FakeClock(), RecordingLog()
    progress = ProgressLog(log, 60.0, clock=clock)
    states = ["BOOTING"] + ["RUNNING"] * 30 + ["RUNNING"]
    for state in states:  # a poll every 10 s
        progress.report(state, "%s", state)
        clock.now += 10
    loud = [line for level, line in log.lines if level == logging.INFO]
    assert loud == ["BOOTING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING"]
    assert len(log.lines) - len(loud) == 25  # at DEBUG


def test_a_two_hour_poll_loop_writes_about_120_info_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, log = FakeClock(), RecordingLog()
    run = RunRef(JOB, "c-1", 7)
    answers = iter(
        [Submission.from_api(run_json(7, "RUNNING"))] * 719 + [Submission.from_api(run_json(7, "SUCCEEDED"))]
    )

    class Hook:
        def get_job_status(self, job_name: str, cluster_id: str) -> Submission:
            return next(answers)

    final = wait_for_run(
        Hook(),  # type: ignore[arg-type]
        run,
        StatusRules(),
        Submission.from_api(run_json(7, "BOOTING")),
        poll_interval=10,
        deadline=3 * 3600,
        log=log,  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
    )
    assert final[1] is not None and final[1].status_text == "SUCCEEDED"
    info = [line for level, line in log.lines if level >= logging.INFO]
    assert 110 <= len(info) <= 130
