"""Client-side pacing of CDM calls within Huawei's per-user, per-minute API quotas.

One :class:`QuotaLimiter` per credentials identity and role, process-wide (every transport of that role
that sends with the same credentials to the same endpoint shares it, whichever event loop or thread it
runs on), holding one pacer per quota group. The quota numbers come from ``api.endpoints``
(``quota_per_minute`` and ``quota_group``); endpoints without a quota are not paced. The two roles are
the workers' sync transport and the triggerer's async one: each takes its own share of every quota
(``[cdm] worker_quota_share`` and ``[cdm] triggerer_quota_share``, read in :mod:`.quota_shares`).

Each pacer is a token bucket in its GCRA form (a "theoretical arrival time"): calls go out at
``share x quota / 60`` per second sustained, with bursts of at most ``BURST_S`` seconds' worth of
calls. Any 60 s window therefore holds at most ``burst + 60 x rate`` calls: with the documented 120/min
and a share of 80%, 8 + 96 = 104 < 120.

The quota is the user's, not the process's: other processes (more workers, a second triggerer for high
availability, other tools) spend it too, and no process can see them. So the share adapts to the 429s
each process sees, as TCP adapts to losses:

* a 429 halves the rate this process allowed itself or, if lower, the rate it actually sent at over the
  last minute (never below ``MIN_RATE_FACTOR`` of the configured rate), and sets a **ceiling** at 90%
  of the rate at which the 429 came;
* nothing is sent for ``Retry-After`` seconds (or ``THROTTLED_PAUSE_S``: Huawei advises retrying "after
  a few seconds"; doubled for each further 429 that follows right after a pause, as the quota window
  is then still full), and calls already waiting take new places behind the pause;
* the rate recovers linearly (from zero to the configured rate over ``RECOVERY_S``) up to the ceiling,
  and the ceiling itself rises slowly (over ``PROBE_S``), so processes that share a quota settle
  just under it together, and one left alone regains its whole share within ``PROBE_S``.

Nothing here imports Airflow or an HTTP library; the clock and the sleeps are injectable (tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from airflow_provider_cdm.api.endpoints import Endpoint
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.settings import AUTH_AKSK, AUTH_PASSWORD, CdmSettings

DEFAULT_QUOTA_SHARE = 0.8  # of each documented quota, sustained
BURST_S = 5.0  # a burst holds at most this many seconds' worth of calls
BACKOFF_FACTOR = 0.5  # the rate after a 429, relative to the rate before it (or the rate used, if lower)
CEILING_FACTOR = 0.75  # the rate a recovery stops at, relative to the rate at which a 429 came
MIN_RATE_FACTOR = 0.1  # the rate never drops below this share of the configured rate
RECOVERY_S = 60.0  # time to grow back from zero to the configured rate (linear), up to the ceiling
PROBE_S = 2400.0  # time for the ceiling to rise from zero to the configured rate (linear)
USE_WINDOW_S = 60.0  # the rate a process used is measured over this window (CDM's quota window)
THROTTLED_PAUSE_S = 2.0  # silence after a 429 that carries no Retry-After
MAX_PAUSE_S = 60.0  # cap on a pause after a 429
STREAK_GAP_S = 5.0  # a 429 this soon after the previous one's pause continues its streak


class CallLimiter(Protocol):
    """What the async transport needs: wait for a call's turn, and hear about a 429."""

    async def acquire(self, endpoint: Endpoint) -> None: ...

    def throttled(self, endpoint: Endpoint, retry_after: float | None = None) -> None: ...


class BlockingCallLimiter(Protocol):
    """What the sync transport needs: the same, waiting by blocking the calling thread."""

    def acquire_blocking(self, endpoint: Endpoint, sleep: Callable[[float], None] = ...) -> None: ...

    def throttled(self, endpoint: Endpoint, retry_after: float | None = None) -> None: ...


