"""Status semantics: one place decides terminal, success and failure."""

from __future__ import annotations

import pytest

from airflow_provider_cdm.api.statuses import ClusterStatus, JobStatus


@pytest.mark.parametrize(
    ("status", "active", "terminal", "success", "failure", "idle"),
    [
        ("BOOTING", True, False, False, False, False),
        ("RUNNING", True, False, False, False, False),
        ("SUCCEEDED", False, True, True, False, False),
        ("FAILED", False, True, False, True, False),
        ("FAILURE_ON_SUBMIT", False, True, False, True, False),
        ("UNKNOWN", False, True, False, True, False),
        ("NEVER_EXECUTED", False, False, False, False, True),
        ("NEW", False, False, False, False, True),
        ("PENDING", True, False, False, False, False),  # queued past the cluster's concurrency (dialects row 13)
    ],
)
def test_status_sets(status: str, active: bool, terminal: bool, success: bool, failure: bool, idle: bool) -> None:
    parsed = JobStatus.parse(status)
    assert parsed is not None
    assert (parsed.is_active, parsed.is_terminal, parsed.is_success, parsed.is_failure, parsed.is_idle) == (
        active,
        terminal,
        success,
        failure,
        idle,
    )


def test_every_status_is_in_exactly_one_class() -> None:
    for status in JobStatus:
        assert [status.is_active, status.is_terminal, status.is_idle].count(True) == 1, status


def test_parse_is_lenient_about_case_and_strict_about_unknown_values() -> None:
    assert JobStatus.parse(" succeeded ") is JobStatus.SUCCEEDED
    assert JobStatus.parse("STOPPED") is None
    assert JobStatus.parse(None) is None
    assert JobStatus.parse(3) is None


def test_cluster_status_codes() -> None:
    assert ClusterStatus.parse(200) is ClusterStatus.NORMAL
    assert ClusterStatus.parse("900") is ClusterStatus.STOPPED
    assert ClusterStatus.NORMAL.can_run_jobs and not ClusterStatus.STOPPED.can_run_jobs
    assert ClusterStatus.parse("999") is None
