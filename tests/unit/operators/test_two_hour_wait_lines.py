"""A two-hour wait at the default settings logs at most about 130 lines, and they say what a user wants.

A polling ``CdmStartJobOperator`` (poll interval 10 s, ``[cdm] progress_log_interval`` 60 s: both
defaults) waits for a run that boots, runs for two hours and succeeds, against a mocked CDM, on a
clock that moves only when the poll loop sleeps (``tests/clock.py``). Its status is read 720 times; the
task log has a line when the status changes and about one a minute, each with the progress and rows
written so far, and a final line with the volumes, duration and throughput. The trigger (the
deferrable path) words and spaces its progress lines the same way.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

import pytest
import requests_mock

from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef, Verdict
from airflow_provider_cdm.operators import _waiting
from airflow_provider_cdm.operators.cdm import CdmStartJobOperator
from airflow_provider_cdm.options import DEFAULT_PROGRESS_LOG_INTERVAL_S
from airflow_provider_cdm.triggers._shared_poller import Listed
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.clock import FakeClock
from tests.task_logs import LogLine, recording
from tests.unit.client.helpers import CLUSTER, job_url, submission
from tests.unit.operators.helpers import task_context

JOB = "orders_daily"
RUN_ID = 104
TWO_HOURS_S = 2 * 3600.0
BOOTING_S = 20.0  # CDM boots the run for a while before it runs
ROWS_PER_S = 250
STARTED_MS = 1_700_000_000_000
MAX_LINES = 130


def cdm_run(elapsed_s: float) -> dict[str, Any]:
    """The run as CDM's status call answers ``elapsed_s`` seconds after the start."""
    if elapsed_s < BOOTING_S:
        return submission(RUN_ID, "BOOTING", JOB, progress=0, **{"creation-date": STARTED_MS})
    if elapsed_s < TWO_HOURS_S:
        return submission(
            RUN_ID,
            "RUNNING",
            JOB,
            progress=round(100 * elapsed_s / TWO_HOURS_S, 1),
            write_rows=int(ROWS_PER_S * elapsed_s),
            **{"creation-date": STARTED_MS, "execute-date": STARTED_MS, "last-update-date": STARTED_MS},
        )
    rows = int(ROWS_PER_S * TWO_HOURS_S)
    counters = {"ROWS_READ": rows, "ROWS_WRITTEN": rows, "BYTES_READ": rows * 200, "BYTES_WRITTEN": rows * 200}
    return submission(
        RUN_ID,
        "SUCCEEDED",
        JOB,
        progress=100,
        write_rows=rows,
        counters={"org.apache.sqoop.submission.counter.SqoopCounters": counters},
        **{
            "creation-date": STARTED_MS,
            "execute-date": STARTED_MS,
            "last-update-date": STARTED_MS + int(TWO_HOURS_S * 1000),
        },
    )


# Airflow's ExecutorSafeguard warns that execute() was called outside a task runner: the test's doing.
OUTSIDE_A_TASK = re.compile(r"\.execute cannot be called outside ")


