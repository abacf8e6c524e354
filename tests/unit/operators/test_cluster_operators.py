"""The cluster operators against an in-process emulator: idempotency, refusals read again, failures and
timeouts in plain words, the result, and the deferrable path through the real trigger."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from airflow_provider_cdm.client.exceptions import CdmApiError, CdmAuthError, CdmConfigError
from airflow_provider_cdm.emulator.testing import EmulatorThread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cluster import (
    ACTION_KEY,
    CdmClusterFailedError,
    CdmClusterTimeoutError,
    CdmRestartClusterOperator,
    CdmStartClusterOperator,
    CdmStopClusterOperator,
)
from tests.clusters import RUNNING, STOPPED, afresh, cluster_emulator
from tests.triggering import run_trigger
from tests.unit.operators.helpers import RecordingTI, task_context

FAST = {"poll_interval": 0.05, "hook_params": {"retry_policy": {"max_attempts": 2, "initial_backoff_s": 0.01}}}


@pytest.fixture(scope="module")
def emulator_thread() -> Iterator[EmulatorThread]:
    yield from cluster_emulator()


@pytest.fixture
def emu(emulator_thread: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    return afresh(emulator_thread, monkeypatch)


def actions(emu: EmulatorThread, cluster_id: str) -> dict[str, int]:
    return {name: count for name, count in emu.cluster(cluster_id)["action_counts"].items() if count}


def test_start_of_a_stopped_cluster_waits_until_it_is_normal(emu: EmulatorThread) -> None:
    result = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, **FAST).execute(task_context())
    assert result["status"] == "200" and result["status_label"] == "Normal"
    assert result["cluster_id"] == STOPPED and result["cluster_name"] == "cdm-emulator-stopped"
    assert result["action"] == "start" and result["action_sent"] is True and len(result["job_ids"]) == 1
    assert result["waited_s"] >= 0.25
    assert json.loads(json.dumps(result)) == result
    assert actions(emu, STOPPED) == {"start": 1}


def test_a_start_of_a_normal_cluster_and_a_stop_of_a_stopped_one_send_nothing(emu: EmulatorThread) -> None:
    started = CdmStartClusterOperator(task_id="start", **FAST).execute(task_context())  # the connection's cluster
    stopped = CdmStopClusterOperator(task_id="stop", cluster_id=STOPPED, **FAST).execute(task_context())
    assert (started["cluster_id"], started["status"], started["action_sent"]) == (RUNNING, "200", False)
    assert (stopped["status"], stopped["action_sent"], stopped["waited_s"]) == ("900", False, 0.0)
    assert actions(emu, RUNNING) == {} and actions(emu, STOPPED) == {}
    assert emu.stats()["requests"]["show_cluster"] == {"200": 2}  # one read each


def test_a_cluster_on_its_way_is_only_waited_for(emu: EmulatorThread) -> None:
    CdmHook().stop_cluster(RUNNING)  # someone else stops it: 910
    result = CdmStopClusterOperator(task_id="stop", cluster_id=RUNNING, **FAST).execute(task_context())
    assert result["status"] == "900" and result["action_sent"] is False
    assert actions(emu, RUNNING) == {"stop": 1}  # the other one's


def test_a_refused_action_reads_the_cluster_again_and_waits_when_it_is_on_its_way(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another task starts the cluster between this task's read and its start: CDM refuses ours."""
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, **FAST)
    real_start = operator.hook.start_cluster

    def raced(cluster_id: str | None = None) -> list[str]:
        CdmHook().start_cluster(STOPPED)  # the other task's start wins
        return real_start(cluster_id)  # ours: refused (920)

    monkeypatch.setattr(operator.hook, "start_cluster", raced)
    result = operator.execute(task_context())
    assert result["status"] == "200" and result["action_sent"] is False
    assert emu.stats()["requests"]["cluster_action"] == {"200": 1, "400": 1}


