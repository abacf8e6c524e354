"""The cluster wait's judge (client/cluster_wait.py): each action's rule, the words, the statuses users may name."""

from __future__ import annotations

import pytest

from airflow_provider_cdm.api.cluster_actions import ClusterAction
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.client.cluster_wait import (
    RESTART_SETTLE_S,
    ClusterDecision,
    ClusterVerdict,
    ClusterWait,
    cluster_words,
    judge_any,
    parse_cluster_statuses,
)
from airflow_provider_cdm.client.exceptions import CdmConfigError

S = ClusterStatus
DONE, WAITING, FAILED = ClusterVerdict.DONE, ClusterVerdict.WAITING, ClusterVerdict.FAILED
NAME = cluster_words("c-1", "nightly")


def verdict(wait: ClusterWait, status: ClusterStatus | None, **kwargs: object) -> ClusterVerdict:
    return wait.judge(status, cluster=NAME, **kwargs).verdict  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("action", "statuses"),
    [
        (ClusterAction.START, {S.NORMAL: DONE, S.STARTING: WAITING, S.STOPPED: WAITING, S.STOPPING: WAITING}),
        (ClusterAction.STOP, {S.STOPPED: DONE, S.STOPPING: WAITING, S.NORMAL: WAITING, S.STARTING: WAITING}),
    ],
)
def test_start_and_stop_end_at_their_target_and_fail_on_failed_never_created_and_frozen(
    action: ClusterAction, statuses: dict[ClusterStatus, ClusterVerdict]
) -> None:
    wait = ClusterWait.for_action(action, sent_at=0.0)
    for status, expected in statuses.items():
        assert verdict(wait, status) is expected, status
    for status in (S.FAILED, S.CREATE_FAILED, S.FROZEN):
        assert verdict(wait, status) is FAILED, status
    assert verdict(wait, None, raw="777") is WAITING  # a code CDM may add: not a verdict


def test_the_failure_words_name_the_cluster_its_code_and_what_it_was_doing() -> None:
    start = ClusterWait.for_action(ClusterAction.START)
    failed = start.judge(S.FAILED, cluster=NAME)
    assert failed.message.startswith("cluster nightly (c-1) failed (300) while starting")
    frozen = start.judge(S.FROZEN, cluster=NAME).message
    assert "frozen (800) while starting" in frozen and "billing" in frozen
    assert "creation failed (303)" in ClusterWait.running().judge(S.CREATE_FAILED, cluster=NAME).message
    waiting = start.judge(S.STARTING, cluster=NAME).message
    assert waiting == "cluster nightly (c-1) is Starting (920); waiting for it to start"
    assert start.judge(None, cluster=NAME, raw="777").message.startswith(
        "cluster nightly (c-1) is an unknown status '777'"
    )
    assert start.judge(S.NORMAL, cluster=NAME).message == "cluster nightly (c-1) started: Normal (200)"


def test_a_restart_counts_only_once_the_cluster_showed_it_was_restarting() -> None:
    wait = ClusterWait.for_action(ClusterAction.RESTART, sent_at=1000.0, delay_s=30)
    assert wait.must_pass and wait.pass_by == 1000.0 + 30 + RESTART_SETTLE_S
    assert verdict(wait, S.NORMAL, passed=False, now=1001.0) is WAITING  # not begun yet
    assert verdict(wait, S.RESTARTING, now=1001.0) is WAITING
    assert verdict(wait, S.NORMAL, passed=True, now=1002.0) is DONE
    late = wait.judge(S.NORMAL, cluster=NAME, passed=False, now=wait.pass_by)
    assert late.verdict is DONE and "taken as restarted" in late.message
    # A restart this task did not send (it found the cluster restarting): 200 is done at once.
    assert verdict(ClusterWait.for_action(ClusterAction.RESTART), S.NORMAL) is DONE


def test_the_running_wait_is_a_jobs_wait_for_normal() -> None:
    wait = ClusterWait.running()
    assert verdict(wait, S.NORMAL) is DONE
    assert verdict(wait, S.STOPPED) is WAITING and verdict(wait, S.STARTING) is WAITING
    assert verdict(wait, S.FROZEN) is FAILED
    assert wait.judge(S.STOPPED, cluster=NAME).message.endswith("waiting for Normal (200)")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["200"], {S.NORMAL}),
        ([900, "910"], {S.STOPPED, S.STOPPING}),
        (["NORMAL", "stopped", " Frozen "], {S.NORMAL, S.STOPPED, S.FROZEN}),
        ([S.STARTING], {S.STARTING}),
        ("200", {S.NORMAL}),
        (S.STOPPED, {S.STOPPED}),
        (900, {S.STOPPED}),
    ],
)
def test_statuses_may_be_members_codes_or_names(given: object, expected: set[ClusterStatus]) -> None:
    assert parse_cluster_statuses(given) == expected


@pytest.mark.parametrize("given", [["RUNNING"], [201], ["2OO"], [True], [None], [], {"200": 1}, 2.0])
def test_anything_else_is_refused_naming_the_value(given: object) -> None:
    with pytest.raises(CdmConfigError, match=r"^target_statuses: ") as caught:
        parse_cluster_statuses(given)
    if isinstance(given, list) and given:
        assert repr(given[0]) in str(caught.value)


def test_the_sensors_wait_fails_on_300_and_303_unless_they_are_targets() -> None:
    default = ClusterWait.for_statuses()
    assert default.targets == {S.NORMAL} and default.failures == {S.FAILED, S.CREATE_FAILED}
    assert verdict(default, S.FROZEN) is WAITING  # not a default failure of the sensor
    accepting = ClusterWait.for_statuses(["FAILED", 200])
    assert verdict(accepting, S.FAILED) is DONE and accepting.failures == {S.CREATE_FAILED}
    with pytest.raises(CdmConfigError, match="failure_statuses"):
        ClusterWait.for_statuses([200], [200, 300])


def test_the_wait_goes_through_json_unchanged_and_refuses_anything_else() -> None:
    for wait in (
        ClusterWait.for_action(ClusterAction.RESTART, sent_at=5.0),
        ClusterWait.for_statuses(["STOPPED"]),
        ClusterWait.running(),
    ):
        assert ClusterWait.from_json(wait.to_json()) == wait
    with pytest.raises(CdmConfigError, match=r"^wait: has no 'targets'"):
        ClusterWait.from_json({"failures": []})
    with pytest.raises(CdmConfigError, match=r"^wait.targets: 'up' is not"):
        ClusterWait.from_json({"targets": ["up"], "failures": []})
    with pytest.raises(CdmConfigError, match=r"^wait: "):
        ClusterWait.from_json({"targets": ["200"], "failures": [], "action": "reboot"})
    with pytest.raises(CdmConfigError, match=r"^wait.pass_by"):
        ClusterWait.from_json({"targets": ["200"], "failures": [], "pass_by": "soon"})


def test_several_candidates_are_done_when_one_is_and_failed_only_when_all_are() -> None:
    done, waiting, failed = (ClusterDecision(v, v.value) for v in (DONE, WAITING, FAILED))
    assert judge_any([failed, waiting, done])[:2] == (DONE, 2)
    assert judge_any([failed, waiting])[0] is WAITING
    assert judge_any([failed, failed]) == (FAILED, None, "failed; failed")
