"""Job lifecycles under injected faults: every job ends in its scripted state as Airflow sees it, is
created once and started once, and none is left running.

Five phases of 49 lifecycles (245 in all), each under the same base faults on 30% of the API requests
(5xx, connections dropped before or after CDM acted, truncated or non-JSON bodies) and, but for the
first, one more kind of trouble on top: 5xx bursts, latency beyond the read timeout, quota 429s with
and without ``Retry-After``, revoked IAM tokens. Every lifecycle goes through one of seven public
paths (``harness.PATHS``): the hook, the start operator polling and deferrable, create-and-start
polling and deferrable, the sensor poking and deferrable. The figures table is printed in the
terminal summary and written to ``chaos-figures.md`` in the pytest base temp dir.
"""

from __future__ import annotations

import math

import pytest

from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.chaos.conftest import publish
from tests.chaos.harness import CORE_SHARES, IAM_CONN, PATHS, Burst, Phase, PhaseFigures, run_phase

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

BASE_SHARE = sum(CORE_SHARES.values())  # 0.3

PHASES = (
    Phase("base", "the base faults only (AK/SK)", seed=101),
    Phase(
        "outage",
        "plus 502/503 on every request for 0.3 s of every 1.5 s",
        seed=505,
        outage=Burst(on_s=0.3, period_s=1.5),
    ),
    Phase(
        "latency",
        "plus 0.5 s of latency (read timeout 0.3 s) on every request for 0.5 s of every 2 s",
        seed=202,
        read_timeout_s=0.3,
        # A request the gateway holds past the client's read timeout is still carried out: runs last
        # longer than that delay, as real migrations do, so a late start finds its twin running.
        durations=(0.6, 1.2),
        latency=Burst(on_s=0.5, period_s=2.0, value=0.5),
    ),
    Phase(
        "throttle",
        "plus quotas used up and enforced for 0.25 s of every 2.5 s in the first 6 s (429 APIG.0308, "
        "every other burst with Retry-After: 1)",
        seed=303,
        # Bounded: the triggers' pacer halves its rate at each 429 and takes a minute to recover, so
        # that bursts all along would only make the phase slower, not harder.
        throttle=Burst(on_s=0.25, period_s=2.5, until_s=6.0),
    ),
    Phase(
        "tokens",
        "plus IAM password auth with every token revoked every 2 s",
        seed=404,
        conn_id=IAM_CONN,
        revoke_every_s=2.0,
    ),
)

assert sum(phase.lifecycles for phase in PHASES) >= 200


@pytest.fixture
def clusters(chaos_env: EmulatorProcess) -> list[str]:
    """The running clusters (create-and-start picks among them)."""
    hook = CdmHook()
    try:
        running = [c.id for c in hook.list_clusters() if c.status is not None and c.status.can_run_jobs]
    finally:
        hook.close()
    assert len(running) == 2
    return running


@pytest.mark.parametrize("phase", PHASES, ids=lambda phase: phase.name)
def test_every_lifecycle_ends_as_scripted(
    phase: Phase,
    chaos_env: EmulatorProcess,
    clusters: list[str],
    chaos_figures: list[PhaseFigures],
    request: pytest.FixtureRequest,
) -> None:
    figures = run_phase(chaos_env, phase, clusters)
    chaos_figures.append(figures)
    publish(request.config, chaos_figures)

    assert figures.lifecycles == phase.lifecycles and set(figures.paths) == set(PATHS)
    assert figures.wrong == [], "\n".join(figures.wrong)
    assert (figures.duplicate_starts, figures.duplicate_creates, figures.left_running) == (0, 0, 0)
    # The injected share is the emulator's own count of what it did to the requests it got: a seeded
    # draw per request, so within a few standard deviations of 30% (about 2 points at 600 requests).
    measured = figures.core_faults / figures.requests
    spread = math.sqrt(BASE_SHARE * (1 - BASE_SHARE) / figures.requests)
    if phase.outage is None:
        assert abs(measured - BASE_SHARE) < 4 * spread, figures.faults
    else:  # the bursts' 5xx come on top
        assert measured > BASE_SHARE, figures.faults
    assert figures.client["retries"] > 0
    if phase.outage is not None:
        assert figures.bursts["outage"] > 0
    if phase.latency is not None:
        assert figures.faults["latency"] > 0
    if phase.throttle is not None:
        assert figures.throttled["Retry-After"] > 0 and figures.throttled["no Retry-After"] > 0
        assert sum(figures.throttled.values()) == figures.faults["quota"]
    if phase.revoke_every_s is not None:
        assert figures.revocations > 0 and figures.client["token refreshes"] > 0