def test_a_refused_action_fails_with_cdms_words_once_nothing_changed(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CDM refuses the start of a stopped cluster and the cluster shows no effect within the settle window."""
    from airflow_provider_cdm.operators import cluster as cluster_module

    monkeypatch.setattr(cluster_module, "SETTLE_WINDOW_S", 0.3)
    with pytest.raises(CdmApiError) as refusal:
        CdmHook().stop_cluster(STOPPED)  # a real refusal (Cdm.0401), to be CDM's answer to the start
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, **FAST)

    def refused(cluster_id: str | None = None) -> list[str]:
        raise refusal.value

    monkeypatch.setattr(operator.hook, "start_cluster", refused)
    with pytest.raises(AirflowException) as caught:
        operator.execute(task_context())
    message = str(caught.value)
    assert message.startswith("CDM refused the start (Cdm.0401: ")
    assert message.endswith(f"cluster cdm-emulator-stopped ({STOPPED}) is still Stopped (900)")
    assert emu.cluster(STOPPED)["status"] == "900"


def test_a_start_of_a_stopping_cluster_waits_for_the_stop_then_starts(emu: EmulatorThread) -> None:
    emu.script_cluster(RUNNING, "ok", duration_s=1)
    CdmHook().stop_cluster(RUNNING)  # 910 for 1 s
    result = CdmStartClusterOperator(task_id="start", cluster_id=RUNNING, **FAST).execute(task_context())
    assert (result["status"], result["action_sent"]) == ("200", True)
    assert emu.stats()["requests"]["cluster_action"] == {"200": 2}  # our stop, then the task's start: no refusal


def test_a_lost_answer_to_the_start_is_sent_again_when_nothing_changed(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start fails without an answer (an outage) and the cluster stays Stopped: it is sent again."""
    from airflow_provider_cdm.operators import cluster as cluster_module

    monkeypatch.setattr(cluster_module, "SETTLE_WINDOW_S", 0.3)
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, **FAST)
    real_start, calls = operator.hook.start_cluster, []

    def outage_once(cluster_id: str | None = None) -> list[str]:
        calls.append(cluster_id)
        if len(calls) == 1:
            raise CdmApiError("connection reset by peer", http_status=None)
        return real_start(cluster_id)

    monkeypatch.setattr(operator.hook, "start_cluster", outage_once)
    result = operator.execute(task_context())
    assert (result["status"], len(calls)) == ("200", 2)
    assert emu.stats()["requests"]["cluster_action"] == {"200": 1}


def test_a_scripted_failure_fails_the_task_in_plain_words(emu: EmulatorThread) -> None:
    emu.script_cluster(STOPPED, "failed")
    with pytest.raises(CdmClusterFailedError) as caught:
        CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, **FAST).execute(task_context())
    assert str(caught.value).startswith(f"cluster cdm-emulator-stopped ({STOPPED}) failed (300) while starting")
    assert caught.value.cluster == {"id": STOPPED, "name": "cdm-emulator-stopped", "status": "300"}


@pytest.mark.parametrize(("status", "words"), [("800", r"is frozen \(800\)"), ("300", r"failed \(300\)")])
def test_a_frozen_or_failed_cluster_fails_before_any_action(emu: EmulatorThread, status: str, words: str) -> None:
    emu.set_cluster_status(STOPPED, status)
    for operator in (CdmStartClusterOperator, CdmStopClusterOperator, CdmRestartClusterOperator):
        with pytest.raises(CdmClusterFailedError, match=rf"^cluster .*{words}.*\(no {operator.action.value} sent\)$"):
            operator(task_id="t", cluster_id=STOPPED, **FAST).execute(task_context())
    assert "cluster_action" not in emu.stats()["requests"]


def test_the_timeout_fails_naming_it_and_the_last_status(emu: EmulatorThread) -> None:
    emu.script_cluster(STOPPED, "ok", duration_s=5)
    started = time.monotonic()
    with pytest.raises(CdmClusterTimeoutError) as caught:
        CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, timeout=0.4, **FAST).execute(task_context())
    assert time.monotonic() - started < 2
    assert str(caught.value) == (
        f"gave up waiting for cluster cdm-emulator-stopped ({STOPPED}) to start: cluster cdm-emulator-stopped "
        f"({STOPPED}) was still Starting (920) when timeout 0.4 s ran out"
    )


def test_a_restart_always_restarts_and_sends_its_parameters(emu: EmulatorThread) -> None:
    operator = CdmRestartClusterOperator(
        task_id="restart", cluster_id=RUNNING, restart_mode="softly", restart_level="VM", **FAST
    )
    for _ in range(2):
        assert operator.execute(task_context())["status"] == "200"
    assert actions(emu, RUNNING) == {"restart": 2}