def check_share(share: object) -> float:
    """A quota share: a number in (0, 1]."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise CdmConfigError("quota_share", f"got {share!r}", "a share of the quota, more than 0 and at most 1")
    return float(share)


@dataclass
class _Ticket:
    send_at: float
    tat: float
    epoch: int


@dataclass
class _Place:
    pacer: Pacer
    ticket: _Ticket
    delay: float


class Pacer:
    """One quota group's token bucket (GCRA). Not thread-safe: :class:`QuotaLimiter` locks around it."""

    def __init__(self, per_minute: int, share: float, now: float) -> None:
        self.per_minute = per_minute
        self.share = share
        self._factor = 1.0  # the allowed rate, relative to the configured one
        self._ceiling = 1.0  # where a recovery of _factor stops
        self._factor_at = now
        self._born = now
        self._tat = -math.inf  # theoretical arrival time of the next call
        self._sent: deque[float] = deque()  # send times of the calls of the last USE_WINDOW_S
        self._throttled_at = -math.inf  # the last 429
        self._pause = 0.0  # the pause after it
        self._streak = 0  # 429s in a row, each right after the previous one's pause
        self.epoch = 0  # bumped by a 429: callers waiting on older tickets take new ones
        self.throttles = 0

    @property
    def configured_rate(self) -> float:
        """Calls per second when nothing was throttled."""
        return self.per_minute * self.share / 60.0

    @property
    def burst(self) -> int:
        return max(1, math.floor(self.configured_rate * BURST_S))

    def rate(self, now: float) -> float:
        """The current rate (calls per second), after any back-off and its recovery so far."""
        self._recover(now)
        return self.configured_rate * self._factor

    def reserve(self, now: float) -> _Ticket:
        """Take the next place: when to send, and what undoes it if the caller gives up."""
        interval = 1.0 / self.rate(now)
        tolerance = (self.burst - 1) * interval
        send_at = max(now, self._tat - tolerance)
        self._tat = max(self._tat, send_at) + interval
        self._forget_sent(now)
        self._sent.append(send_at)
        return _Ticket(send_at, self._tat, self.epoch)

    def used_rate(self, now: float) -> float:
        """Calls per second this pacer let out over the last minute (or its life, if shorter)."""
        self._forget_sent(now)
        sent = sum(1 for moment in self._sent if moment <= now)
        return sent / max(BURST_S, min(USE_WINDOW_S, now - self._born))

    def release(self, ticket: _Ticket, now: float) -> None:
        """Give back a place nobody used (only the last one taken can be given back)."""
        if ticket.epoch == self.epoch and ticket.tat == self._tat:
            self._tat -= 1.0 / self.rate(now)
            with contextlib.suppress(ValueError):
                self._sent.remove(ticket.send_at)

    def throttle(self, now: float, retry_after: float | None) -> None:
        """A 429 arrived: slow down below where it came, pause, and send waiting callers behind the pause.

        A 429 right after the pause of the previous one (a streak: the quota window is still full of
        older calls) doubles the pause instead of lowering the rate again.
        """
        self._recover(now)
        if now - self._throttled_at <= self._pause + STREAK_GAP_S:
            self._streak += 1
        else:
            at = min(self._factor, self.used_rate(now) / self.configured_rate)
            self._ceiling = max(MIN_RATE_FACTOR, at * CEILING_FACTOR)
            self._factor = max(MIN_RATE_FACTOR, at * BACKOFF_FACTOR)
            self._streak = 0
        self._factor_at = self._throttled_at = now
        if retry_after is None:
            pause = min(THROTTLED_PAUSE_S * 2**self._streak, MAX_PAUSE_S)
        else:
            pause = min(max(retry_after, 0.0), MAX_PAUSE_S)
        self._pause = pause
        tolerance = (self.burst - 1) / self.rate(now)
        self._tat = now + pause + tolerance  # the first call after the pause, then one per interval
        self.epoch += 1
        self.throttles += 1

    def _forget_sent(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - USE_WINDOW_S:
            self._sent.popleft()

    def _recover(self, now: float) -> None:
        if now > self._factor_at:
            elapsed = now - self._factor_at
            self._ceiling = min(1.0, self._ceiling + elapsed / PROBE_S)
            self._factor = min(self._ceiling, self._factor + elapsed / RECOVERY_S)
        self._factor_at = max(self._factor_at, now)


class QuotaLimiter:
    """Paces the calls of one credentials identity: a pacer per quota group of ``api.endpoints``."""

    def __init__(
        self,
        share: float = DEFAULT_QUOTA_SHARE,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._share = check_share(share)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._pacers: dict[str, Pacer] = {}

    @property
    def share(self) -> float:
        return self._share

    def set_share(self, share: float) -> None:
        """Change the share of every quota (the back-off state is kept)."""
        share = check_share(share)
        with self._lock:
            self._share = share
            for pacer in self._pacers.values():
                pacer.share = share

    def _pacer(self, endpoint: Endpoint) -> Pacer | None:
        if endpoint.quota_per_minute is None:
            return None
        pacer = self._pacers.get(endpoint.quota_group)
        if pacer is None:
            pacer = Pacer(endpoint.quota_per_minute, self._share, self._clock())
            self._pacers[endpoint.quota_group] = pacer
        return pacer

    def reserve(self, endpoint: Endpoint) -> float:
        """Take a place for one call without waiting; the seconds until it may be sent (0: now)."""
        with self._lock:
            pacer = self._pacer(endpoint)
            if pacer is None:
                return 0.0
            now = self._clock()
            return pacer.reserve(now).send_at - now

    async def acquire(self, endpoint: Endpoint) -> None:
        """Wait until a call to ``endpoint`` may be sent (at once when it has no quota)."""
        while (place := self._take(endpoint)) is not None:
            if place.delay > 0:
                try:
                    await self._sleep(place.delay)
                except BaseException:  # cancelled while waiting: the place goes back
                    self._give_back(place)
                    raise
            if self._still_valid(place):
                return
            # a 429 arrived while this call waited: queue again behind the pause

    def acquire_blocking(self, endpoint: Endpoint, sleep: Callable[[float], None] = time.sleep) -> None:
        """:meth:`acquire` for a thread that may block (the sync transport): the same places, the same rules."""
        while (place := self._take(endpoint)) is not None:
            if place.delay > 0:
                try:
                    sleep(place.delay)
                except BaseException:  # interrupted (a task killed or timed out): the place goes back
                    self._give_back(place)
                    raise
            if self._still_valid(place):
                return

    def _take(self, endpoint: Endpoint) -> _Place | None:
        """A place for one call to ``endpoint`` and the wait until it; None when it has no quota."""
        with self._lock:
            pacer = self._pacer(endpoint)
            if pacer is None:
                return None
            ticket = pacer.reserve(self._clock())
            return _Place(pacer, ticket, ticket.send_at - self._clock())

    def _give_back(self, place: _Place) -> None:
        with self._lock:
            place.pacer.release(place.ticket, self._clock())

    def _still_valid(self, place: _Place) -> bool:
        """Whether no 429 came while the caller waited for its place."""
        with self._lock:
            return place.pacer.epoch == place.ticket.epoch

    def throttled(self, endpoint: Endpoint, retry_after: float | None = None) -> None:
        """A 429 answered a call to ``endpoint``: back that quota group's pacer off."""
        with self._lock:
            pacer = self._pacer(endpoint)
            if pacer is not None:
                pacer.throttle(self._clock(), retry_after)

    def rate(self, endpoint: Endpoint) -> float:
        """Calls per second ``endpoint``'s quota group gets now (``math.inf`` without a quota)."""
        with self._lock:
            pacer = self._pacer(endpoint)
            return math.inf if pacer is None else pacer.rate(self._clock())

    def throttles(self, endpoint: Endpoint) -> int:
        """How many 429s backed ``endpoint``'s quota group off so far."""
        with self._lock:
            pacer = self._pacer(endpoint)
            return 0 if pacer is None else pacer.throttles


def credentials_identity(settings: CdmSettings) -> str:
    """Who a quota belongs to, as an opaque digest: the endpoint plus the AK, the IAM user or the token.

    Huawei counts quotas per user; two AKs of one user cannot be told apart here (each gets its own
    budget: lower the share when several credentials of one user call CDM from one process).
    """
    if settings.auth_type == AUTH_AKSK:
        who: list[str | None] = [AUTH_AKSK, settings.login]
    elif settings.auth_type == AUTH_PASSWORD:
        who = [AUTH_PASSWORD, settings.iam_endpoint, settings.domain, settings.login]
    else:
        who = [settings.auth_type, settings.token]
    return hashlib.sha256(json.dumps([settings.endpoint, *who]).encode()).hexdigest()


ROLE_TRIGGERER = "triggerer"  # the async transport: triggers in the triggerer
ROLE_WORKER = "worker"  # the sync transport: tasks on workers (and hooks anywhere)
_LIMITERS: dict[tuple[str, str], QuotaLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(settings: CdmSettings, share: float | None = None, *, role: str = ROLE_TRIGGERER) -> QuotaLimiter:
    """The process-wide limiter of ``settings``' credentials in ``role``; ``share`` (when given) becomes its share."""
    key = (role, credentials_identity(settings))
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = QuotaLimiter(DEFAULT_QUOTA_SHARE if share is None else share)
            return limiter
    if share is not None and share != limiter.share:
        limiter.set_share(share)
    return limiter


def reset_shared_limiters() -> None:
    """Forget every process-wide limiter (tests, like ``TOKEN_CACHE.clear()``)."""
    with _LIMITERS_LOCK:
        _LIMITERS.clear()


__all__ = [
    "DEFAULT_QUOTA_SHARE",
    "ROLE_TRIGGERER",
    "ROLE_WORKER",
    "BlockingCallLimiter",
    "CallLimiter",
    "QuotaLimiter",
    "check_share",
    "credentials_identity",
    "reset_shared_limiters",
    "shared_limiter",
]
