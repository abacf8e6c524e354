"""The trigger's contract: JSON-only kwargs that rebuild the same trigger, and arguments checked at defer time."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.runs import RunRef, StatusRules
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger

CLASSPATH = "airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger"
RUN = RunRef("orders to obs ✓", "c0000000-0000-4000-8000-000000000001", 42, 1_790_000_000_000)


def full_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "run": RUN.to_json(),
        "end_time": 1_790_000_600.5,
        "poll_interval": 15.0,
        "cdm_conn_id": "cdm_prod",
        "rules": StatusRules.from_names(success=["SUCCEEDED", "UNKNOWN"], failure=["FAILED"]).to_json(),
        "stop_on_kill": True,
        "hook_params": {
            "region": "ap-southeast-1",
            "timeout": [5, 30],
            "verify": False,
            "retry_policy": {"max_attempts": 3},
        },
    }
    kwargs.update(changes)
    return kwargs


def test_serialize_round_trips_through_json_to_an_equal_trigger() -> None:
    classpath, kwargs = CdmJobStatusTrigger(**full_kwargs()).serialize()
    assert classpath == CLASSPATH
    assert kwargs == full_kwargs()  # every argument, unchanged
    stored = json.loads(json.dumps(kwargs))  # what the metadata database keeps
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**stored)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.run_ref == RUN
    assert rebuilt.rules == StatusRules.from_names(success=["SUCCEEDED", "UNKNOWN"], failure=["FAILED"])


def test_defaults_serialize_as_json_too() -> None:
    _, kwargs = CdmJobStatusTrigger(run={"job_name": "j", "cluster_id": "c"}, end_time=10).serialize()
    assert kwargs == {
        "run": {"job_name": "j", "cluster_id": "c", "submission_id": None, "not_before_ms": None},
        "end_time": 10.0,
        "poll_interval": 10.0,
        "cdm_conn_id": "cdm_default",
        "rules": None,
        "stop_on_kill": False,
        "hook_params": {},
    }
    assert json.loads(json.dumps(kwargs)) == kwargs


def test_hook_params_become_plain_json() -> None:
    policy = RetryPolicy(max_attempts=2, jitter=False)
    _, kwargs = CdmJobStatusTrigger(**full_kwargs(hook_params={"timeout": (3, 9), "retry_policy": policy})).serialize()
    assert kwargs["hook_params"]["timeout"] == [3, 9]
    assert kwargs["hook_params"]["retry_policy"]["max_attempts"] == 2
    assert json.loads(json.dumps(kwargs)) == kwargs


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"hook_params": {"retry_policy": object()}}, "hook_params['retry_policy']"),
        ({"hook_params": {"password": "x"}}, "hook_params"),  # credentials come from the connection only
        ({"run": {"cluster_id": "c"}}, "run"),
        ({"run": {"job_name": "a/b", "cluster_id": "c"}}, "job_name"),
        ({"run": {**RUN.to_json(), "submission_id": "42"}}, "run.submission_id"),
        ({"rules": {"success": ["DONE"]}}, "rules"),
        ({"rules": {"success": ["FAILED"], "failure": ["FAILED"]}}, "rules"),  # both success and failure
        ({"end_time": "tomorrow"}, "end_time"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"stop_on_kill": "yes"}, "stop_on_kill"),
    ],
)
def test_arguments_that_cannot_work_are_refused_when_the_task_defers(changes: dict[str, Any], setting: str) -> None:
    with pytest.raises(CdmConfigError) as refused:
        CdmJobStatusTrigger(**full_kwargs(**changes))
    assert refused.value.setting == setting
