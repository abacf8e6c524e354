"""Judging status answers against the watched run: never the previous run's result, never empty = success."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cdm.api.job_options import Disposal, JobOptions
from airflow_provider_cdm.api.statuses import JobStatus
from airflow_provider_cdm.client.models import Submission
from airflow_provider_cdm.client.runs import CLOCK_SKEW_MS, NEVER_EXECUTED_GRACE_S, RunRef, StatusRules, Verdict

T0 = 1_790_000_000_000  # ms


def submission(status: str, submission_id: int | None = 7, created_ms: int | None = T0, **extra: Any) -> Submission:
    raw: dict[str, Any] = {"job-name": "orders", "status": status, "submission-id": submission_id, **extra}
    if created_ms is not None:
        raw["creation-date"] = created_ms
    return Submission.from_api(raw)


RULES = StatusRules()
RUN = RunRef("orders", "c1", submission_id=7, not_before_ms=T0, skew_ms=0)  # as RunRef.of makes it


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("BOOTING", Verdict.WAITING),
        ("RUNNING", Verdict.WAITING),
        ("PENDING", Verdict.WAITING),
        ("SUCCEEDED", Verdict.SUCCEEDED),
        ("FAILED", Verdict.FAILED),
        ("FAILURE_ON_SUBMIT", Verdict.FAILED),
        ("UNKNOWN", Verdict.FAILED),
        ("NEVER_EXECUTED", Verdict.WAITING),  # dated as CDM answered it: within the grace after the start
        ("SOMETHING_NEW", Verdict.WAITING),
    ],
)
def test_default_rules(status: str, verdict: Verdict) -> None:
    assert RULES.judge(submission(status), RUN) is verdict


def test_empty_answer_is_never_success() -> None:
    assert RULES.judge(None, RUN) is Verdict.WAITING
    assert StatusRules.from_names(success=["SUCCEEDED", "NEVER_EXECUTED"], failure=[]).judge(None) is Verdict.WAITING


def test_previous_runs_success_is_not_this_runs_result() -> None:
    assert RULES.judge(submission("SUCCEEDED", submission_id=6), RUN) is Verdict.WAITING
    assert RULES.judge(submission("RUNNING", submission_id=8), RUN) is Verdict.SUPERSEDED


def test_runs_without_ids_are_matched_by_creation_date_from_this_machines_clock_with_skew() -> None:
    run = RunRef.of(submission("BOOTING", submission_id=None, created_ms=None), "c1", sent_at_ms=T0)
    assert (run.not_before_ms, run.skew_ms) == (T0, CLOCK_SKEW_MS)
    old = submission("SUCCEEDED", submission_id=None, created_ms=T0 - CLOCK_SKEW_MS - 1)
    ours = submission("SUCCEEDED", submission_id=None, created_ms=T0 - 1000)  # within the clock-skew allowance
    assert RULES.judge(old, run) is Verdict.WAITING
    assert RULES.judge(ours, run) is Verdict.SUCCEEDED


def test_runs_without_ids_are_matched_exactly_against_cdms_own_creation_date() -> None:
    run = RunRef.of(submission("BOOTING", submission_id=None, created_ms=T0), "c1", sent_at_ms=T0 + 5_000)
    assert (run.not_before_ms, run.skew_ms) == (T0, 0)  # CDM's date wins over the local one, no skew
    assert RULES.judge(submission("SUCCEEDED", submission_id=None, created_ms=T0), run) is Verdict.SUCCEEDED
    assert RULES.judge(submission("SUCCEEDED", submission_id=None, created_ms=T0 - 1), run) is Verdict.WAITING


def test_after_a_restart_the_previous_runs_success_is_not_taken_for_ours() -> None:
    # Our run (no submission id) was created at T0; the status read after a restart of the waiter shows
    # the previous run, created 120 s earlier and SUCCEEDED: well within 5 minutes, but not ours.
    run = RunRef.from_json(RunRef.of(submission("BOOTING", submission_id=None), "c1").to_json())
    previous = submission("SUCCEEDED", submission_id=None, created_ms=T0 - 120_000)
    assert RULES.judge(previous, run) is Verdict.WAITING


def test_payloads_without_skew_keep_the_local_clock_allowance() -> None:
    old_payload = {"job_name": "orders", "cluster_id": "c1", "submission_id": None, "not_before_ms": T0}
    run = RunRef.from_json(old_payload)
    assert run.skew_ms == CLOCK_SKEW_MS
    assert run.to_json() == old_payload  # the default is not written: payloads stay as they were
    assert RunRef.from_json({**old_payload, "skew_ms": None}) == run
    with pytest.raises(ValueError, match="skew_ms"):
        RunRef.from_json({**old_payload, "skew_ms": -1})


def test_custom_rules_and_refusals() -> None:
    rules = StatusRules.from_names(success=["succeeded", "unknown"], failure=["FAILED"])
    assert rules.judge(submission("UNKNOWN")) is Verdict.SUCCEEDED
    with pytest.raises(ValueError, match="'DONE'"):
        StatusRules.from_names(success=["DONE"])
    with pytest.raises(ValueError, match="both success and failure"):
        StatusRules.from_names(success=["FAILED"], failure=["FAILED"])


def test_one_set_given_takes_the_others_defaults_minus_it() -> None:
    rules = StatusRules.from_names(success=["SUCCEEDED", "UNKNOWN"])
    assert rules.judge(submission("UNKNOWN")) is Verdict.SUCCEEDED
    assert rules.judge(submission("FAILED")) is Verdict.FAILED
    rules = StatusRules.from_names(failure=["SUCCEEDED"])
    assert rules.judge(submission("SUCCEEDED")) is Verdict.FAILED


@pytest.mark.parametrize("status", ["FAILURE_ON_SUBMIT", "UNKNOWN"])
def test_a_terminal_status_outside_both_sets_fails_rather_than_waiting_forever(status: str) -> None:
    rules = StatusRules.from_names(success=["SUCCEEDED"], failure=["FAILED"])
    assert rules.judge(submission(status)) is Verdict.FAILED


def test_failure_statuses_can_add_non_terminal_ones() -> None:
    assert StatusRules.from_names(failure=["FAILED", "PENDING"]).judge(submission("PENDING")) is Verdict.FAILED


def test_json_round_trips() -> None:
    assert RunRef.from_json(RUN.to_json()) == RUN
    assert RUN.to_json()["skew_ms"] == 0
    rules = StatusRules.from_names(success=["SUCCEEDED"], failure=["FAILED"])
    assert StatusRules.from_json(rules.to_json()) == rules
    assert RunRef.of(submission("BOOTING"), "c1") == RUN
    assert JobStatus.NEVER_EXECUTED not in StatusRules().failure  # "no run yet", see below
    with_options = RunRef("orders", "c1", 7, T0, 0, JobOptions(Disposal.DELETE_AFTER_SUCCEED, 3, True))
    assert RunRef.from_json(with_options.to_json()) == with_options
    assert "options" not in RUN.to_json()


def test_never_executed_is_no_run_yet_for_a_watched_job() -> None:
    """Sqoop 2 answers NEVER_EXECUTED for a job that never ran: a sensor that watches it keeps waiting."""
    watched = RunRef("orders", "c1")  # a sensor's: the job's latest run, whichever it is
    hours_later = submission("NEVER_EXECUTED", submission_id=None, created_ms=T0 + 3_600_000)
    assert RULES.judge(hours_later, watched) is Verdict.WAITING
    assert RULES.judge(hours_later, RunRef("orders", "c1", submission_id=7)) is Verdict.WAITING  # no start instant


def test_never_executed_after_the_tasks_own_start_has_a_bounded_grace() -> None:
    grace_ms = int(NEVER_EXECUTED_GRACE_S * 1000)
    just_after = submission("NEVER_EXECUTED", submission_id=None, created_ms=T0 + grace_ms - 1)
    too_late = submission("NEVER_EXECUTED", submission_id=None, created_ms=T0 + grace_ms)
    assert RULES.judge(just_after, RUN) is Verdict.WAITING
    assert RULES.judge(too_late, RUN) is Verdict.FAILED
    undated = submission("NEVER_EXECUTED", submission_id=None, created_ms=None)
    assert RULES.judge(undated, RUN, now_s=(T0 + grace_ms - 1) / 1000) is Verdict.WAITING
    assert RULES.judge(undated, RUN, now_s=(T0 + grace_ms) / 1000) is Verdict.FAILED
    # Named by the user, NEVER_EXECUTED means what the user says, at once.
    assert StatusRules.from_names(failure=["FAILED", "NEVER_EXECUTED"]).judge(just_after, RUN) is Verdict.FAILED


def test_pending_is_a_run_under_way() -> None:
    """PENDING: queued past the cluster's concurrency (cdm-dialects.md row 13): a stop has something to stop."""
    assert JobStatus.PENDING.is_active and not JobStatus.PENDING.is_idle


def test_a_run_is_pinned_only_by_ids_or_by_cdms_own_creation_date() -> None:
    listed = submission("SUCCEEDED", submission_id=None, created_ms=T0)  # a job-list entry: no id
    assert RUN.pinned_relation(listed) == 0
    assert RUN.pinned_relation(submission("SUCCEEDED", submission_id=None, created_ms=T0 + 1)) == 0  # rounding
    assert RUN.pinned_relation(submission("SUCCEEDED", submission_id=None, created_ms=T0 - 2)) == -1
    assert RUN.pinned_relation(submission("SUCCEEDED", submission_id=None, created_ms=T0 + 2)) == 1
    assert RUN.pinned_relation(submission("SUCCEEDED", submission_id=None, created_ms=None)) is None
    assert RUN.pinned_relation(submission("SUCCEEDED", submission_id=8, created_ms=T0)) == 1  # ids decide
    by_local_clock = RunRef("orders", "c1", submission_id=7, not_before_ms=T0)  # skew allowed: pins nothing
    assert by_local_clock.pinned_relation(listed) is None and by_local_clock.relation(listed) == 0
