"""QuotaLimiter on a deterministic clock: the documented quotas with headroom, bursts smoothed, one budget
per quota group and per credentials identity, back-off on 429 and recovery, waiting callers re-queued."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.rate_limit import (
    CEILING_FACTOR,
    MIN_RATE_FACTOR,
    PROBE_S,
    RECOVERY_S,
    THROTTLED_PAUSE_S,
    QuotaLimiter,
    check_share,
    credentials_identity,
    reset_shared_limiters,
    shared_limiter,
)
from tests.unit.client.conftest import make_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> QuotaLimiter:
    return QuotaLimiter(clock=clock)


def test_a_burst_goes_at_once_then_one_call_per_interval(limiter: QuotaLimiter) -> None:
    # 80% of 120/min = 1.6 calls/s; a burst holds 5 s worth: 8 calls.
    waits = [limiter.reserve(endpoints.JOB_STATUS) for _ in range(12)]
    assert waits[:8] == [0.0] * 8
    assert waits[8:] == pytest.approx([0.625, 1.25, 1.875, 2.5])
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6)


def test_no_minute_holds_more_than_the_share_plus_one_burst(clock: FakeClock) -> None:
    """A caller that always wants to send: every 60 s window stays well under the documented 120."""

    async def greedy() -> list[float]:
        async def fake_sleep(seconds: float) -> None:
            clock.now += seconds

        limiter = QuotaLimiter(clock=clock, sleep=fake_sleep)
        sent = []
        while clock.now < 1_000.0 + 600:
            await limiter.acquire(endpoints.JOB_STATUS)
            sent.append(clock.now)
        return sent

    sent = asyncio.run(greedy())
    window = deque[float]()
    busiest = 0
    for moment in sent:
        window.append(moment)
        while window[0] <= moment - 60:
            window.popleft()
        busiest = max(busiest, len(window))
    assert 8 + 95 <= busiest <= 8 + 96  # one burst plus 80% of the quota
    assert busiest < 120  # the documented quota
    assert endpoints.JOB_STATUS.quota_per_minute == 120
    assert len(sent) == pytest.approx(8 + 600 * 1.6, abs=2)  # and it does get its share


def test_the_share_is_configurable(clock: FakeClock) -> None:
    half = QuotaLimiter(0.5, clock=clock)
    waits = [half.reserve(endpoints.JOB_STATUS) for _ in range(7)]
    assert waits == pytest.approx([0, 0, 0, 0, 0, 1.0, 2.0])  # 1 call/s, bursts of 5
    half.set_share(1.0)
    assert half.rate(endpoints.JOB_STATUS) == pytest.approx(2.0)
    for bad in (0, 1.5, -0.1, True, "0.5", None):
        with pytest.raises(CdmConfigError, match="quota_share"):
            check_share(bad)


def test_each_quota_group_has_its_own_budget(limiter: QuotaLimiter) -> None:
    for _ in range(8):
        assert limiter.reserve(endpoints.LIST_JOBS) == 0
    # show one job and list jobs are one API with one quota: the burst is spent for both
    assert limiter.reserve(endpoints.SHOW_JOB) == pytest.approx(0.625)
    assert limiter.reserve(endpoints.JOB_STATUS) == 0  # status has its own
    assert limiter.reserve(endpoints.LIST_SUBMISSIONS) == 0  # and so has the run history
    # start has 1,200/min: 16 calls/s, bursts of 80
    assert [limiter.reserve(endpoints.START_JOB) for _ in range(81)][-1] == pytest.approx(1 / 16)


def test_calls_without_a_quota_are_never_paced(limiter: QuotaLimiter) -> None:
    assert endpoints.LIST_CLUSTERS.quota_per_minute is None
    assert all(limiter.reserve(endpoints.LIST_CLUSTERS) == 0 for _ in range(1_000))
    assert all(limiter.reserve(endpoints.IAM_TOKEN) == 0 for _ in range(1_000))


def send_for(limiter: QuotaLimiter, clock: FakeClock, seconds: float, endpoint: endpoints.Endpoint) -> int:
    """Send as fast as the limiter allows for ``seconds`` (fake clock); the number of calls sent."""
    end, sent = clock.now + seconds, 0
    while True:
        wait = limiter.reserve(endpoint)
        if clock.now + wait > end:
            return sent
        clock.now += wait
        sent += 1


def test_a_429_pauses_halves_the_rate_and_it_recovers(limiter: QuotaLimiter, clock: FakeClock) -> None:
    send_for(limiter, clock, 60.0, endpoints.JOB_STATUS)  # at the full 1.6/s
    limiter.throttled(endpoints.JOB_STATUS)
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(0.8, rel=0.05)
    # nothing for the pause, then one call per (doubled) interval: no burst after a 429
    waits = [limiter.reserve(endpoints.JOB_STATUS) - THROTTLED_PAUSE_S for _ in range(3)]
    assert waits == pytest.approx([0.0, 1.25, 2.5], abs=0.1)
    assert limiter.reserve(endpoints.LIST_JOBS) == 0  # other groups are not held back
    clock.now += RECOVERY_S / 4
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6 * 0.75, rel=0.05)
    clock.now += RECOVERY_S
    # back up to the ceiling (90% of where the 429 came), then the ceiling rises slowly
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6 * (CEILING_FACTOR + 75 / PROBE_S), rel=0.02)
    clock.now += PROBE_S
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6)
    assert limiter.throttles(endpoints.JOB_STATUS) == 1


def test_a_429_backs_off_from_the_rate_actually_used(limiter: QuotaLimiter, clock: FakeClock) -> None:
    """A process that sent far below its share and hears a 429 (others spent the quota) slows below
    what it really sent, not merely below a rate it never used."""
    for _ in range(12):  # 0.2 calls/s for a minute, while 1.6/s would be allowed
        limiter.reserve(endpoints.JOB_STATUS)
        clock.now += 5.0
    limiter.throttled(endpoints.JOB_STATUS)
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6 * MIN_RATE_FACTOR)
    clock.now += RECOVERY_S
    # recovered to 90% of the ~0.18/s it used (11 calls in the last minute), plus the ceiling's slow rise
    ceiling = max(MIN_RATE_FACTOR, 11 / 60 / 1.6 * CEILING_FACTOR) + RECOVERY_S / PROBE_S
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6 * ceiling)
    assert limiter.rate(endpoints.JOB_STATUS) < 0.3


def test_retry_after_sets_the_pause_and_429s_never_stop_the_calls(limiter: QuotaLimiter) -> None:
    limiter.throttled(endpoints.JOB_STATUS, retry_after=5.0)
    assert limiter.reserve(endpoints.JOB_STATUS) == pytest.approx(5.0)
    for _ in range(20):
        limiter.throttled(endpoints.JOB_STATUS, retry_after=0.0)
    assert limiter.rate(endpoints.JOB_STATUS) == pytest.approx(1.6 * MIN_RATE_FACTOR)
    assert limiter.throttles(endpoints.JOB_STATUS) == 21


class GatedSleep:
    """A sleep that records its delays and returns when the test opens the gate."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.gate = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await self.gate.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_callers_waiting_when_a_429_arrives_queue_again_behind_the_pause(clock: FakeClock) -> None:
    sleep = GatedSleep()
    limiter = QuotaLimiter(clock=clock, sleep=sleep)
    for _ in range(8):
        limiter.reserve(endpoints.JOB_STATUS)  # the burst is spent
    waiting = [asyncio.ensure_future(limiter.acquire(endpoints.JOB_STATUS)) for _ in range(2)]
    await settle()
    assert sleep.delays == pytest.approx([0.625, 1.25])
    limiter.throttled(endpoints.JOB_STATUS)  # a 429 while they wait
    sleep.gate.set()
    sleep.gate = asyncio.Event()
    await settle()
    # they woke up, saw the 429 and took new places behind the pause (not at 0.625 and 1.25)
    assert sleep.delays[2:] == pytest.approx([THROTTLED_PAUSE_S, THROTTLED_PAUSE_S + 1.25])
    assert not any(task.done() for task in waiting)
    sleep.gate.set()
    await asyncio.gather(*waiting)


