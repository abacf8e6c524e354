"""Cluster start, stop and restart in the emulator's state machine, on a clock the tests move."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.cluster_actions import ACTION_RULES, ClusterAction, restart_body, start_body, stop_body
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.emulator.clusters import ClusterScript
from airflow_provider_cdm.emulator.config import DEFAULT_CLUSTERS, build_parser, parse_args
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.models import CdmBackend
from airflow_provider_cdm.emulator.runs import Outcome, Script

from .helpers import RUNNING_1, RUNNING_2, STOPPED, FakeClock, job_definition

USER = "tester"
TRANSITION_S = 2.0
JOB_S = 10.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> CdmBackend:
    return CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=JOB_S, cluster_transition_s=TRANSITION_S, seed=3)


def status(backend: CdmBackend, cluster_id: str) -> str:
    return str(backend.show_cluster(cluster_id)["status"])


def start_run(backend: CdmBackend, name: str, cluster_id: str = RUNNING_1) -> dict[str, Any]:
    if name not in {job["name"] for job in backend.list_jobs(cluster_id, page_size=100)["jobs"]}:
        assert backend.create_job(cluster_id, job_definition(name), USER)["validation-result"] == []
    submission: dict[str, Any] = backend.start_job(cluster_id, name, {}, USER)["submissions"][0]
    return submission


def run_of(backend: CdmBackend, name: str, cluster_id: str = RUNNING_1) -> dict[str, Any]:
    submission: dict[str, Any] = backend.job_status(cluster_id, name)["submissions"][0]
    return submission


def refused(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call(*args)
    return raised.value


def test_start_moves_a_stopped_cluster_through_starting_to_normal(backend: CdmBackend, clock: FakeClock) -> None:
    assert status(backend, STOPPED) == "900"
    answer = backend.cluster_action(STOPPED, start_body())
    assert isinstance(answer["jobId"], list) and len(answer["jobId"]) == 1
    uuid.UUID(answer["jobId"][0])
    shown = backend.show_cluster(STOPPED)
    assert (shown["status"], shown["statusDetail"], shown["actions"]) == ("920", "Starting", ["STARTING"])
    clock.advance(TRANSITION_S - 0.01)
    assert status(backend, STOPPED) == "920"
    clock.advance(0.01)
    shown = backend.show_cluster(STOPPED)
    assert (shown["status"], shown["statusDetail"], shown["actions"]) == ("200", "Normal", [])
    assert shown["updated"] > shown["created"]  # when the status last changed


def test_stop_moves_a_running_cluster_through_stopping_to_stopped(backend: CdmBackend, clock: FakeClock) -> None:
    answer = backend.cluster_action(RUNNING_1, stop_body())
    assert isinstance(answer["jobId"], list)
    shown = backend.show_cluster(RUNNING_1)
    assert (shown["status"], shown["actions"]) == ("910", ["STOPPING"])
    clock.advance(TRANSITION_S)
    assert status(backend, RUNNING_1) == "900"
    assert [c["status"] for c in backend.list_clusters()["clusters"]] == ["900", "200", "900"]
    assert status(backend, RUNNING_2) == "200"  # the other cluster is untouched


def test_restart_goes_through_restarting_back_to_normal_and_answers_one_string(
    backend: CdmBackend, clock: FakeClock
) -> None:
    answer = backend.cluster_action(RUNNING_1, restart_body())
    assert isinstance(answer["jobId"], str)
    uuid.UUID(answer["jobId"])
    shown = backend.show_cluster(RUNNING_1)
    assert (shown["status"], shown["actions"]) == ("500", ["REBOOTING"])
    clock.advance(TRANSITION_S / 2)
    assert status(backend, RUNNING_1) == "500"
    clock.advance(TRANSITION_S / 2)
    assert status(backend, RUNNING_1) == "200"


def test_each_action_passes_and_ends_where_the_shared_rules_say(backend: CdmBackend, clock: FakeClock) -> None:
    for action, body, cluster in [
        (ClusterAction.STOP, stop_body(), RUNNING_1),
        (ClusterAction.START, start_body(), RUNNING_1),
        (ClusterAction.RESTART, restart_body(), RUNNING_1),
    ]:
        rule = ACTION_RULES[action]
        assert ClusterStatus(status(backend, cluster)) in rule.accepted_from
        backend.cluster_action(cluster, body)
        assert rule.under_way(ClusterStatus(status(backend, cluster)))
        clock.advance(TRANSITION_S)
        assert rule.reached(ClusterStatus(status(backend, cluster)))


def test_a_scripted_failure_ends_the_next_action_in_300_once(backend: CdmBackend, clock: FakeClock) -> None:
    view = backend.script_cluster(STOPPED, ClusterScript(failed=True, duration_s=0.5))
    assert view["script"] == {"outcome": "failed", "duration_s": 0.5}
    backend.cluster_action(STOPPED, start_body())
    clock.advance(0.49)
    assert status(backend, STOPPED) == "920"
    clock.advance(0.01)
    shown = backend.show_cluster(STOPPED)
    assert (shown["status"], shown["statusDetail"]) == ("300", "Failed")
    assert backend.cluster_view(STOPPED)["script"] is None  # used up
    backend.set_cluster_status(STOPPED, ClusterStatus.STOPPED)
    backend.cluster_action(STOPPED, start_body())
    clock.advance(TRANSITION_S)
    assert status(backend, STOPPED) == "200"  # the next action is not scripted


def test_a_scripted_duration_replaces_the_transition_time(backend: CdmBackend, clock: FakeClock) -> None:
    backend.script_cluster(RUNNING_1, ClusterScript(duration_s=5.0))
    backend.cluster_action(RUNNING_1, stop_body())
    clock.advance(TRANSITION_S)
    assert status(backend, RUNNING_1) == "910"
    clock.advance(5.0 - TRANSITION_S)
    assert status(backend, RUNNING_1) == "900"


@pytest.mark.parametrize(
    ("cluster", "body", "code", "label"),
    [
        (STOPPED, stop_body(), "900", "Stopped"),
        (RUNNING_1, start_body(), "200", "Normal"),
        (STOPPED, restart_body(), "900", "Stopped"),
    ],
)
def test_actions_the_status_does_not_allow_are_refused(
    backend: CdmBackend, cluster: str, body: dict[str, Any], code: str, label: str
) -> None:
    error = refused(backend.cluster_action, cluster, body)
    assert error.error is errors.CDM_CLUSTER_ACTION_REFUSED
    verb = next(iter(body))
    assert error.message == f"Cluster[{cluster}] cannot {verb} in status {code} ({label})."
    assert status(backend, cluster) == code  # nothing changed
    assert backend.cluster_view(cluster)["action_counts"] == {}


def test_no_second_action_while_one_is_under_way(backend: CdmBackend, clock: FakeClock) -> None:
    backend.cluster_action(RUNNING_1, restart_body(restart_delay_time=5))
    assert status(backend, RUNNING_1) == "200"  # the restart waits for its delay
    error = refused(backend.cluster_action, RUNNING_1, stop_body())
    assert error.error is errors.CDM_CLUSTER_ACTION_REFUSED and "rebooting" in error.message
    backend.cluster_action(STOPPED, start_body())
    assert refused(backend.cluster_action, STOPPED, start_body()).error is errors.CDM_CLUSTER_ACTION_REFUSED


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "exactly one action"),
        ({"start": {}, "stop": {}}, "exactly one action"),
        ({"reboot": {}}, "reboot"),
        ({"start": []}, "start"),
        ([], "list"),
        ({"stop": {"stopMode": "SOMETIMES"}}, "'SOMETIMES'"),
        ({"stop": {"stopMode": "GRACEFULLY", "delayTime": "5"}}, "'5'"),
        ({"stop": {"stopMode": "GRACEFULLY", "delayTime": -2}}, "-2"),
        ({"stop": {"stopMode": "GRACEFULLY", "delayTime": 1.5}}, "1.5"),
        ({"restart": {"restartMode": "HARD"}}, "'HARD'"),
        ({"restart": {"restartLevel": "OS"}}, "'OS'"),
        ({"restart": {"restartDelayTime": True}}, "True"),
    ],
)
def test_bad_bodies_answer_the_request_error_naming_the_bad_value(
    backend: CdmBackend, body: object, named: str
) -> None:
    error = refused(backend.cluster_action, RUNNING_1, body)
    assert error.error is errors.APIG_REQUEST_ERROR and named in error.message
    assert status(backend, RUNNING_1) == "200"


def test_an_unknown_cluster_is_not_found(backend: CdmBackend) -> None:
    assert refused(backend.cluster_action, "no-such-cluster", start_body()).error is errors.CDM_NO_RESOURCE
    assert refused(backend.cluster_view, "no-such-cluster").error is errors.CDM_NO_RESOURCE


def test_an_immediate_stop_fails_the_runs_under_way_and_the_queued_ones(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=JOB_S, cluster_concurrency=1)
    start_run(backend, "first")
    start_run(backend, "queued")
    assert run_of(backend, "queued")["status"] == "PENDING"
    start_run(backend, "elsewhere", RUNNING_2)
    clock.advance(3.0)
    backend.cluster_action(RUNNING_1, stop_body("IMMEDIATELY"))
    for name in ("first", "queued"):
        run = run_of(backend, name)
        assert run["status"] == "FAILED" and run["progress"] == -1
        assert run["error-summary"] == f"The job failed because cluster {RUNNING_1} was stopped."
    assert run_of(backend, "elsewhere", RUNNING_2)["status"] == "RUNNING"
    assert backend.snapshot()["clusters"][0]["queue"] == []
    clock.advance(TRANSITION_S)
    assert status(backend, RUNNING_1) == "900"


def test_a_graceful_stop_waits_for_the_runs_and_takes_no_new_ones(backend: CdmBackend, clock: FakeClock) -> None:
    start_run(backend, "long")
    backend.create_job(RUNNING_1, job_definition("late"), USER)
    clock.advance(2.0)
    backend.cluster_action(RUNNING_1, stop_body("GRACEFULLY", -1))
    assert status(backend, RUNNING_1) == "910"
    error = refused(backend.start_job, RUNNING_1, "late", {}, USER)
    assert error.error is errors.CDM_CANNOT_SUBMIT
    assert f"cluster {RUNNING_1} is Stopping (910), not running" in error.message
    clock.advance(JOB_S - 2.0 - 0.01)
    assert run_of(backend, "long")["status"] == "RUNNING" and status(backend, RUNNING_1) == "910"
    clock.advance(0.01)
    assert run_of(backend, "long")["status"] == "SUCCEEDED"  # it was let finish
    clock.advance(TRANSITION_S - 0.01)
    assert status(backend, RUNNING_1) == "910"  # the stop proper begins once the runs have ended
    clock.advance(0.01)
    assert status(backend, RUNNING_1) == "900"


def test_a_graceful_stop_fails_the_runs_still_active_after_its_delay(backend: CdmBackend, clock: FakeClock) -> None:
    start_run(backend, "long")
    clock.advance(2.0)
    backend.cluster_action(RUNNING_1, stop_body("GRACEFULLY", 3))
    clock.advance(2.99)
    assert run_of(backend, "long")["status"] == "RUNNING"
    clock.advance(0.01)
    run = run_of(backend, "long")
    assert run["status"] == "FAILED" and "was stopped" in run["error-summary"]
    clock.advance(TRANSITION_S)
    assert status(backend, RUNNING_1) == "900"


def test_a_graceful_stop_without_delay_waits_for_a_stuck_run_until_it_is_stopped(
    backend: CdmBackend, clock: FakeClock
) -> None:
    backend.set_script("stuck", Script(Outcome.STUCK, duration_s=1.0))
    start_run(backend, "stuck")
    backend.cluster_action(RUNNING_1, stop_body("GRACEFULLY"))
    clock.advance(3600)
    assert status(backend, RUNNING_1) == "910" and run_of(backend, "stuck")["status"] == "RUNNING"
    backend.stop_job(RUNNING_1, "stuck")
    assert "stopped by the user" in run_of(backend, "stuck")["error-summary"]
    clock.advance(TRANSITION_S)
    assert status(backend, RUNNING_1) == "900"


def test_a_graceful_stop_fails_queued_runs_at_once(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=JOB_S, cluster_concurrency=1)
    start_run(backend, "first")
    start_run(backend, "queued")
    backend.cluster_action(RUNNING_1, stop_body("GRACEFULLY"))
    assert run_of(backend, "queued")["status"] == "FAILED"
    assert run_of(backend, "first")["status"] in ("BOOTING", "RUNNING")
    clock.advance(JOB_S)
    assert run_of(backend, "first")["status"] == "SUCCEEDED"  # the freed slot goes to nobody
    assert run_of(backend, "queued")["status"] == "FAILED"


def test_one_long_gap_applies_run_ends_and_cluster_changes_in_time_order(backend: CdmBackend, clock: FakeClock) -> None:
    start_run(backend, "long")
    backend.cluster_action(RUNNING_1, stop_body("GRACEFULLY"))
    clock.advance(1000)  # one access covers the run's end, the stop's begin and its end
    assert status(backend, RUNNING_1) == "900"
    events = [e for e in backend.snapshot()["events"] if e["cluster"] == RUNNING_1]
    stop_statuses = [(e["at"] - clock.now + 1000, e["status"]) for e in events if e["event"] == "cluster_status"]
    assert stop_statuses == [(JOB_S, "910"), (JOB_S + TRANSITION_S, "900")]
    assert run_of(backend, "long")["status"] == "SUCCEEDED"


def test_a_retry_due_before_a_delayed_restart_runs_and_is_failed_by_it(clock: FakeClock) -> None:
    """Run ends, CDM's retries and the cluster's changes happen in time order, even in one access."""
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, job_duration_s=JOB_S, retry_delay_s=1.0)
    job = job_definition("flaky")
    retry = {"name": "retryJobConfig", "inputs": [{"name": "retryJobConfig.retryJobType", "value": "RETRY_TRIPLE"}]}
    job["driver-config-values"]["configs"].append(retry)
    assert backend.create_job(RUNNING_1, job, USER)["validation-result"] == []
    backend.set_script("flaky", Script(Outcome.FAILED, 2.0, count=1))
    start_run(backend, "flaky")
    backend.cluster_action(RUNNING_1, restart_body(restart_delay_time=5))  # 200 until +5, then 500 until +7
    clock.advance(100)
    runs = backend.snapshot()["clusters"][0]["jobs"][0]["runs"]
    assert [(run["attempt"], run["submitted_at"] - clock.now + 100) for run in runs] == [(0, 0.0), (1, 3.0)]
    retried = run_of(backend, "flaky")
    assert retried["status"] == "FAILED" and retried["error-summary"].endswith("was restarted.")
    events = [e["event"] for e in backend.snapshot()["events"] if e.get("job_name") == "flaky"]
    assert events[-1] == "retry_skipped"  # the next retry fell due while the cluster was restarting


def test_scheduled_runs_due_while_the_cluster_is_not_running_are_skipped(backend: CdmBackend, clock: FakeClock) -> None:
    job = job_definition("every_minute")
    inputs = {"isSchedulerJob": "true", "cycleType": "minute", "cycle": "1"}
    group = [{"name": f"schedulerConfig.{key}", "value": value} for key, value in inputs.items()]
    job["driver-config-values"]["configs"].append({"name": "schedulerConfig", "inputs": group})
    assert backend.create_job(RUNNING_1, job, USER)["validation-result"] == []
    backend.cluster_action(RUNNING_1, stop_body())  # the run due at once starts, and the stop fails it
    clock.advance(300)
    runs = backend.list_submissions(RUNNING_1, "every_minute")["submissions"]
    assert [(run["status"], run["is-execute-auto"]) for run in runs] == [("FAILED", True)]
    skipped = [e for e in backend.snapshot()["events"] if e["event"] == "schedule_skipped"]
    assert [e["at"] - clock.now + 300 for e in skipped] == [60.0, 120.0, 180.0, 240.0, 300.0]
    assert all(f"cluster {RUNNING_1} is not running (status 900)" in e["reason"] for e in skipped)


def test_a_restart_fails_the_runs_under_way_when_it_begins(backend: CdmBackend, clock: FakeClock) -> None:
    start_run(backend, "etl")
    backend.cluster_action(RUNNING_1, restart_body(restart_delay_time=5))
    shown = backend.show_cluster(RUNNING_1)
    assert (shown["status"], shown["actions"]) == ("200", ["REBOOTING"])
    clock.advance(4.99)
    assert run_of(backend, "etl")["status"] == "RUNNING"
    clock.advance(0.01)
    run = run_of(backend, "etl")
    assert run["status"] == "FAILED" and run["error-summary"].endswith(f"cluster {RUNNING_1} was restarted.")
    assert status(backend, RUNNING_1) == "500"
    clock.advance(TRANSITION_S)
    assert status(backend, RUNNING_1) == "200"
    start_run(backend, "etl")  # running again


def test_a_job_start_on_a_stopped_cluster_is_refused_in_words(backend: CdmBackend, clock: FakeClock) -> None:
    backend.create_job(STOPPED, job_definition("etl"), USER)
    error = refused(backend.start_job, STOPPED, "etl", {}, USER)
    assert error.error is errors.CDM_CANNOT_SUBMIT
    assert error.message == f"Job[etl] cannot be submitted: cluster {STOPPED} is Stopped (900), not running"
    backend.cluster_action(STOPPED, start_body())
    assert "is Starting (920)" in refused(backend.start_job, STOPPED, "etl", {}, USER).message
    clock.advance(TRANSITION_S)
    assert start_run(backend, "etl", STOPPED)["status"] == "BOOTING"


def test_create_and_execute_avoids_a_cluster_that_stopped(backend: CdmBackend) -> None:
    backend.cluster_action(RUNNING_1, stop_body())
    error = refused(backend.create_and_start, [RUNNING_1], job_definition("x"), USER)
    assert error.error is errors.CDM_NO_RESOURCE
    answer = backend.create_and_start([RUNNING_1, RUNNING_2], job_definition("x"), USER)
    assert answer["submissions"][0]["job-name"] == "x"
    assert [job["name"] for job in backend.list_jobs(RUNNING_2)["jobs"]] == ["x"]


def test_a_set_status_applies_at_once_and_fails_runs_when_it_runs_no_jobs(
    backend: CdmBackend, clock: FakeClock
) -> None:
    start_run(backend, "etl")
    backend.cluster_action(RUNNING_2, stop_body())
    view = backend.set_cluster_status(RUNNING_2, ClusterStatus.FROZEN)
    assert view["status"] == "800" and view["transition"] is None  # the stop was dropped
    clock.advance(TRANSITION_S)
    assert backend.show_cluster(RUNNING_2)["isFrozen"] == "1"
    backend.set_cluster_status(RUNNING_1, ClusterStatus.FAILED)
    run = run_of(backend, "etl")
    assert run["status"] == "FAILED" and run["error-summary"].endswith("became Failed (300).")
    for body in (start_body(), stop_body(), restart_body()):
        assert refused(backend.cluster_action, RUNNING_1, body).error is errors.CDM_CLUSTER_ACTION_REFUSED


def test_reset_returns_to_the_configured_statuses_and_forgets_scripts(backend: CdmBackend, clock: FakeClock) -> None:
    backend.cluster_action(STOPPED, start_body())
    backend.cluster_action(RUNNING_1, stop_body())
    backend.script_cluster(RUNNING_2, ClusterScript(failed=True))
    clock.advance(TRANSITION_S)
    assert (status(backend, STOPPED), status(backend, RUNNING_1)) == ("200", "900")
    backend.reset()
    assert [status(backend, c.id) for c in DEFAULT_CLUSTERS] == ["200", "200", "900"]
    view = backend.cluster_view(RUNNING_2)
    assert view["script"] is None and view["action_counts"] == {} and view["configured_status"] == "200"


def test_the_admin_view_shows_the_action_under_way(backend: CdmBackend, clock: FakeClock) -> None:
    answer = backend.cluster_action(RUNNING_1, stop_body("GRACEFULLY", 30))
    view = backend.cluster_view(RUNNING_1)
    assert view["status"] == "910" and view["configured_status"] == "200"
    assert view["transition"]["action"] == "stop" and view["transition"]["job_id"] == answer["jobId"][0]
    assert view["transition"]["ends_at"] == clock.now + TRANSITION_S  # no run to wait for
    assert view["action_counts"] == {"stop": 1}
    assert view["view"]["actions"] == ["STOPPING"]
    assert backend.snapshot()["clusters"][0]["status"] == "910"


def test_a_transition_time_of_zero_reaches_the_target_at_once(clock: FakeClock) -> None:
    backend = CdmBackend(DEFAULT_CLUSTERS, clock=clock, cluster_transition_s=0.0)
    backend.cluster_action(STOPPED, start_body())
    assert status(backend, STOPPED) == "200"
    with pytest.raises(ValueError, match="cluster_transition_s"):
        CdmBackend(DEFAULT_CLUSTERS, clock=clock, cluster_transition_s=-1.0)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"duration_s": "1"}, "duration_s"),
        ({"duration_s": -1}, "duration_s"),
        ({"when": 1}, "unknown"),
        ([], "object"),
    ],
)
def test_bad_cluster_scripts_say_what_is_wrong(data: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ClusterScript.from_json(data)


def test_the_transition_flag_is_parsed_checked_and_documented(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args([]).cluster_transition_s == 2.0
    assert parse_args(["--cluster-transition-s", "0.25"]).cluster_transition_s == 0.25
    with pytest.raises(SystemExit):
        parse_args(["--cluster-transition-s", "-1"])
    assert "--cluster-transition-s" in build_parser().format_help()
