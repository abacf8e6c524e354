"""RetryPolicy: pacing, bounds, Retry-After, and tenacity kwargs that work for sync and async loops."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import tenacity

from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError
from airflow_provider_cdm.client.retry import AttemptFailure, RetryPolicy, is_transient_status, parse_retry_after

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_exponential_backoff_is_capped() -> None:
    policy = RetryPolicy(initial_backoff_s=1, max_backoff_s=5, exponential_base=2, jitter=False)
    assert [policy.backoff_s(attempt) for attempt in range(1, 6)] == [1, 2, 4, 5, 5]
    assert policy.backoff_s(5000) == 5


def test_full_jitter_spreads_over_zero_to_the_ceiling() -> None:
    policy = RetryPolicy(initial_backoff_s=2, max_backoff_s=30)
    assert policy.backoff_s(3, rng=lambda: 0.0) == 0.0
    assert policy.backoff_s(3, rng=lambda: 0.5) == 4.0
    assert policy.backoff_s(3, rng=lambda: 0.999) == pytest.approx(7.992)


def test_retry_after_replaces_the_backoff_uncapped_and_within_the_budget() -> None:
    policy = RetryPolicy(max_elapsed_s=60, initial_backoff_s=1, max_backoff_s=20, jitter=False)
    assert policy.delay_s(1, 7.0, elapsed_s=0) == 7.0
    assert policy.delay_s(1, 45.0, elapsed_s=0) == 45.0  # what the server asks, above max_backoff_s
    assert policy.delay_s(1, 600.0, elapsed_s=0) == 60.0  # (the loop stops instead: outlasts_budget)
    assert policy.delay_s(3, None, elapsed_s=0) == 4.0
    assert policy.delay_s(3, 15.0, elapsed_s=50) == 10.0
    assert policy.delay_s(3, None, elapsed_s=70) == 0.0
    assert policy.outlasts_budget(15.0, elapsed_s=50) and policy.outlasts_budget(61.0, elapsed_s=0)
    assert not policy.outlasts_budget(10.0, elapsed_s=50) and not policy.outlasts_budget(None, elapsed_s=59)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        (format_datetime(NOW + timedelta(seconds=12), usegmt=True), 12.0),
        (format_datetime(NOW - timedelta(seconds=12), usegmt=True), 0.0),
        ("Wed, 01 Jan 2025 12:00:30", 30.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (404, False),
        (409, False),
    ],
)
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"max_attempts": True}, "retry.max_attempts"),
        ({"initial_backoff_s": -1}, "retry.initial_backoff_s"),
        ({"max_elapsed_s": 0}, "retry.max_elapsed_s"),
        ({"exponential_base": 0.5}, "retry.exponential_base"),
        ({"initial_backoff_s": 10, "max_backoff_s": 5}, "retry.max_backoff_s"),
        ({"jitter": "yes"}, "retry.jitter"),
    ],
)
def test_bad_policies_are_refused(values: dict[str, Any], setting: str) -> None:
    with pytest.raises(CdmConfigError) as caught:
        RetryPolicy(**values)
    assert caught.value.setting == setting


def failure(retryable: bool, retry_after: float | None = None) -> AttemptFailure:
    return AttemptFailure(CdmApiError("boom", http_status=503), retryable=retryable, retry_after=retry_after)


class Flaky:
    """Fails with the given failures, then returns "done"."""

    def __init__(self, *failures: AttemptFailure) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def test_sync_loop_retries_retryable_failures_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff_s=1, max_backoff_s=8, jitter=False)
    waits: list[float] = []
    flaky = Flaky(failure(True), failure(True, retry_after=6), failure(True))

    assert tenacity.Retrying(sleep=waits.append, **policy.tenacity_kwargs())(flaky) == "done"
    assert (flaky.calls, waits) == (4, [1.0, 6.0, 4.0])


def test_retry_after_above_max_backoff_is_waited_in_full() -> None:
    policy = RetryPolicy(max_attempts=5, max_elapsed_s=120, initial_backoff_s=1, max_backoff_s=30, jitter=False)
    waits: list[float] = []
    flaky = Flaky(failure(True, retry_after=60))

    assert tenacity.Retrying(sleep=waits.append, **policy.tenacity_kwargs())(flaky) == "done"
    assert (flaky.calls, waits) == (2, [60.0])


def test_retry_after_beyond_the_time_budget_gives_up_at_once() -> None:
    policy = RetryPolicy(max_attempts=8, max_elapsed_s=120, initial_backoff_s=1, max_backoff_s=30, jitter=False)
    waits: list[float] = []
    flaky = Flaky(failure(True), failure(True, retry_after=600), failure(True))

    with pytest.raises(AttemptFailure) as caught:
        tenacity.Retrying(sleep=waits.append, **policy.tenacity_kwargs())(flaky)
    assert caught.value.retry_after == 600  # the failure that asked for too long, not a later one
    assert (flaky.calls, waits) == (2, [1.0])


def test_sync_loop_stops_at_max_attempts_and_reraises() -> None:
    waits: list[float] = []
    flaky = Flaky(*(failure(True) for _ in range(10)))
    with pytest.raises(AttemptFailure):
        tenacity.Retrying(sleep=waits.append, **RetryPolicy(max_attempts=3, jitter=False).tenacity_kwargs())(flaky)
    assert flaky.calls == 3
    assert len(waits) == 2


def test_sync_loop_stops_when_the_time_budget_is_spent() -> None:
    policy = RetryPolicy(max_attempts=100, max_elapsed_s=6, initial_backoff_s=1, max_backoff_s=100, jitter=False)
    waits: list[float] = []
    flaky = Flaky(*(failure(True) for _ in range(100)))
    with pytest.raises(AttemptFailure):
        tenacity.Retrying(sleep=waits.append, **policy.tenacity_kwargs())(flaky)
    assert waits == [1.0, 2.0, 3.0]  # the last wait is cut to what is left of the 6 s
    assert flaky.calls == 4


def throttled(retry_after: float | None = None) -> AttemptFailure:
    return AttemptFailure(CdmApiError("over ratelimit", http_status=429), retryable=True, retry_after=retry_after)


def test_throttled_attempts_do_not_count_towards_max_attempts() -> None:
    """CDM's quota window is 60 s: 8 attempts in ~40 s would end a task that only had to wait."""
    policy = RetryPolicy(
        max_attempts=3, max_elapsed_s=30, throttled_s=300, initial_backoff_s=1, max_backoff_s=8, jitter=False
    )
    waits: list[float] = []
    flaky = Flaky(*(throttled() for _ in range(20)), failure(True))
    assert tenacity.Retrying(sleep=waits.append, **policy.tenacity_kwargs())(flaky) == "done"
    assert flaky.calls == 22
    assert sum(waits) > 60  # longer than the quota window


