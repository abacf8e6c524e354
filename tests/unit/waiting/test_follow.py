"""A wait across answers: CDM's retries of a failed run (RETRY_TRIPLE) and jobs CDM deletes after their run."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cdm.api.job_options import Disposal, JobOptions
from airflow_provider_cdm.client import follow
from airflow_provider_cdm.client.follow import RunFollower
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import RunRef, StatusRules, Verdict
from tests.clock import FakeClock

T0_S = 1_790_000_000.0


def answer(status: str, submission_id: int | None, *, at_s: float = T0_S, **extra: Any) -> Submission:
    raw = {"job-name": "orders", "status": status, "submission-id": submission_id, "creation-date": int(at_s * 1000)}
    raw["last-update-date"] = int(at_s * 1000)
    return Submission.from_api({**raw, **extra})


def follower(options: JobOptions | None, clock: FakeClock) -> RunFollower:
    run = RunRef("orders", "c1", 7, int(T0_S * 1000), 0, options)
    return RunFollower(run, StatusRules(), clock=clock)


RETRY_TRIPLE = JobOptions(retries=3)


def test_a_failed_run_of_a_job_cdm_retries_waits_for_the_retry_and_reports_it() -> None:
    clock = FakeClock(T0_S + 5)
    watch = follower(RETRY_TRIPLE, clock)
    first = watch.on_answer(answer("FAILED", 7, at_s=T0_S + 5))
    assert first.verdict is Verdict.WAITING and "RETRY_TRIPLE" in first.message
    retry = answer("RUNNING", 8, at_s=T0_S + 6)
    assert watch.on_answer(retry).verdict is Verdict.SUPERSEDED  # the caller reads the history
    assert watch.on_history(answer("FAILED", 7, at_s=T0_S + 5), retry).verdict is Verdict.WAITING
    assert watch.run.submission_id == 8 and watch.run.options == RETRY_TRIPLE
    done = watch.on_answer(answer("SUCCEEDED", 8, at_s=T0_S + 6))
    assert done.verdict is Verdict.SUCCEEDED and done.submission is not None and done.submission.submission_id == 8


def test_the_failure_stands_when_no_retry_comes_within_the_grace() -> None:
    clock = FakeClock(T0_S + 5)
    watch = follower(RETRY_TRIPLE, clock)
    failed = answer("FAILED", 7, at_s=T0_S + 5)
    assert watch.on_answer(failed).verdict is Verdict.WAITING
    clock.sleep(follow.RETRY_GRACE_S - 1)
    assert watch.on_answer(failed).verdict is Verdict.WAITING
    clock.sleep(1)
    assert watch.on_answer(failed).verdict is Verdict.FAILED


def test_without_retries_a_failure_is_final_and_the_options_are_read_only_when_an_answer_needs_them() -> None:
    clock = FakeClock(T0_S)
    watch = follower(None, clock)
    assert not watch.needs_options(answer("RUNNING", 7, isDeleteJob=False))  # an ordinary wait: no call more
    assert watch.needs_options(answer("BOOTING", 7))  # a sparse answer: the job may be gone at the next read
    assert watch.needs_options(answer("FAILED", 7))  # CDM may retry it
    assert watch.needs_options(answer("RUNNING", 7, isDeleteJob=True))  # CDM deletes the job after it
    assert not watch.needs_options(answer("FAILED", 6))  # not our run
    watch.learn(JobOptions())
    assert not watch.needs_options(answer("FAILED", 7))
    assert watch.on_answer(answer("FAILED", 7)).verdict is Verdict.FAILED


def test_a_delete_after_succeed_job_that_vanishes_after_its_run_was_seen_succeeded() -> None:
    options = JobOptions(Disposal.DELETE_AFTER_SUCCEED)
    latest = RunFollower(RunRef("orders", "c1", options=options), StatusRules(), clock=FakeClock(T0_S))
    assert latest.on_gone() is None  # a sensor that never saw a run of the job: nothing is known
    watch = follower(options, FakeClock(T0_S))
    started = watch.on_gone()  # the task started the run: it was there, and the job went as asked
    assert started is not None and started.verdict is Verdict.SUCCEEDED
    watch.on_answer(answer("RUNNING", 7, progress=40, write_rows=400, isDeleteJob=True))
    gone = watch.on_gone()
    assert gone is not None and gone.verdict is Verdict.SUCCEEDED
    assert gone.submission is not None and gone.submission.status_text == "SUCCEEDED"
    assert gone.submission.submission_id == 7 and gone.submission.rows_written is None  # 400 was not the total
    assert "DELETE_AFTER_SUCCEED" in gone.message


@pytest.mark.parametrize("options", [JobOptions(Disposal.DELETE), None])
def test_a_delete_job_that_vanishes_before_its_outcome_was_read_fails_saying_so(options: JobOptions | None) -> None:
    watch = follower(options, FakeClock(T0_S))
    watch.on_answer(answer("RUNNING", 7, isDeleteJob=True))
    gone = watch.on_gone()
    assert gone is not None and gone.verdict is Verdict.FAILED
    assert "before the run's outcome could be read" in gone.message


def test_a_job_someone_else_deleted_is_reported_missing() -> None:
    watch = follower(JobOptions(), FakeClock(T0_S))
    watch.on_answer(answer("RUNNING", 7))
    assert watch.on_gone() is None


def test_options_are_read_from_a_definition_as_cdm_reads_it_back() -> None:
    definition = {
        "driver-config-values": {
            "configs": [
                {
                    "name": "retryJobConfig",
                    "inputs": [{"name": "retryJobConfig.retryJobType", "value": "RETRY_TRIPLE"}],
                },
                {
                    "name": "schedulerConfig",
                    "inputs": [
                        {"name": "schedulerConfig.isSchedulerJob", "value": "true"},
                        {"name": "schedulerConfig.disposableType", "value": "DELETE%5FAFTER%5FSUCCEED"},
                    ],
                },
            ]
        }
    }
    assert JobOptions.of_definition(definition) == JobOptions(Disposal.DELETE_AFTER_SUCCEED, 3, True)
    assert JobOptions.of_definition({}) == JobOptions()


def test_a_run_started_without_an_id_takes_the_id_cdm_reports_for_it_later() -> None:
    """Sparse start answers have no submission-id (cdm-dialects.md row 12): the status read pins it by date."""
    run = RunRef("orders", "c1", None, int(T0_S * 1000), 0)
    watch = RunFollower(run, StatusRules(), clock=FakeClock(T0_S))
    watch.on_answer(answer("RUNNING", 9, at_s=T0_S + 60))  # someone's later run: not ours
    assert watch.run.submission_id is None
    watch.on_answer(answer("RUNNING", 7))
    assert watch.run.submission_id == 7
