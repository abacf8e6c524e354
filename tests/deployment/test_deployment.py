"""One DAG run on a real Airflow 3 deployment against the emulator with quotas: exact outcomes, both sides.

Every task instance ends as its job was scripted (every tenth job of each kind fails), none fails
because of the quotas, every job is started exactly once and none is left running, no trigger is left
behind, a triggerer killed with SIGKILL mid-run costs nothing, and every process the harness started
is gone.
"""

from __future__ import annotations

import os

import pytest

from tests.deployment.harness import DeploymentResult, DeploymentSpec, run_deployment

# pytest-timeout for the whole deployment: the DAG run's own limit plus start-up and stopping.
pytestmark = pytest.mark.timeout(DeploymentSpec.from_env().run_timeout_s + 300)


@pytest.fixture(scope="module")
def deployment() -> DeploymentResult:
    """One deployment and DAG run for the module's assertions (each reads a part of the result)."""
    spec = DeploymentSpec.from_env()
    result = run_deployment(spec, keep_dir=bool(os.environ.get("CDM_DEPLOYMENT_KEEP")))
    print(f"\n[deployment] {spec}\n[deployment] {result.summary()}")
    return result


def test_every_task_instance_ends_as_its_job_was_scripted(deployment: DeploymentResult) -> None:
    assert deployment.states, deployment.summary()
    assert deployment.wrong_states() == {}, deployment.summary()
    assert deployment.dag_run_state == deployment.expected_dag_run_state, deployment.summary()


def test_no_task_failed_because_of_throttling_or_for_a_reason_other_than_its_job(
    deployment: DeploymentResult,
) -> None:
    assert deployment.throttled_failures() == [], deployment.summary()
    assert deployment.errors_in_successes() == [], deployment.summary()
    assert deployment.failures_without_cdm_reason() == [], deployment.summary()


def test_each_job_started_once_and_none_left_running(deployment: DeploymentResult) -> None:
    assert deployment.duplicate_starts() == {}, deployment.summary()
    assert deployment.never_started() == [], deployment.summary()
    assert deployment.left_running() == [], deployment.summary()
    creates = deployment.stats["creates"]
    assert {job.name: creates.get(job.name, 0) for job in deployment.jobs} == {job.name: 1 for job in deployment.jobs}


def test_the_quota_was_felt_and_both_sides_called(deployment: DeploymentResult) -> None:
    """The run exercised what it claims to: workers and triggerers both called CDM, under quota pressure."""
    calls = deployment.calls_by_client()
    assert calls.get("sync", (0, 0))[0] > 0 and calls.get("async", (0, 0))[0] > 0, deployment.summary()
    assert deployment.stats["faults"].get("quota", 0) > 0, deployment.summary()


def test_no_trigger_left_and_the_triggerer_was_killed_mid_run(deployment: DeploymentResult) -> None:
    assert deployment.triggers_left == 0, deployment.summary()
    assert deployment.triggerer_killed is deployment.spec.kill_triggerer, deployment.summary()
    if deployment.triggerer_killed:  # mid-run: while triggers were running in it
        assert deployment.triggers_assigned_at_kill > 0, deployment.summary()


def test_the_provider_never_held_a_triggerers_event_loop(deployment: DeploymentResult) -> None:
    """Airflow warns when a triggerer's loop did not get back within 0.2 s of a 0.1 s sleep; it names no culprit.

    The harness runs the triggerers under loop_watch.py, which times every callback of their loops and
    samples the loop thread's stack while one runs long, and attributes each warning
    (``harness.attribute_loop_blocks``): to the provider when its code ran 30 ms of CPU time or more
    in the block (``PROVIDER_BLOCK_S``; garbage collections not counted), else to what took the most
    of it: Airflow's code, garbage collection, waiting for a CPU (this loaded 2-core machine), a
    blocking call. None may be the provider's; the others are printed.
    """
    assert {name for name, _ in deployment.loop_blocked} <= set(deployment.loop_watched), deployment.summary()
    assert deployment.provider_loop_blocks() == [], deployment.summary()
    for block in deployment.loop_blocks:
        print(f"[deployment] loop blocked: {block.summary()}")


def test_every_process_started_is_gone(deployment: DeploymentResult) -> None:
    assert deployment.surviving_processes == [], deployment.surviving_processes