def test_without_waiting_the_result_shows_the_action_begun(emu: EmulatorThread) -> None:
    result = CdmStopClusterOperator(
        task_id="stop", cluster_id=RUNNING, wait_for_completion=False, stop_mode="GRACEFULLY", delay_time=0, **FAST
    ).execute(task_context())
    assert (result["status"], result["status_label"], result["action_sent"]) == ("910", "Stopping", True)


def test_deferrable_defers_to_the_cluster_trigger_and_resumes_with_its_event(emu: EmulatorThread) -> None:
    ti = RecordingTI("start")
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, deferrable=True, timeout=60, **FAST)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context(ti))
    trigger, kwargs = deferred.value.trigger, deferred.value.kwargs or {}
    assert deferred.value.method_name == "execute_complete"
    classpath, trigger_kwargs = trigger.serialize()
    assert classpath == "airflow_provider_cdm.triggers.cluster.CdmClusterStatusTrigger"
    assert json.loads(json.dumps(trigger_kwargs)) == trigger_kwargs
    assert trigger_kwargs["cluster_ids"] == [STOPPED] and trigger_kwargs["wait"]["targets"] == ["200"]
    assert ti.xcom[ACTION_KEY] == kwargs and kwargs["sent"] is True

    event = asyncio.run(run_trigger(trigger))
    result = operator.execute_complete(task_context(ti), event, **kwargs)
    assert result["status"] == "200" and result["action_sent"] is True and result["job_ids"] == kwargs["job_ids"]
    # dag.test() passes no kwargs back: the task's XCom holds them.
    assert operator.execute_complete(task_context(ti), event)["job_ids"] == kwargs["job_ids"]


def test_a_cluster_there_already_is_not_deferred(emu: EmulatorThread) -> None:
    result = CdmStartClusterOperator(task_id="start", deferrable=True, **FAST).execute(task_context())
    assert result["status"] == "200" and result["action_sent"] is False


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (None, "must be a dict"),
        ({"status": "done"}, "has status 'done'"),
        ({"status": "success", "cluster_ids": [RUNNING], "clusters": []}, "is about clusters"),
        ({"status": "success", "cluster_ids": [STOPPED], "clusters": [], "cluster_id": STOPPED}, "names no cluster"),
    ],
)
def test_execute_complete_refuses_an_event_it_cannot_trust(emu: EmulatorThread, event: Any, problem: str) -> None:
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, deferrable=True)
    with pytest.raises(AirflowException, match=problem):
        operator.execute_complete(task_context(), event, cluster_id=STOPPED, started_at=time.time())


def test_execute_complete_raises_the_failure_and_the_timeout_of_its_event() -> None:
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, timeout=60)
    clusters = [{"id": STOPPED, "name": "nightly", "status": "920"}]
    base = {"cluster_ids": [STOPPED], "cluster_id": None, "clusters": clusters}
    with pytest.raises(CdmClusterFailedError, match="failed \\(300\\) while starting"):
        operator.execute_complete(
            task_context(),
            {**base, "status": "failed", "message": "cluster nightly failed (300) while starting"},
            cluster_id=STOPPED,
        )
    with pytest.raises(CdmClusterTimeoutError, match=r"was still Starting \(920\) when timeout 60 s ran out"):
        operator.execute_complete(task_context(), {**base, "status": "timeout", "message": ""}, cluster_id=STOPPED)


def test_parameters_are_checked_when_the_dag_is_parsed_naming_them() -> None:
    cases: list[tuple[type, dict[str, Any], str]] = [
        (CdmStopClusterOperator, {"stop_mode": "NOW"}, "stop_mode"),
        (CdmStopClusterOperator, {"delay_time": -2}, "delay_time"),
        (CdmRestartClusterOperator, {"restart_level": "HOST"}, "restart_level"),
        (CdmRestartClusterOperator, {"restart_mode": 3}, "restart_mode"),
        (CdmRestartClusterOperator, {"delay_time": 1.5}, "delay_time"),
    ]
    for operator, kwargs, setting in cases:
        with pytest.raises(CdmConfigError) as caught:
            operator(task_id="t", **kwargs)
        assert caught.value.setting == setting
    for kwargs, name in (({"poll_interval": 0}, "poll_interval"), ({"timeout": -1}, "timeout")):
        with pytest.raises(ValueError, match=rf"^{name}="):
            CdmStartClusterOperator(task_id="t", **kwargs)
    with pytest.raises(TypeError, match="hook_params"):
        CdmStartClusterOperator(task_id="t", hook_params={"password": "x"})
    assert CdmStopClusterOperator(task_id="t", stop_mode="gracefully").stop_mode == "GRACEFULLY"


