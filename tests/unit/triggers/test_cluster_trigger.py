"""CdmClusterStatusTrigger against an in-process emulator: one JSON event per outcome, its arguments checked,
transient errors survived, several candidate clusters, and a triggerer's rebuild from serialize()."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm.api.cluster_actions import ClusterAction
from airflow_provider_cdm.client.cluster_wait import ClusterWait
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.emulator.faults import FaultPlan
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.triggers.cluster import CdmClusterStatusTrigger
from tests.triggering import run_trigger
from tests.unit.triggers.helpers import HOOK_PARAMS, ScriptedFaults, requests_of

RUNNING = "c0000000-0000-4000-8000-000000000001"
STOPPED = "c0000000-0000-4000-8000-000000000009"
TRANSITION_S = 0.3


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    """This module's emulator (overrides the package's): cluster actions take 0.3 s."""
    with emulator_in_thread("--cluster-transition-s", str(TRANSITION_S)) as running:
        yield running


def make(
    cluster_ids: list[str], wait: ClusterWait, *, timeout_s: float = 5.0, **kwargs: Any
) -> CdmClusterStatusTrigger:
    values: dict[str, Any] = {"poll_interval": 0.05, "hook_params": HOOK_PARAMS, **kwargs}
    return CdmClusterStatusTrigger(
        cluster_ids=cluster_ids, wait=wait.to_json(), end_time=time.time() + timeout_s, **values
    )


@pytest.mark.asyncio
async def test_a_start_is_followed_until_the_cluster_is_normal(emu: EmulatorThread) -> None:
    CdmHook().start_cluster(STOPPED)
    started = time.monotonic()
    event = await run_trigger(make([STOPPED], ClusterWait.for_action(ClusterAction.START, sent_at=time.time())))
    assert event["status"] == "success" and event["cluster_id"] == STOPPED
    assert event["clusters"] == [{"id": STOPPED, "name": "cdm-emulator-stopped", "status": "200"}]
    assert event["message"] == f"cluster cdm-emulator-stopped ({STOPPED}) started: Normal (200)"
    assert time.monotonic() - started >= TRANSITION_S * 0.8  # it waited through 920
    assert sum(requests_of(emu, "show_cluster").values()) >= 2


@pytest.mark.asyncio
async def test_a_restart_is_done_only_after_the_cluster_was_seen_restarting(emu: EmulatorThread) -> None:
    sent_at = time.time()
    CdmHook().restart_cluster(RUNNING)
    event = await run_trigger(make([RUNNING], ClusterWait.for_action(ClusterAction.RESTART, sent_at=sent_at)))
    assert event["status"] == "success" and event["message"].endswith("restarted: Normal (200)")
    assert emu.cluster(RUNNING)["status"] == "200"
    assert time.time() - sent_at >= TRANSITION_S * 0.8


@pytest.mark.asyncio
async def test_a_scripted_failure_is_a_failed_event_in_plain_words(emu: EmulatorThread) -> None:
    emu.script_cluster(STOPPED, "failed")
    CdmHook().start_cluster(STOPPED)
    event = await run_trigger(make([STOPPED], ClusterWait.for_action(ClusterAction.START)))
    assert event["status"] == "failed" and event["cluster_id"] is None
    assert event["message"].startswith(f"cluster cdm-emulator-stopped ({STOPPED}) failed (300) while starting")
    assert event["clusters"][0]["status"] == "300"


@pytest.mark.asyncio
async def test_the_deadline_is_a_timeout_event_with_the_last_status(emu: EmulatorThread) -> None:
    started = time.monotonic()
    event = await run_trigger(make([STOPPED], ClusterWait.running(), timeout_s=0.4))
    assert event["status"] == "timeout"
    assert event["clusters"] == [{"id": STOPPED, "name": "cdm-emulator-stopped", "status": "900"}]
    assert "deadline" in event["message"]
    assert 0.3 <= time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_several_candidates_succeed_with_the_one_that_runs_and_fail_only_when_all_failed(
    emu: EmulatorThread,
) -> None:
    event = await run_trigger(make([STOPPED, RUNNING], ClusterWait.running()))
    assert event["status"] == "success" and event["cluster_id"] == RUNNING
    assert event["cluster_ids"] == [STOPPED, RUNNING] and len(event["clusters"]) == 2

    emu.set_cluster_status(RUNNING, "300")
    emu.set_cluster_status(STOPPED, "800")
    event = await run_trigger(make([STOPPED, RUNNING], ClusterWait.running()))
    assert event["status"] == "failed"
    assert "frozen (800)" in event["message"] and "failed (300)" in event["message"]


@pytest.mark.asyncio
async def test_a_transient_error_is_read_again_at_the_next_poll(emu: EmulatorThread, faults: ScriptedFaults) -> None:
    # The first read and its three retries answer 503: the trigger keeps waiting, the next poll reads 200.
    faults.queue(*[FaultPlan(error_status=503)] * 4)
    event = await run_trigger(make([RUNNING], ClusterWait.running()))
    assert event["status"] == "success"
    assert requests_of(emu, "show_cluster") == {"503": 4, "200": 1}


@pytest.mark.asyncio
async def test_a_refusal_is_an_error_event_naming_it(emu: EmulatorThread) -> None:
    event = await run_trigger(make(["c-does-not-exist"], ClusterWait.running()))
    assert event["status"] == "error" and "Cdm.0001" in event["message"]


def test_bad_arguments_are_refused_at_defer_time_naming_them() -> None:
    wait = ClusterWait.running().to_json()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cluster_ids": []}, "cluster_ids"),
        ({"cluster_ids": ["a/b"]}, "cluster_ids"),
        ({"wait": {"targets": ["UP"], "failures": []}}, "wait.targets"),
        ({"end_time": "tomorrow"}, "end_time"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"hook_params": {"retry_policy": object()}}, "hook_params"),
    ]
    for override, setting in cases:
        kwargs: dict[str, Any] = {"cluster_ids": [RUNNING], "wait": wait, "end_time": time.time(), **override}
        with pytest.raises(CdmConfigError) as caught:
            CdmClusterStatusTrigger(**kwargs)
        assert caught.value.setting.startswith(setting), (override, caught.value)


@pytest.mark.asyncio
async def test_built_on_the_loop_it_checks_in_run_and_reports_an_error_event() -> None:
    trigger = CdmClusterStatusTrigger(cluster_ids=[RUNNING], wait={"targets": []}, end_time=time.time())
    event = await run_trigger(trigger)
    assert event["status"] == "error" and "wait.targets" in event["message"]
    assert event["cluster_ids"] == [RUNNING]


def test_serialize_gives_json_kwargs_that_rebuild_the_same_trigger() -> None:
    original = make([STOPPED, RUNNING], ClusterWait.for_action(ClusterAction.RESTART, sent_at=12.5), timeout_s=60)
    classpath, kwargs = original.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.wait == original.wait and rebuilt.cluster_ids == [STOPPED, RUNNING]
