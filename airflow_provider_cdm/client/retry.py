"""When and how long to retry: one policy for the sync (``tenacity.Retrying``) and async
(``tenacity.AsyncRetrying``) transports.

Retried: connection errors, timeouts, undecodable answers, HTTP 5xx and 429, each only where the
transport marks the failed attempt retryable (a non-idempotent call is retried after an ambiguous
failure only with a reconciler, see :mod:`airflow_provider_cdm.client.reconcile`). Never retried:
any other 4xx, a 5xx carrying a CDM code of a definite refusal (see ``answers.http_failure``), a
valid JSON answer of the wrong shape. Backoff is exponential with full jitter, capped at
``max_backoff_s``; ``Retry-After`` (seconds or HTTP date) replaces it and is honoured as asked, not
capped: when it asks for more than the time budget has left, the loop gives up at once with the
failure instead of spending attempts early. Attempts and total time are both bounded.

Throttling (HTTP 429: the request certainly did not reach CDM) has a budget of its own: attempts
answered 429 do not count towards ``max_attempts``, and the call keeps trying for ``throttled_s``
(300 s by default, five times CDM's 60 s quota window) from its first attempt, so a burst of
throttling costs a task time, never the task. tenacity is imported only when a request is made.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError

if TYPE_CHECKING:
    from tenacity import RetryCallState


def is_transient_status(http_status: int) -> bool:
    """Whether an HTTP status says "try again later" (throttled or a server-side failure)."""
    return http_status == 429 or http_status >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None if absent or bad."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


class AttemptFailure(Exception):
    """One failed attempt, classified by the transport; the retry loop reads it, callers get ``error``.

    ``ambiguous``: the request may have reached CDM (read timeout, connection dropped after sending,
    5xx, unreadable success answer), so a non-idempotent call must be reconciled before it is re-sent.
    """

    def __init__(
        self, error: CdmApiError, *, retryable: bool, ambiguous: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, AttemptFailure) and exc.retryable


def is_throttled(exc: BaseException | None) -> bool:
    """Whether a failed attempt was answered 429 (throttled: CDM never saw the request)."""
    return isinstance(exc, AttemptFailure) and exc.error.http_status == 429


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and pacing of retries. ``max_attempts`` counts the first attempt; attempts answered 429
    count against ``throttled_s`` (the time from the first attempt) instead."""

    max_attempts: int = 8
    max_elapsed_s: float = 120.0
    throttled_s: float = 300.0
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    exponential_base: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise CdmConfigError("retry.max_attempts", f"got {self.max_attempts!r}", "an integer >= 1")
        for name in ("max_elapsed_s", "throttled_s", "exponential_base", "initial_backoff_s", "max_backoff_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise CdmConfigError(f"retry.{name}", f"got {value!r}", "a number >= 0")
        if self.max_elapsed_s <= 0:
            raise CdmConfigError("retry.max_elapsed_s", f"got {self.max_elapsed_s!r}", "a number of seconds > 0")
        if self.exponential_base < 1:
            raise CdmConfigError("retry.exponential_base", f"got {self.exponential_base!r}", "a number >= 1")
        if self.max_backoff_s < self.initial_backoff_s:
            raise CdmConfigError(
                "retry.max_backoff_s",
                f"{self.max_backoff_s!r} is below initial_backoff_s {self.initial_backoff_s!r}",
                "max_backoff_s >= initial_backoff_s",
            )
        if not isinstance(self.jitter, bool):
            raise CdmConfigError("retry.jitter", f"got {self.jitter!r}", "true or false")

    def backoff_s(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt ``attempt`` (1-based): full jitter over the capped exponential."""
        try:
            grown = self.initial_backoff_s * self.exponential_base ** (attempt - 1)
        except OverflowError:
            grown = self.max_backoff_s
        ceiling = min(self.max_backoff_s, grown)
        return ceiling * rng() if self.jitter else ceiling

    def budget_s(self, *, throttled: bool = False) -> float:
        """The time a call may spend from its first attempt: longer while CDM throttles it."""
        return self.throttled_s if throttled else self.max_elapsed_s

    def delay_s(self, attempt: int, retry_after: float | None, elapsed_s: float, *, throttled: bool = False) -> float:
        """The wait before the next attempt: ``Retry-After`` as asked, else the backoff; within the time budget."""
        delay = retry_after if retry_after is not None else self.backoff_s(attempt)
        return max(0.0, min(delay, self.budget_s(throttled=throttled) - elapsed_s))

    def outlasts_budget(self, retry_after: float | None, elapsed_s: float, *, throttled: bool = False) -> bool:
        """Whether the server asks to wait longer than the time budget has left: no use asking again."""
        return retry_after is not None and retry_after > self.budget_s(throttled=throttled) - elapsed_s

    def tenacity_kwargs(self, *, before_sleep: Callable[[RetryCallState], Any] | None = None) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` or ``AsyncRetrying`` (add ``sleep`` to inject one).

        The loop re-raises the last :class:`AttemptFailure` when it gives up.
        """
        import tenacity

        def elapsed(state: RetryCallState) -> float:
            # idle_for also counts waits that an injected sleep (tests) did not really spend.
            return max(state.seconds_since_start or 0.0, state.idle_for)

        throttled_attempts = 0  # of this call (the kwargs are made per call)
        throttled_waits = 0.0  # time waited after 429s: not spent from the budget of other failures

        def failure_of(state: RetryCallState) -> BaseException | None:
            return state.outcome.exception() if state.outcome else None

        def retry_after(state: RetryCallState) -> float | None:
            failure = failure_of(state)
            return failure.retry_after if isinstance(failure, AttemptFailure) else None

        def spent_on(state: RetryCallState, throttled: bool) -> float:
            return elapsed(state) if throttled else elapsed(state) - throttled_waits

        def wait(state: RetryCallState) -> float:
            nonlocal throttled_waits
            throttled = is_throttled(failure_of(state))
            delay = self.delay_s(
                state.attempt_number, retry_after(state), spent_on(state, throttled), throttled=throttled
            )
            throttled_waits += delay if throttled else 0.0
            return delay

        def stop(state: RetryCallState) -> bool:
            nonlocal throttled_attempts
            throttled = is_throttled(failure_of(state))
            spent = spent_on(state, throttled)
            throttled_attempts += throttled
            return (
                state.attempt_number - throttled_attempts >= self.max_attempts
                or spent >= self.budget_s(throttled=throttled)
                or self.outlasts_budget(retry_after(state), spent, throttled=throttled)
            )

        return {
            "retry": tenacity.retry_if_exception(_is_retryable),
            "wait": wait,
            "stop": stop,
            "before_sleep": before_sleep,
            "reraise": True,
        }