def test_a_bad_rendered_cluster_id_is_refused_before_any_request(emu: EmulatorThread) -> None:
    with pytest.raises(CdmConfigError, match="cluster_id"):
        CdmStartClusterOperator(task_id="t", cluster_id="a/b", **FAST).execute(task_context())
    assert emu.stats()["requests"] == {}


def test_credentials_refused_by_the_action_are_raised_not_read_again(
    emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = CdmStartClusterOperator(task_id="start", cluster_id=STOPPED, **FAST)

    def refused(cluster_id: str | None = None) -> list[str]:
        raise CdmAuthError("APIG.0301: bad token", http_status=401, code="APIG.0301")

    monkeypatch.setattr(operator.hook, "start_cluster", refused)
    with pytest.raises(CdmAuthError):
        operator.execute(task_context())
    assert emu.stats()["requests"]["show_cluster"] == {"200": 1}  # not read again


def test_a_deferred_restart_seen_restarting_needs_no_settling_time(emu: EmulatorThread) -> None:
    """The read right after the restart: seen Restarting (500), its trigger takes the next 200 as back; not yet
    begun (a delayed restart), the trigger waits to see it restart (or for the settling time)."""
    seen = CdmRestartClusterOperator(task_id="restart", cluster_id=RUNNING, deferrable=True, **FAST)
    with pytest.raises(TaskDeferred) as deferred:
        seen.execute(task_context())
    wait = deferred.value.trigger.serialize()[1]["wait"]
    assert (wait["action"], wait["must_pass"], wait["pass_by"]) == ("restart", False, None)

    emu.reset()
    delayed = CdmRestartClusterOperator(task_id="restart", cluster_id=RUNNING, deferrable=True, delay_time=5, **FAST)
    started = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        delayed.execute(task_context())
    wait = deferred.value.trigger.serialize()[1]["wait"]
    assert wait["must_pass"] is True and started + 5 + 60 <= wait["pass_by"] <= time.time() + 5 + 60
    assert emu.cluster(RUNNING)["status"] == "200"  # the restart has not begun


def test_a_stop_that_meets_a_starting_cluster_waits_for_it_then_stops_it(emu: EmulatorThread) -> None:
    """The nightly window's teardown after a start that timed out: the cluster comes up, then it is stopped."""
    emu.script_cluster(STOPPED, "ok", duration_s=0.5)
    CdmHook().start_cluster(STOPPED)  # Starting (920) for 0.5 s
    result = CdmStopClusterOperator(task_id="stop", cluster_id=STOPPED, **FAST).execute(task_context())
    assert (result["status"], result["action_sent"]) == ("900", True)
    assert emu.cluster(STOPPED)["status"] == "900"


def test_deferred_a_stop_that_meets_a_starting_cluster_defers_until_it_settles_then_stops(emu: EmulatorThread) -> None:
    emu.script_cluster(STOPPED, "ok", duration_s=0.5)
    CdmHook().start_cluster(STOPPED)
    ti = RecordingTI("stop")
    operator = CdmStopClusterOperator(task_id="stop", cluster_id=STOPPED, deferrable=True, timeout=60, **FAST)
    with pytest.raises(TaskDeferred) as settling:
        operator.execute(task_context(ti))
    assert settling.value.method_name == "execute_after_settle"
    assert settling.value.trigger.serialize()[1]["wait"]["targets"] == ["200", "900"]

    event = asyncio.run(run_trigger(settling.value.trigger))
    with pytest.raises(TaskDeferred) as stopping:  # Normal now: the stop is sent, and its wait deferred
        operator.execute_after_settle(task_context(ti), event, **(settling.value.kwargs or {}))
    assert stopping.value.method_name == "execute_complete"
    event = asyncio.run(run_trigger(stopping.value.trigger))
    result = operator.execute_complete(task_context(ti), event, **(stopping.value.kwargs or {}))
    assert (result["status"], result["action_sent"]) == ("900", True)
