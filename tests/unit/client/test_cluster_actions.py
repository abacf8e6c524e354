"""Cluster actions: the bodies sent, the answers read, and bad parameters refused before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cdm.api import cluster_actions, endpoints
from airflow_provider_cdm.api.cluster_actions import ClusterAction
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.exceptions import CdmConfigError
from tests.unit.client.helpers import CLUSTER, PROJECT


def test_start_is_the_documented_body_on_the_action_path() -> None:
    call = ops.start_cluster(CLUSTER)

    assert call.method == "POST"
    assert call.path(PROJECT) == f"/v1.1/{PROJECT}/clusters/{CLUSTER}/action"
    assert json.loads(call.body_bytes()) == {"start": {}}
    assert call.endpoint is endpoints.CLUSTER_ACTION and not call.endpoint.idempotent


def test_stop_sends_mode_and_delay_in_cdm_spelling() -> None:
    call = ops.stop_cluster(CLUSTER, "gracefully", "600")

    assert call.body == {"stop": {"stopMode": "GRACEFULLY", "delayTime": 600}}
    assert ops.stop_cluster(CLUSTER).body == {"stop": {"stopMode": "IMMEDIATELY", "delayTime": -1}}


def test_restart_sends_every_documented_field() -> None:
    call = ops.restart_cluster(CLUSTER, "softly", "vm", 30.0)

    assert call.body == {
        "restart": {
            "restartDelayTime": 30,
            "restartMode": "SOFTLY",
            "restartLevel": "VM",
            "type": "cdm",
            "instance": "",
            "group": "",
        }
    }


@pytest.mark.parametrize(
    ("build", "setting", "bad"),
    [
        (lambda bad: ops.stop_cluster(CLUSTER, bad), "stop_mode", "NOW"),
        (lambda bad: ops.stop_cluster(CLUSTER, "GRACEFULLY", bad), "delay_time", -5),
        (lambda bad: ops.stop_cluster(CLUSTER, "GRACEFULLY", bad), "delay_time", 1.5),
        (lambda bad: ops.stop_cluster(CLUSTER, "GRACEFULLY", bad), "delay_time", True),
        (lambda bad: ops.restart_cluster(CLUSTER, bad), "restart_mode", "HARD"),
        (lambda bad: ops.restart_cluster(CLUSTER, "SOFTLY", bad), "restart_level", "NODE"),
        (lambda bad: ops.restart_cluster(CLUSTER, "SOFTLY", "VM", bad), "delay_time", -1),
    ],
)
def test_bad_parameters_are_refused_by_name_with_the_value_as_written(build: Any, setting: str, bad: object) -> None:
    with pytest.raises(CdmConfigError) as caught:
        build(bad)

    assert caught.value.setting == setting
    assert repr(bad) in str(caught.value)


def test_a_cluster_id_that_would_change_the_path_is_refused() -> None:
    with pytest.raises(CdmConfigError) as caught:
        ops.start_cluster("../clusters")
    assert caught.value.setting == "cluster_id"


@pytest.mark.parametrize(
    ("answer", "ids"),
    [({"jobId": ["a", "b"]}, ["a", "b"]), ({"jobId": "r-1"}, ["r-1"]), ({}, []), ({"jobId": ""}, []), (None, [])],
)
def test_the_answer_is_a_list_of_action_ids_whatever_the_shape(answer: object, ids: list[str]) -> None:
    assert ops.start_cluster(CLUSTER).parse(answer) == ids


@pytest.mark.parametrize(
    ("action", "passing", "target"),
    [
        (ClusterAction.START, ClusterStatus.STARTING, ClusterStatus.NORMAL),
        (ClusterAction.STOP, ClusterStatus.STOPPING, ClusterStatus.STOPPED),
        (ClusterAction.RESTART, ClusterStatus.RESTARTING, ClusterStatus.NORMAL),
    ],
)
def test_each_action_passes_through_its_documented_status(
    action: ClusterAction, passing: ClusterStatus, target: ClusterStatus
) -> None:
    rule = action.rule
    assert rule.under_way(passing) and not rule.reached(passing)
    assert rule.reached(target) and not rule.under_way(target)
    assert passing.is_transitional and not target.is_transitional


def test_an_action_body_is_read_back_as_exactly_one_action() -> None:
    assert cluster_actions.action_of(cluster_actions.stop_body("GRACEFULLY", 5)) == (
        ClusterAction.STOP,
        {"stopMode": "GRACEFULLY", "delayTime": 5},
    )
    assert cluster_actions.action_of({"start": {}, "stop": {}}) is None
    assert cluster_actions.action_of({"reboot": {}}) is None
    assert cluster_actions.action_of({"start": "now"}) is None


def test_failure_statuses_are_the_documented_ones() -> None:
    assert {status for status in ClusterStatus if status.is_failure} == {
        ClusterStatus.FAILED,
        ClusterStatus.CREATE_FAILED,
    }
    assert ClusterStatus.STOPPED.label == "Stopped"