def informative(lines: list[LogLine]) -> list[str]:
    """What a task log shows at the default level (INFO and above), Airflow's own lines included."""
    return [line.message for line in lines if line.level >= logging.INFO and not OUTSIDE_A_TASK.search(line.message)]


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The default ``[cdm] progress_log_interval``, and the default log level, INFO, for the provider's
    loggers (a dag.test() run earlier in the session leaves Airflow 2.11's root logger at WARNING)."""
    monkeypatch.delenv("AIRFLOW__CDM__PROGRESS_LOG_INTERVAL", raising=False)
    caplog.set_level(logging.INFO, logger="airflow_provider_cdm")


def test_a_two_hour_poll_wait_logs_at_most_about_130_lines(
    cdm: requests_mock.Mocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    cdm.put(job_url(JOB, "/start"), json={"submissions": [cdm_run(0)]})
    cdm.get(job_url(JOB, "/status"), json=lambda request, context: {"submissions": [cdm_run(clock.now)]})
    # The real poll loop, on the fake clock (execute() calls it with the task's own clock and sleep).
    monkeypatch.setattr(
        _waiting, "wait_for_run", functools.partial(_waiting.wait_for_run, clock=clock, sleep=clock.sleep)
    )

    operator = CdmStartJobOperator(task_id="migrate", job_name=JOB)  # poll mode, every 10 s: the defaults
    assert (operator.poll_interval, operator.deferrable) == (10, False)
    with recording() as lines:
        result = operator.execute(task_context())

    assert result["status"] == "SUCCEEDED" and clock.now >= TWO_HOURS_S
    polls = cdm.call_count - 1  # all but the start
    assert polls >= TWO_HOURS_S / 10
    shown = informative(lines)
    print(f"{len(shown)} lines at INFO or above for {polls} polls")
    assert len(shown) <= MAX_LINES, f"{len(shown)} lines at INFO or above for {polls} polls:\n" + "\n".join(shown)
    # The provider warns of nothing (Airflow's own warnings here, e.g. of no fernet key, are not its).
    warned = [line for line in lines if line.level >= logging.WARNING and "airflow_provider_cdm" in line.logger]
    assert not [line for line in warned if not OUTSIDE_A_TASK.search(line.message)]

    # What a user wants from them: every status change, the progress and rows about once a minute, the end.
    label = f"run {RUN_ID} of {JOB}: "
    progress = [text.removeprefix(label) for text in shown if text.startswith(label)]
    assert progress[0] == "RUNNING, 0.3%, 5,000 rows written"  # booting was announced by the start
    assert progress[-1] == "SUCCEEDED, 100%, 1,800,000 rows written"
    running = [text for text in progress if text.startswith("RUNNING, ")]
    assert len(running) >= TWO_HOURS_S / DEFAULT_PROGRESS_LOG_INTERVAL_S - 2  # about one a minute
    assert all(re.fullmatch(r"RUNNING, \d+(\.\d)?%, [\d,]+ rows written", text) for text in running), running
    assert any("BOOTING" in text for text in shown[:4]), shown[:4]  # the start's own line
    assert shown[-1] == (
        f"run {RUN_ID} of {JOB} SUCCEEDED in 2 h: read 1,800,000 rows (360.0 MB), "
        "wrote 1,800,000 rows (360.0 MB), 250 rows/s"
    )


@pytest.mark.parametrize("status_reads_every_s", [10, 60], ids=["status reads", "mostly job-list entries"])
def test_the_triggers_progress_lines_are_spaced_the_same_way(
    status_reads_every_s: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger words each status read (or job-list entry) like the poll loop, and keeps its pace.

    Its shared poller reads the job list for most answers (status only, no progress) and a run's status
    now and then; every 10 s of a two-hour run brings one or the other.
    """
    clock = FakeClock()
    trigger = CdmJobStatusTrigger(
        run=RunRef(JOB, CLUSTER, RUN_ID, STARTED_MS).to_json(), end_time=1e12, poll_interval=10, cdm_conn_id="x"
    )
    from airflow_provider_cdm.progress import ProgressLog

    monkeypatch.setattr(ProgressLog.__init__, "__kwdefaults__", {"clock": clock})  # its default clock, faked
    with recording() as lines:
        while clock.now <= TWO_HOURS_S:
            run = Submission.from_api(cdm_run(clock.now))
            if int(clock.now) % status_reads_every_s == 0:
                trigger._log_progress(run, Verdict.WAITING)
            else:
                trigger._log_listed(Listed(run.status, run.status_text, run.rows_written))  # ours: rows so far
            clock.sleep(10)

    shown = informative(lines)
    assert len(shown) <= MAX_LINES, f"{len(shown)} lines at INFO or above:\n" + "\n".join(shown)
    assert len(shown) >= TWO_HOURS_S / DEFAULT_PROGRESS_LOG_INTERVAL_S - 2
    label = f"run {RUN_ID} of {JOB}: "
    assert [text for text in shown if "RUNNING" not in text] == [
        f"{label}BOOTING, 0%",
        f"{label}SUCCEEDED, 100%, 1,800,000 rows written",
    ]
    with_progress = [t for t in shown if re.fullmatch(rf"{label}RUNNING, \d+(\.\d)?%, [\d,]+ rows written", t)]
    with_rows = [t for t in shown if re.fullmatch(rf"{label}RUNNING(, \d+(\.\d)?%)?, [\d,]+ rows written", t)]
    assert len(with_rows) == len(shown) - 2  # a job-list entry has no progress, but the rows of our run
    if status_reads_every_s == 10:
        assert len(with_progress) == len(shown) - 2


def test_a_start_without_a_run_id_yet_says_a_new_run() -> None:
    """A sparse start answer has no submission id: the start's line never says ``run None``."""
    from airflow_provider_cdm.progress import started_run

    assert started_run(104) == "run 104"
    assert started_run(None) == "a new run (CDM reports its id later)"