@pytest.mark.asyncio
async def test_a_cancelled_wait_gives_its_place_back(clock: FakeClock) -> None:
    sleep = GatedSleep()
    limiter = QuotaLimiter(clock=clock, sleep=sleep)
    for _ in range(8):
        limiter.reserve(endpoints.JOB_STATUS)
    task = asyncio.ensure_future(limiter.acquire(endpoints.JOB_STATUS))
    await settle()
    assert sleep.delays == pytest.approx([0.625])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.reserve(endpoints.JOB_STATUS) == pytest.approx(0.625)  # not 1.25: the place was freed


def test_one_limiter_per_credentials_identity() -> None:
    reset_shared_limiters()
    try:
        first = shared_limiter(make_settings())
        assert shared_limiter(make_settings(cluster_id="c-other", retry=make_settings().retry)) is first
        assert shared_limiter(make_settings(login="ANOTHERACCESSKEY000")) is not first
        assert shared_limiter(make_settings(endpoint="https://cdm.ap-southeast-1.example.com")) is not first
        shared_limiter(make_settings(), 0.5)
        assert first.share == 0.5  # the configured share applies to the existing limiter
        token = make_settings(auth_type="token", login=None, password=None, token="secret-iam-token-value")
        assert "secret-iam-token-value" not in credentials_identity(token)
        assert shared_limiter(token) is not first
        reset_shared_limiters()
        assert shared_limiter(make_settings()) is not first
    finally:
        reset_shared_limiters()


