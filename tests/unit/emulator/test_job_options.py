"""The job options that change what a waiter sees, in the emulator's state machine, on a fake clock.

Deletion after the run (``schedulerConfig.disposableType``), CDM's retries (``retryJobConfig.retryJobType``),
scheduled runs (``schedulerConfig.isSchedulerJob``), runs queued PENDING past a cluster's concurrency, and
BATCH_JOB subjobs (``../shared/cdm-dialects.md``, "Documented job options that change what a waiter sees").
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.counters import COUNTER_GROUP
from airflow_provider_cdm.emulator.batch import FAILED_SUBJOBS
from airflow_provider_cdm.emulator.config import DEFAULT_CLUSTERS
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.lifecycle import MAX_CATCH_UP
from airflow_provider_cdm.emulator.models import CdmBackend
from airflow_provider_cdm.emulator.runs import STOPPED_BY_USER, Outcome, Script
from airflow_provider_cdm.emulator.schedules import Schedule
from tests.clock import FakeClock

from .helpers import RUNNING_1, RUNNING_2, job_definition

USER = "tester"
START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DURATION = 10.0


def wall(text: str) -> float:
    """Epoch seconds of a UTC ``yyyy-MM-dd HH:mm:ss``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def backend(clock: FakeClock) -> CdmBackend:
    return CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=DURATION, seed=7)


def definition(name: str, *, job_type: str = "NORMAL_JOB", tables: str | None = None, **driver: str) -> dict[str, Any]:
    """A job whose driver-config-values carry ``driver`` (``schedulerConfig__cycleType`` is
    ``schedulerConfig.cycleType``), each input in its documented group."""
    job = job_definition(name)
    job["job_type"] = job_type
    groups: dict[str, list[dict[str, str]]] = {}
    for key, value in driver.items():
        group, _, option = key.partition("__")
        groups.setdefault(group, []).append({"name": f"{group}.{option}", "value": value})
    job["driver-config-values"]["configs"].extend({"name": group, "inputs": inputs} for group, inputs in groups.items())
    if tables is not None:
        for item in job["from-config-values"]["configs"][0]["inputs"]:
            if item["name"] == "fromJobConfig.tableName":
                item["value"] = tables
    return job


def create(backend: CdmBackend, name: str, cluster: str = RUNNING_1, **kwargs: Any) -> None:
    answer = backend.create_job(cluster, definition(name, **kwargs), USER)
    assert answer == {"name": name, "validation-result": []}


def start(backend: CdmBackend, name: str, cluster: str = RUNNING_1) -> dict[str, Any]:
    result: dict[str, Any] = backend.start_job(cluster, name, {}, USER)["submissions"][0]
    return result


def latest(backend: CdmBackend, name: str, cluster: str = RUNNING_1) -> dict[str, Any]:
    result: dict[str, Any] = backend.job_status(cluster, name)["submissions"][0]
    return result


def history(backend: CdmBackend, name: str) -> list[dict[str, Any]]:
    """Runs oldest first, dates as numbers (run history sends them as strings)."""
    runs = list(reversed(backend.list_submissions(RUNNING_1, name, page_size=100)["submissions"]))
    dates = ("creation-date", "execute-date", "last-update-date")
    return [{**run, **{key: int(run[key]) for key in dates}} for run in runs]


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(ApiError) as raised:
        call(*args)
    return raised.value.error.code


def events(backend: CdmBackend, kind: str) -> list[dict[str, Any]]:
    return [event for event in backend.snapshot()["events"] if event["event"] == kind]


def assert_gone(backend: CdmBackend, name: str) -> None:
    """Status, show, history of the job answer job-not-found, and the list leaves it out."""
    not_found = errors.CDM_JOB_NOT_EXIST_2.code
    assert code_of(backend.job_status, RUNNING_1, name) == not_found
    assert code_of(backend.show_job, RUNNING_1, name) == not_found
    assert code_of(backend.list_submissions, RUNNING_1, name) == not_found
    assert name not in [job["name"] for job in backend.list_jobs(RUNNING_1)["jobs"]]


# -- schedulerConfig.disposableType ---------------------------------------------------------------------