def test_throttling_is_retried_until_its_own_budget_is_spent() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed_s=30, throttled_s=100, initial_backoff_s=10, max_backoff_s=10)
    waits: list[float] = []
    flaky = Flaky(*(throttled() for _ in range(50)))
    with pytest.raises(AttemptFailure):
        tenacity.Retrying(sleep=waits.append, **policy.tenacity_kwargs(), before=None)(flaky)
    assert sum(waits) == pytest.approx(100, abs=10.01)  # the throttled budget, not the 30 s of other failures
    assert policy.outlasts_budget(90, 0, throttled=True) is False
    assert policy.outlasts_budget(90, 0) is True


def test_other_failures_keep_their_attempt_count_between_429s() -> None:
    policy = RetryPolicy(max_attempts=3, max_elapsed_s=600, throttled_s=600, initial_backoff_s=1, max_backoff_s=1)
    flaky = Flaky(failure(True), throttled(), failure(True), throttled(), failure(True), failure(True))
    with pytest.raises(AttemptFailure) as caught:
        tenacity.Retrying(sleep=lambda _: None, **policy.tenacity_kwargs())(flaky)
    assert caught.value.error.http_status == 503
    assert flaky.calls == 5  # three 503s end it: the two 429s between them did not count


def test_non_retryable_failures_and_other_errors_end_at_once() -> None:
    waits: list[float] = []
    flaky = Flaky(failure(False))
    with pytest.raises(AttemptFailure):
        tenacity.Retrying(sleep=waits.append, **RetryPolicy().tenacity_kwargs())(flaky)

    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        tenacity.Retrying(sleep=waits.append, **RetryPolicy().tenacity_kwargs())(broken)
    assert (flaky.calls, waits) == (1, [])


def test_the_same_kwargs_drive_an_async_loop() -> None:
    policy = RetryPolicy(max_attempts=4, initial_backoff_s=0.5, max_backoff_s=8, jitter=False)
    waits: list[float] = []
    flaky = Flaky(failure(True), failure(True, retry_after=3))

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def attempt() -> str:
        return flaky()

    async def main() -> str:
        return await tenacity.AsyncRetrying(sleep=sleep, **policy.tenacity_kwargs())(attempt)

    assert asyncio.run(main()) == "done"
    assert (flaky.calls, waits) == (3, [0.5, 3.0])