def share_one_quota(processes: int, share: float, wants_per_s: float, minutes: float) -> tuple[list[int], list[int]]:
    """Processes that each want ``wants_per_s`` status calls, paced by their own limiter, against the
    emulator's gateway (a sliding 60 s window of 120 calls) on one fake clock: calls accepted and 429s."""
    import heapq

    from airflow_provider_cdm.emulator.errors import ApiError
    from airflow_provider_cdm.emulator.quotas import QuotaLimiter as Gateway

    clock = FakeClock()
    gateway = Gateway(clock=clock)
    limiters = [QuotaLimiter(share, clock=clock) for _ in range(processes)]
    endpoint = endpoints.JOB_STATUS
    accepted, throttled = [0] * processes, [0] * processes
    # (time, sequence, process, epoch of the place taken; None: the process wants to send now)
    events: list[tuple[float, int, int, int | None]] = [(clock.now + i * 0.37, i, i, None) for i in range(processes)]
    sequence = processes
    end = clock.now + minutes * 60
    while events:
        when, _, index, epoch = heapq.heappop(events)
        if when > end:
            break
        clock.now = when
        limiter = limiters[index]
        if epoch is None:  # take a place, send when it comes
            wait = limiter.reserve(endpoint)
            taken = limiter._pacers[endpoint.quota_group].epoch
            event: tuple[float, int, int, int | None] = (when + wait, sequence, index, taken)
        elif epoch != limiter._pacers[endpoint.quota_group].epoch:  # a 429 came meanwhile: queue again
            event = (when, sequence, index, None)
        else:
            try:
                gateway.check("user", endpoint)
                accepted[index] += 1
            except ApiError:
                throttled[index] += 1
                limiter.throttled(endpoint)
            event = (when + 1 / wants_per_s, sequence, index, None)
        heapq.heappush(events, event)
        sequence += 1
    return accepted, throttled


@pytest.mark.parametrize(("processes", "wants_per_s"), [(2, 5.0), (2, 1.0)])
def test_triggerers_sharing_one_quota_settle_within_it(processes: int, wants_per_s: float) -> None:
    """Two triggerers (high availability) at the default share, each wanting more than its half of the
    quota: the 429s stay under 1% of their calls, and the quota is used, not wasted."""
    accepted, throttled = share_one_quota(processes, 0.6, wants_per_s, minutes=20)
    assert sum(throttled) <= 0.01 * (sum(accepted) + sum(throttled))
    assert sum(accepted) / 20 >= 100  # calls a minute, of the 120 allowed
    assert min(accepted) >= 0.3 * sum(accepted)  # neither starves


def test_a_triggerer_left_alone_regains_its_share() -> None:
    accepted, _ = share_one_quota(1, 0.6, 5.0, minutes=10)
    assert accepted[0] / 10 >= 0.95 * 0.6 * 120