def test_delete_after_succeed_deletes_the_job_once_its_run_succeeded(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "once", schedulerConfig__disposableType="DELETE_AFTER_SUCCEED")
    answer = start(backend, "once")
    assert (answer["status"], answer["isDeleteJob"], answer["is-execute-auto"]) == ("BOOTING", True, False)
    clock.sleep(DURATION - 0.5)
    assert latest(backend, "once")["status"] == "RUNNING"
    clock.sleep(0.5)
    assert_gone(backend, "once")
    (deleted,) = backend.snapshot()["deleted"]
    assert deleted["job_name"] == "once" and deleted["disposal"] == "DELETE_AFTER_SUCCEED"
    assert (deleted["status"], deleted["at"], deleted["submission_id"]) == ("SUCCEEDED", START + DURATION, 1)
    create(backend, "once")  # the name is free again


def test_delete_after_succeed_keeps_a_failed_or_stopped_job(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("once", Script(Outcome.FAILED, 2.0, "disk full", count=1))
    create(backend, "once", schedulerConfig__disposableType="DELETE_AFTER_SUCCEED")
    start(backend, "once")
    clock.sleep(5.0)
    assert latest(backend, "once")["error-summary"] == "disk full"
    start(backend, "once")
    clock.sleep(2.0)
    backend.stop_job(RUNNING_1, "once")
    assert latest(backend, "once")["status"] == "FAILED"
    assert [job["name"] for job in backend.list_jobs(RUNNING_1)["jobs"]] == ["once"]
    assert backend.snapshot()["deleted"] == []


def test_delete_deletes_the_job_after_its_run_whatever_the_result(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("failing", Script(Outcome.FAILED, 2.0))
    backend.set_script("refused", Script(Outcome.FAILURE_ON_SUBMIT, 2.0))
    for name in ("failing", "stopped", "refused"):
        create(backend, name, schedulerConfig__disposableType="DELETE")
        assert start(backend, name)["isDeleteJob"] is True
    clock.sleep(1.0)
    backend.stop_job(RUNNING_1, "stopped")
    assert_gone(backend, "stopped")
    assert_gone(backend, "refused")  # ended at its submission
    assert latest(backend, "failing")["status"] == "RUNNING"
    clock.sleep(1.0)
    assert_gone(backend, "failing")
    deleted = {record["job_name"]: record["status"] for record in backend.snapshot()["deleted"]}
    assert deleted == {"refused": "FAILURE_ON_SUBMIT", "stopped": "FAILED", "failing": "FAILED"}


def test_a_job_without_disposal_is_kept_and_its_runs_say_so(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "kept", schedulerConfig__disposableType="NONE")
    assert start(backend, "kept")["isDeleteJob"] is False
    clock.sleep(DURATION)
    assert latest(backend, "kept")["status"] == "SUCCEEDED"


def test_the_deletion_happens_at_the_runs_end_even_when_read_much_later(backend: CdmBackend, clock: FakeClock) -> None:
    """Lazily applied, but as of the run's end: the name was free from then on."""
    create(backend, "once", schedulerConfig__disposableType="DELETE")
    start(backend, "once")
    clock.sleep(3600.0)
    assert backend.snapshot()["deleted"][0]["at"] == START + DURATION


# -- retryJobConfig.retryJobType ------------------------------------------------------------------------


def test_retry_triple_follows_a_failed_run_with_a_new_run_after_the_delay(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=DURATION, retry_delay_s=5.0)
    backend.set_script("flaky", Script(Outcome.FAILED, 2.0, "timeout", count=2))
    create(backend, "flaky", retryJobConfig__retryJobType="RETRY_TRIPLE")
    first = start(backend, "flaky")
    clock.sleep(2.0)
    failed = latest(backend, "flaky")
    assert (failed["submission-id"], failed["status"]) == (first["submission-id"], "FAILED")
    clock.sleep(4.9)
    assert latest(backend, "flaky")["submission-id"] == first["submission-id"]  # the delay: FAILED meanwhile
    clock.sleep(0.1)
    second = latest(backend, "flaky")
    assert second["submission-id"] == first["submission-id"] + 1 and second["status"] == "BOOTING"
    assert second["creation-date"] == int((START + 7.0) * 1000) and second["is-execute-auto"] is False
    clock.sleep(100.0)  # the second fails at +9, the third starts at +14 with the default script
    runs = history(backend, "flaky")
    assert [run["status"] for run in runs] == ["FAILED", "FAILED", "SUCCEEDED"]
    assert [run["submission-id"] for run in runs] == [1, 2, 3]
    assert [event["attempt"] for event in events(backend, "retried")] == [1, 2]
    assert backend.counts()["starts"] == {"flaky": 3}


def test_retry_triple_stops_after_three_retries(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("broken", Script(Outcome.FAILED, 2.0))
    create(backend, "broken", retryJobConfig__retryJobType="RETRY_TRIPLE")
    start(backend, "broken")
    clock.sleep(1000.0)
    runs = history(backend, "broken")
    assert [run["status"] for run in runs] == ["FAILED"] * 4  # the run and three retries
    assert [run["creation-date"] for run in runs] == [int((START + 3.0 * n) * 1000) for n in range(4)]  # 2 s + 1 s
    job = backend.snapshot()["clusters"][0]["jobs"][0]
    assert [run["attempt"] for run in job["runs"]] == [0, 1, 2, 3] and job["retry"] is None


def test_retry_triple_does_not_retry_a_stopped_run_or_a_success(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "manual", retryJobConfig__retryJobType="RETRY_TRIPLE")
    start(backend, "manual")
    clock.sleep(2.0)
    backend.stop_job(RUNNING_1, "manual")
    clock.sleep(60.0)
    assert [run["error-summary"] for run in history(backend, "manual")] == [STOPPED_BY_USER]
    start(backend, "manual")
    clock.sleep(60.0)
    assert [run["status"] for run in history(backend, "manual")] == ["FAILED", "SUCCEEDED"]


def test_retry_triple_retries_a_failure_on_submit(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("refused", Script(Outcome.FAILURE_ON_SUBMIT, 2.0, count=1))
    create(backend, "refused", retryJobConfig__retryJobType="RETRY_TRIPLE")
    assert start(backend, "refused")["status"] == "FAILURE_ON_SUBMIT"
    clock.sleep(1.0)
    assert latest(backend, "refused")["status"] == "BOOTING"


def test_retry_triple_does_not_retry_an_unknown_end(backend: CdmBackend, clock: FakeClock) -> None:
    """UNKNOWN: CDM cannot tell that the run failed, so it does not run it again."""
    backend.set_script("unsure", Script(Outcome.UNKNOWN, 2.0))
    create(backend, "unsure", retryJobConfig__retryJobType="RETRY_TRIPLE")
    start(backend, "unsure")
    clock.sleep(60.0)
    assert [run["status"] for run in history(backend, "unsure")] == ["UNKNOWN"]


def test_a_start_during_the_retry_delay_replaces_the_retry(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("flaky", Script(Outcome.FAILED, 2.0, count=1))
    create(backend, "flaky", retryJobConfig__retryJobType="RETRY_TRIPLE")
    start(backend, "flaky")
    clock.sleep(2.5)
    assert backend.snapshot()["clusters"][0]["jobs"][0]["retry"] == {"due": START + 3.0, "attempt": 1}
    start(backend, "flaky")
    clock.sleep(60.0)
    assert [run["status"] for run in history(backend, "flaky")] == ["FAILED", "SUCCEEDED"]


def test_a_delete_job_with_retries_is_deleted_only_after_its_last_run(backend: CdmBackend, clock: FakeClock) -> None:
    backend.set_script("flaky", Script(Outcome.FAILED, 2.0, count=2))
    create(backend, "flaky", retryJobConfig__retryJobType="RETRY_TRIPLE", schedulerConfig__disposableType="DELETE")
    backend.set_script("broken", Script(Outcome.FAILED, 2.0))
    create(backend, "broken", retryJobConfig__retryJobType="RETRY_TRIPLE", schedulerConfig__disposableType="DELETE")
    start(backend, "flaky")
    start(backend, "broken")
    clock.sleep(2.5)  # both failed; their retries are due at +3
    assert latest(backend, "flaky")["status"] == latest(backend, "broken")["status"] == "FAILED"
    clock.sleep(3.0)  # the second runs failed at +5
    assert [run["status"] for run in history(backend, "flaky")] == ["FAILED", "FAILED"]
    clock.sleep(DURATION + 1.0)  # flaky's third run (default script) succeeded at +16; broken's fourth failed at +11
    assert_gone(backend, "flaky")
    assert_gone(backend, "broken")
    deleted = {
        record["job_name"]: (record["status"], record["runs"], record["at"]) for record in backend.snapshot()["deleted"]
    }
    assert deleted == {"broken": ("FAILED", 4, START + 11.0), "flaky": ("SUCCEEDED", 3, START + 16.0)}


def test_delete_after_succeed_with_retries_is_deleted_after_the_retry_that_succeeds(
    backend: CdmBackend, clock: FakeClock
) -> None:
    backend.set_script("flaky", Script(Outcome.FAILED, 2.0, count=1))
    create(
        backend,
        "flaky",
        retryJobConfig__retryJobType="RETRY_TRIPLE",
        schedulerConfig__disposableType="DELETE_AFTER_SUCCEED",
    )
    start(backend, "flaky")
    clock.sleep(3.0)
    assert latest(backend, "flaky")["isDeleteJob"] is True
    clock.sleep(DURATION)
    assert_gone(backend, "flaky")


# -- schedulerConfig.isSchedulerJob ---------------------------------------------------------------------

SCHEDULED = {"schedulerConfig__isSchedulerJob": "true"}


def test_a_scheduled_job_runs_when_due_with_is_execute_auto(backend: CdmBackend, clock: FakeClock) -> None:
    create(
        backend,
        "every5",
        **SCHEDULED,
        schedulerConfig__cycleType="minute",
        schedulerConfig__cycle="5",
        schedulerConfig__startDate="2023-11-14 22:15:00",
    )
    assert backend.job_status(RUNNING_1, "every5") == {"submissions": []}
    assert backend.snapshot()["clusters"][0]["jobs"][0]["next_schedule_at"] == wall("2023-11-14 22:15:00")
    clock.now = wall("2023-11-14 22:15:00")
    run = latest(backend, "every5")
    assert (run["status"], run["is-execute-auto"], run["creation-user"]) == ("BOOTING", True, USER)
    clock.now = wall("2023-11-14 22:30:00") + 1.0
    runs = history(backend, "every5")
    assert [r["creation-date"] for r in runs] == [
        int(wall(f"2023-11-14 22:{minute}:00") * 1000) for minute in (15, 20, 25, 30)
    ]
    assert all(r["is-execute-auto"] for r in runs) and len(events(backend, "auto_started")) == 4
    assert code_of(backend.start_job, RUNNING_1, "every5", {}, USER) == errors.CDM_JOB_RUNNING.code


def test_a_due_run_is_skipped_while_a_run_is_active(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=400.0)  # longer than the cycle
    create(
        backend,
        "slow",
        **SCHEDULED,
        schedulerConfig__cycleType="minute",
        schedulerConfig__cycle="5",
        schedulerConfig__startDate="2023-11-14 22:15:00",
    )
    clock.now = wall("2023-11-14 22:26:00")
    runs = history(backend, "slow")
    assert [r["creation-date"] for r in runs] == [int(wall(f"2023-11-14 22:{m}:00") * 1000) for m in (15, 25)]
    (skipped,) = events(backend, "schedule_skipped")
    assert skipped["at"] == wall("2023-11-14 22:20:00") and "under way" in skipped["reason"]


def test_a_schedule_stops_at_its_stop_date(backend: CdmBackend, clock: FakeClock) -> None:
    create(
        backend,
        "hourly",
        **SCHEDULED,
        schedulerConfig__cycleType="hour",
        schedulerConfig__runAt="27,57",
        schedulerConfig__startDate="2023-11-14 22:00:00",
        schedulerConfig__stopDate="2023-11-15 00:30:00",
    )
    clock.now = wall("2023-11-16 00:00:00")
    runs = history(backend, "hourly")
    expected = ["2023-11-14 22:27:00", "2023-11-14 22:57:00", "2023-11-14 23:27:00", "2023-11-14 23:57:00",
                "2023-11-15 00:27:00"]  # fmt: skip
    assert [r["creation-date"] for r in runs] == [int(wall(text) * 1000) for text in expected]
    assert backend.snapshot()["clusters"][0]["jobs"][0]["next_schedule_at"] is None


def test_a_schedule_counts_from_when_the_job_was_saved(backend: CdmBackend, clock: FakeClock) -> None:
    """Runs due before the job existed (start date in the past) never happen; an update re-arms it."""
    create(
        backend,
        "daily",
        **SCHEDULED,
        schedulerConfig__cycleType="day",
        schedulerConfig__startDate="2018-01-24 19:56:19",
    )
    clock.now = wall("2023-11-15 19:56:18")
    assert backend.job_status(RUNNING_1, "daily") == {"submissions": []}
    clock.sleep(1.0)
    assert latest(backend, "daily")["is-execute-auto"] is True
    clock.sleep(DURATION)
    weekly = definition("daily", **SCHEDULED, schedulerConfig__cycleType="week", schedulerConfig__runAt="mon")
    assert backend.update_job(RUNNING_1, "daily", weekly, USER) == {"validation-result": []}
    job = backend.snapshot()["clusters"][0]["jobs"][0]
    assert job["next_schedule_at"] == wall("2023-11-20 19:56:29")  # Monday, at the time of day it was saved


def test_a_job_whose_schedule_is_off_is_never_started_by_cdm(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "manual", schedulerConfig__isSchedulerJob="false", schedulerConfig__cycleType="minute")
    clock.sleep(3600.0)
    assert backend.job_status(RUNNING_1, "manual") == {"submissions": []}
    with pytest.raises(ValueError, match="not scheduled"):
        backend.fire_schedule(RUNNING_1, "manual")


def test_fire_schedule_starts_a_scheduled_run_now_or_skips_it(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "monthly", **SCHEDULED, schedulerConfig__cycleType="month", schedulerConfig__runAt="1")
    fired = backend.fire_schedule(RUNNING_1, "monthly")
    assert fired["fired"] is True and fired["skipped"] is None
    assert (fired["submission"]["status"], fired["submission"]["is-execute-auto"]) == ("BOOTING", True)
    skipped = backend.fire_schedule(RUNNING_1, "monthly")
    assert (skipped["fired"], skipped["submission"]) == (False, None) and "under way" in skipped["skipped"]
    assert [(event["event"], event["fired"]) for event in backend.snapshot()["events"]] == [
        ("auto_started", True),
        ("schedule_skipped", True),
    ]
    assert backend.snapshot()["clusters"][0]["jobs"][0]["next_schedule_at"] == wall("2023-12-01 22:13:20")


def test_an_invalid_schedule_is_refused_at_create_and_update(backend: CdmBackend) -> None:
    bad = [
        {"schedulerConfig__cycleType": "fortnight"},
        {"schedulerConfig__cycleType": "day", "schedulerConfig__cycle": "0"},
        {"schedulerConfig__cycleType": "hour", "schedulerConfig__runAt": "75"},
        {"schedulerConfig__cycleType": "week", "schedulerConfig__runAt": "monday"},
        {"schedulerConfig__cycleType": "day", "schedulerConfig__startDate": "2018-01-24T19:56:19"},
        {
            "schedulerConfig__cycleType": "day",
            "schedulerConfig__startDate": "2018-01-24 19:56:19",
            "schedulerConfig__stopDate": "2018-01-23 00:00:00",
        },
    ]
    for inputs in bad:
        answer = backend.create_job(RUNNING_1, definition("bad", **SCHEDULED, **inputs), USER)
        (problem,) = answer["validation-result"]
        assert problem["status"] == "ERROR" and "schedulerConfig." in problem["message"]
    create(backend, "good")
    answer = backend.update_job(RUNNING_1, "good", definition("good", **SCHEDULED, **bad[0]), USER)
    assert "cycleType" in answer["validation-result"][0]["message"]


def test_a_far_clock_jump_materialises_a_bounded_number_of_scheduled_runs(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=1.0)
    create(backend, "busy", **SCHEDULED, schedulerConfig__cycleType="minute")
    clock.sleep(3 * 86400.0)  # 4320 due runs
    runs = backend.list_submissions(RUNNING_1, "busy")["total"]
    (missed,) = events(backend, "schedule_missed")
    assert runs == MAX_CATCH_UP and runs + missed["count"] == 3 * 1440 + 1
    clock.sleep(60.0)
    assert backend.list_submissions(RUNNING_1, "busy")["total"] == MAX_CATCH_UP + 1


@pytest.mark.parametrize(
    ("inputs", "after", "expected"),
    [
        ({"cycleType": "minute", "cycle": "10"}, "2018-01-24 20:00:00", "2018-01-24 20:06:19"),
        ({"cycleType": "hour", "runAt": "27,57"}, "2018-01-24 19:56:19", "2018-01-24 19:57:00"),
        ({"cycleType": "hour", "runAt": "27,57"}, "2018-01-24 19:57:00", "2018-01-24 20:27:00"),
        ({"cycleType": "hour", "cycle": "2"}, "2018-01-24 22:00:00", "2018-01-24 23:56:19"),
        ({"cycleType": "day", "cycle": "3"}, "2018-01-25 00:00:00", "2018-01-27 19:56:19"),
        ({"cycleType": "week", "runAt": "mon,fri"}, "2018-01-24 19:56:19", "2018-01-26 19:56:19"),  # a Wednesday
        ({"cycleType": "week", "runAt": "mon,fri"}, "2018-01-26 19:56:19", "2018-01-29 19:56:19"),
        ({"cycleType": "week", "cycle": "2"}, "2018-01-25 00:00:00", "2018-02-07 19:56:19"),
        ({"cycleType": "month", "runAt": "1,15"}, "2018-01-24 19:56:19", "2018-02-01 19:56:19"),
        ({"cycleType": "month", "runAt": "31"}, "2018-01-31 19:56:19", "2018-03-31 19:56:19"),  # no 31 Feb
        ({"cycleType": "month", "cycle": "12"}, "2019-06-01 00:00:00", "2020-01-24 19:56:19"),
    ],
)
def test_schedule_timetables(inputs: dict[str, str], after: str, expected: str) -> None:
    values = {f"schedulerConfig.{key}": value for key, value in inputs.items()}
    schedule = Schedule.from_inputs({**values, "schedulerConfig.startDate": "2018-01-24 19:56:19"}, 0.0)
    assert schedule.next_after(wall(after)) == wall(expected)


def test_schedule_times_are_wall_clock_times_in_the_backends_time_zone(clock: FakeClock) -> None:
    eight_hours_east = timezone(timedelta(hours=8))  # e.g. cn-north-4
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, schedule_timezone=eight_hours_east)
    create(
        backend,
        "daily",
        **SCHEDULED,
        schedulerConfig__cycleType="day",
        schedulerConfig__startDate="2023-11-15 06:15:00",
    )
    assert backend.snapshot()["clusters"][0]["jobs"][0]["next_schedule_at"] == wall("2023-11-14 22:15:00")


def test_the_first_due_time_is_the_start_date_itself() -> None:
    schedule = Schedule.from_inputs(
        {"schedulerConfig.cycleType": "day", "schedulerConfig.startDate": "2018-01-24 19:56:19"}, 0.0
    )
    assert schedule.next_after(wall("2018-01-24 19:56:19"), inclusive=True) == wall("2018-01-24 19:56:19")
    assert schedule.next_after(0.0) == wall("2018-01-24 19:56:19")


# -- PENDING: a cluster's concurrency -------------------------------------------------------------------


@pytest.fixture
def queued(clock: FakeClock) -> CdmBackend:
    return CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=DURATION, cluster_concurrency=1)


def test_runs_past_the_concurrency_wait_pending_first_come_first_served(queued: CdmBackend, clock: FakeClock) -> None:
    for name in ("a", "b", "c"):
        create(queued, name)
    assert start(queued, "a")["status"] == "BOOTING"
    clock.sleep(1.0)
    b = start(queued, "b")
    assert (b["status"], b["progress"], b["write_rows"]) == ("PENDING", 0.0, 0)
    clock.sleep(1.0)
    assert start(queued, "c")["status"] == "PENDING"
    assert [entry["job_name"] for entry in queued.snapshot()["clusters"][0]["queue"]] == ["b", "c"]
    assert queued.show_job(RUNNING_1, "b")["jobs"][0]["status"] == "PENDING"
    clock.sleep(DURATION - 2.0)  # a ends at +10: b boots then, c still waits
    assert (latest(queued, "a")["status"], latest(queued, "b")["status"], latest(queued, "c")["status"]) == (
        "SUCCEEDED", "BOOTING", "PENDING",
    )  # fmt: skip
    b = latest(queued, "b")
    assert b["creation-date"] == int((START + 1.0) * 1000) and b["execute-date"] == int((START + DURATION) * 1000)
    clock.sleep(100.0)  # read long after: c started when b ended, not when read
    c = latest(queued, "c")
    assert c["status"] == "SUCCEEDED" and c["execute-date"] == int((START + 2 * DURATION) * 1000)
    assert [event["job_name"] for event in events(queued, "dequeued")] == ["b", "c"]


def test_a_pending_run_is_active_and_a_stop_ends_it_failed(queued: CdmBackend, clock: FakeClock) -> None:
    for name in ("a", "b", "c"):
        create(queued, name)
    start(queued, "a")
    start(queued, "b")
    start(queued, "c")
    assert code_of(queued.start_job, RUNNING_1, "b", {}, USER) == errors.CDM_JOB_RUNNING.code
    assert code_of(queued.delete_job, RUNNING_1, "b") == errors.CDM_JOB_IN_USE.code
    assert queued.stop_job(RUNNING_1, "b") == {"validation-result": []}
    stopped = latest(queued, "b")
    assert (stopped["status"], stopped["progress"], stopped["error-summary"]) == ("FAILED", -1.0, STOPPED_BY_USER)
    clock.sleep(DURATION)
    assert latest(queued, "c")["status"] == "BOOTING"  # c moved up; b never ran
    assert latest(queued, "b")["status"] == "FAILED"
    assert code_of(queued.stop_job, RUNNING_1, "b") == errors.CDM_JOB_NOT_RUNNING.code


def test_stopping_the_running_run_frees_its_slot_at_once(queued: CdmBackend, clock: FakeClock) -> None:
    create(queued, "a")
    create(queued, "b")
    start(queued, "a")
    start(queued, "b")
    clock.sleep(3.0)
    queued.stop_job(RUNNING_1, "a")
    assert latest(queued, "b")["status"] == "BOOTING"


def test_create_and_execute_answers_pending_for_a_queued_run(queued: CdmBackend) -> None:
    create(queued, "a")
    start(queued, "a")
    answer = queued.create_and_start([RUNNING_1], definition("b"), USER)["submissions"][0]
    assert (answer["status"], answer["progress"], answer["job-name"]) == ("PENDING", 0.0, "b")


def test_the_limit_is_per_cluster(queued: CdmBackend) -> None:
    create(queued, "a")
    create(queued, "b", cluster=RUNNING_2)
    start(queued, "a")
    assert start(queued, "b", cluster=RUNNING_2)["status"] == "BOOTING"


def test_retries_and_scheduled_runs_queue_too(queued: CdmBackend, clock: FakeClock) -> None:
    queued.set_script("flaky", Script(Outcome.FAILED, 2.0, count=1))
    create(queued, "flaky", retryJobConfig__retryJobType="RETRY_TRIPLE")
    create(queued, "long")
    start(queued, "flaky")
    clock.sleep(2.0)
    start(queued, "long")  # takes the slot before the retry is due
    clock.sleep(1.0)
    retry = latest(queued, "flaky")
    assert (retry["status"], retry["submission-id"]) == ("PENDING", 3)


def test_no_limit_by_default(backend: CdmBackend) -> None:
    for n in range(20):
        create(backend, f"job{n}")
        assert start(backend, f"job{n}")["status"] == "BOOTING"
    assert backend.snapshot()["clusters"][0]["concurrency"] is None


# -- BATCH_JOB: one subjob per table ---------------------------------------------------------------------


def test_a_batch_job_runs_one_subjob_per_table_and_fails_naming_the_failed_ones(
    backend: CdmBackend, clock: FakeClock
) -> None:
    backend.set_script("dump_customers", Script(Outcome.FAILED, 4.0, "no such table"))
    backend.set_script("dump_items", Script(duration_s=20.0))
    create(backend, "dump", job_type="BATCH_JOB", tables="orders&customers&items")
    parent = start(backend, "dump")
    assert (parent["job-name"], parent["status"], parent["submission-id"]) == ("dump", "BOOTING", 1)
    subjobs = [latest(backend, f"dump_{table}") for table in ("orders", "customers", "items")]
    assert [run["submission-id"] for run in subjobs] == [2, 3, 4] and all(r["status"] == "BOOTING" for r in subjobs)
    shown = backend.show_job(RUNNING_1, "dump_orders")["jobs"][0]
    assert shown["job_type"] == "NORMAL_JOB"
    assert {"name": "fromJobConfig.tableName", "value": "orders"} in shown["from-config-values"]["configs"][0]["inputs"]
    clock.sleep(5.0)
    assert latest(backend, "dump_customers")["status"] == "FAILED"
    running = latest(backend, "dump")
    assert running["status"] == "RUNNING" and 0 < running["progress"] < 100
    clock.sleep(10.0)  # orders done at +10, items still runs
    assert latest(backend, "dump")["status"] == "RUNNING"
    clock.sleep(5.0)
    done = latest(backend, "dump")
    assert (done["status"], done["progress"]) == ("FAILED", -1.0)
    assert done["error-summary"] == FAILED_SUBJOBS + "dump_customers (FAILED: no such table)"
    assert done["last-update-date"] == int((START + 20.0) * 1000)
    assert backend.list_jobs(RUNNING_1, job_type="BATCH_JOB")["jobs"][0]["status"] == "FAILED"


def test_a_batch_job_succeeds_when_all_its_subjobs_succeeded(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "dump", job_type="BATCH_JOB", tables="orders&customers")
    start(backend, "dump")
    assert code_of(backend.start_job, RUNNING_1, "dump", {}, USER) == errors.CDM_JOB_RUNNING.code
    clock.sleep(DURATION)
    done = latest(backend, "dump")
    subs = [latest(backend, f"dump_{table}")["counters"][COUNTER_GROUP] for table in ("orders", "customers")]
    assert done["status"] == "SUCCEEDED" and "error-summary" not in done
    assert done["counters"][COUNTER_GROUP]["ROWS_WRITTEN"] == sum(sub["ROWS_WRITTEN"] for sub in subs)
    second = start(backend, "dump")  # the subjobs are made anew for each run
    assert second["submission-id"] == 4 and latest(backend, "dump_orders")["submission-id"] == 5
    assert len(history(backend, "dump_orders")) == 1


def test_a_stopped_subjob_fails_its_batch_job(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "dump", job_type="BATCH_JOB", tables="orders&customers")
    start(backend, "dump")
    clock.sleep(2.0)
    backend.stop_job(RUNNING_1, "dump_orders")
    assert latest(backend, "dump")["status"] == "RUNNING"
    clock.sleep(DURATION)
    done = latest(backend, "dump")
    assert (
        done["status"] == "FAILED"
        and done["error-summary"] == FAILED_SUBJOBS + f"dump_orders (FAILED: {STOPPED_BY_USER})"
    )


def test_stopping_a_batch_job_stops_its_subjobs(queued: CdmBackend, clock: FakeClock) -> None:
    create(queued, "dump", job_type="BATCH_JOB", tables="orders&customers")
    assert start(queued, "dump")["status"] == "BOOTING"  # orders boots, customers waits for the slot
    assert latest(queued, "dump_customers")["status"] == "PENDING"
    clock.sleep(2.0)
    assert latest(queued, "dump")["status"] == "RUNNING"
    queued.stop_job(RUNNING_1, "dump")
    assert latest(queued, "dump")["error-summary"] == STOPPED_BY_USER
    assert latest(queued, "dump_orders")["status"] == latest(queued, "dump_customers")["status"] == "FAILED"
    assert queued.snapshot()["clusters"][0]["queue"] == []


def test_a_disposable_batch_job_takes_its_subjobs_with_it(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "dump", job_type="BATCH_JOB", tables="orders", schedulerConfig__disposableType="DELETE")
    assert start(backend, "dump")["isDeleteJob"] is True
    assert latest(backend, "dump_orders")["isDeleteJob"] is False  # the parent's option, not the subjob's
    clock.sleep(DURATION)
    assert_gone(backend, "dump")
    assert_gone(backend, "dump_orders")


def test_a_batch_job_without_a_table_runs_as_one_job(backend: CdmBackend, clock: FakeClock) -> None:
    create(backend, "dump", job_type="BATCH_JOB", tables="")
    start(backend, "dump")
    clock.sleep(DURATION)
    assert latest(backend, "dump")["status"] == "SUCCEEDED"
    assert [job["name"] for job in backend.list_jobs(RUNNING_1)["jobs"]] == []


def test_a_batch_job_is_refused_while_one_of_its_subjobs_runs(backend: CdmBackend) -> None:
    create(backend, "dump", job_type="BATCH_JOB", tables="orders")
    create(backend, "dump_orders")
    start(backend, "dump_orders")
    assert code_of(backend.start_job, RUNNING_1, "dump", {}, USER) == errors.CDM_JOB_RUNNING.code
    assert backend.job_status(RUNNING_1, "dump") == {"submissions": []}


# -- the admin view -------------------------------------------------------------------------------------


def test_the_snapshot_shows_options_queues_and_what_cdm_did(queued: CdmBackend, clock: FakeClock) -> None:
    create(queued, "once", schedulerConfig__disposableType="DELETE", retryJobConfig__retryJobType="RETRY_TRIPLE")
    create(queued, "waiting")
    start(queued, "once")
    start(queued, "waiting")
    state = queued.snapshot()
    (cluster, *_) = state["clusters"]
    once = next(job for job in cluster["jobs"] if job["name"] == "once")
    assert once["options"] == {"disposal": "DELETE", "retries": 3, "schedule": None, "tables": []}
    waiting = next(job for job in cluster["jobs"] if job["name"] == "waiting")
    assert waiting["runs"][0]["queued"] is True and waiting["runs"][0]["started_at"] is None
    assert cluster["concurrency"] == 1 and state["retry_delay_s"] == 1.0
    clock.sleep(DURATION)
    kinds = [event["event"] for event in queued.snapshot()["events"]]
    assert kinds == ["queued", "dequeued", "deleted"]
    queued.reset()
    assert queued.snapshot()["deleted"] == [] and queued.snapshot()["events"] == []


def test_backend_parameters_are_checked(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="retry_delay_s"):
        CdmBackend(DEFAULT_CLUSTERS, clock=clock, retry_delay_s=-1.0)
    with pytest.raises(ValueError, match="cluster_concurrency"):
        CdmBackend(DEFAULT_CLUSTERS, clock=clock, cluster_concurrency=0)
