"""150 CdmJobStatusTriggers in one event loop against a real emulator process that enforces CDM's quotas:
no request is throttled, every trigger gets the event its own rules give, and the shared poller reads
far less than per-trigger polling would."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator

import pytest

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters, shared_limiter
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.jobs import job_definition
from tests.triggering import run_trigger, with_cdm_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

JOBS = 75  # each watched by two triggers: 150 triggers
POLL_INTERVAL_S = 1.0
# The second trigger of each job counts FAILED as success: each trigger judges with its own rules.
LENIENT = StatusRules.from_names(success=["SUCCEEDED", "FAILED"], failure=["FAILURE_ON_SUBMIT", "UNKNOWN"])


@pytest.fixture(scope="module")
def quota_emulator() -> Iterator[EmulatorProcess]:
    with run_emulator("--quotas", "--job-duration", "5") as process:
        yield process


def start_jobs(emulator: EmulatorProcess) -> tuple[list[RunRef], dict[str, str]]:
    """75 watched jobs interleaved with 75 unrelated ones (every list page carries both); 1 in 5 fails."""
    rng = random.Random(7)
    hook = CdmHook()
    outcomes: dict[str, str] = {}
    try:
        for index in range(2 * JOBS):
            name = f"load-{index:03d}"
            hook.create_job(job_definition(name))
            if index % 2 == 0:
                outcome = "FAILED" if index % 10 == 0 else "SUCCEEDED"
                duration = round(rng.uniform(1.0, 6.0), 2)
                emulator.script_job(name, outcome, duration_s=duration, error_summary=f"{name} broke")
                outcomes[name] = outcome
        runs = [with_cdm_id(RunRef.of(hook.start_job(name), emulator.cluster_id or ""), emulator) for name in outcomes]
    finally:
        hook.close()
    return runs, outcomes


async def test_150_triggers_share_the_quota_without_a_single_429(
    quota_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = quota_emulator
    emulator.reset()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", emulator.connection_json)
    reset_shared_limiters()
    runs, outcomes = start_jobs(emulator)
    before = emulator.stats()["requests"]
    end_time = time.time() + 120
    triggers = []
    for index, run in enumerate(runs):
        triggers.append(CdmJobStatusTrigger(run=run.to_json(), end_time=end_time, poll_interval=POLL_INTERVAL_S))
        # one in five found by its date on this machine's clock, not its id (its job is then confirmed)
        lenient = RunRef(run.job_name, run.cluster_id, None, run.not_before_ms) if index % 5 == 0 else run
        triggers.append(
            CdmJobStatusTrigger(
                run=lenient.to_json(), end_time=end_time, poll_interval=2 * POLL_INTERVAL_S, rules=LENIENT.to_json()
            )
        )
    began = time.monotonic()
    events = await asyncio.gather(*(run_trigger(trigger) for trigger in triggers))
    elapsed = time.monotonic() - began

    for trigger, event in zip(triggers, events, strict=True):
        name = trigger.run_ref.job_name
        submission = event["submission"]
        assert submission is not None
        expected = "success" if outcomes[name] == "SUCCEEDED" or trigger.rules == LENIENT else "failed"
        assert event["status"] == expected, (name, event["message"])
        assert event["run"] == trigger.run_ref.to_json()
        assert submission["job_name"] == name and submission["status"] == outcomes[name]
        assert submission["submission_id"] == next(r.submission_id for r in runs if r.job_name == name)
        if outcomes[name] == "FAILED":
            assert submission["error_summary"] == f"{name} broke"
            assert expected == "success" or f"{name} broke" in event["message"]
        else:
            assert submission["counters"]["ROWS_WRITTEN"] > 0

    stats = emulator.stats()
    during = {
        operation: {status: count - before.get(operation, {}).get(status, 0) for status, count in statuses.items()}
        for operation, statuses in stats["requests"].items()
    }
    throttled = {operation: s.get("429", 0) for operation, s in stats["requests"].items() if s.get("429")}
    assert throttled == {} and stats["faults"].get("quota", 0) == 0, (throttled, stats["faults"])
    settings = CdmHook().settings
    limiter = shared_limiter(settings)
    for endpoint in (endpoints.JOB_STATUS, endpoints.LIST_JOBS, endpoints.LIST_SUBMISSIONS):
        assert limiter.throttles(endpoint) == 0  # no 429 reached the client side either
    run_reads = sum(during.get("job_status", {}).values()) + sum(during.get("list_submissions", {}).values())
    list_reads = sum(during.get("list_jobs", {}).values())
    # A success the job list pins to a trigger's run is that trigger's result; a run read confirms
    # each failure (for its error summary) and each run a trigger found by date (a few more reads
    # while the last jobs are read by status calls), where 150 triggers polling on their own would
    # have sent one status call per trigger and second.
    failed = {name for name, outcome in outcomes.items() if outcome == "FAILED"}
    by_date = {trigger.run_ref.job_name for trigger in triggers if trigger.run_ref.submission_id is None}
    confirmed = failed | by_date
    assert len(confirmed) <= run_reads <= len(confirmed) + 25 < JOBS, during
    assert list_reads <= 2 * (elapsed // POLL_INTERVAL_S + 1), during  # two pages a sweep, one sweep an interval
    print(json.dumps({"elapsed_s": round(elapsed, 1), "requests": during}))
