"""What the operator and sensor tests share: a recording task instance and a mocked CDM connection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.client.helpers import AK, BASE, CLUSTER, PROJECT, SK


class RecordingTI:
    """The part of a task instance the operators use: ``xcom_push`` and ``xcom_pull`` of its own XComs."""

    def __init__(self, task_id: str = "migrate", map_index: int = -1) -> None:
        self.task_id, self.map_index = task_id, map_index
        self.xcom: dict[str, Any] = {}
        self.pulls: list[dict[str, Any]] = []

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int, **_: Any) -> Any:
        self.pulls.append({"task_ids": task_ids, "key": key, "map_indexes": map_indexes})
        return self.xcom.get(key) if (task_ids, map_indexes) == (self.task_id, self.map_index) else None


def task_context(ti: RecordingTI | None = None) -> dict[str, Any]:
    return {"ti": ti or RecordingTI()}


def use_mocked_cdm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``cdm_default`` at the requests-mock CDM (no retries, so nothing waits)."""
    connection = {
        "conn_type": "huaweicloud_cdm",
        "host": BASE,
        "login": AK,
        "password": SK,
        "extra": {
            "region": "cn-north-4",
            "project_id": PROJECT,
            "cluster_id": CLUSTER,
            "retry": {"max_attempts": 1, "throttled_s": 0},  # a 429 is not retried either
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", json.dumps(connection))
