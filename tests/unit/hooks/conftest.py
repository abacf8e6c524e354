"""Fixtures of the hook tests: connections as AIRFLOW_CONN_* variables (no database), fresh token cache."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_cdm.client.auth import TOKEN_CACHE
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.unit.client.helpers import AK, BASE, CLUSTER, PROJECT, SK

SetConnection = Callable[..., dict[str, Any]]


def connection(**changes: Any) -> dict[str, Any]:
    """A connection pointing at the mocked CDM; ``extra`` entries set to None are left out."""
    extra: dict[str, Any] = {
        "region": "cn-north-4",
        "project_id": PROJECT,
        "cluster_id": CLUSTER,
        # no waits; a 429 is not retried (the throttled budget is 0 s)
        "retry": {"max_attempts": 3, "initial_backoff_s": 0, "max_backoff_s": 0, "throttled_s": 0},
    }
    extra.update(changes.pop("extra", {}))
    fields: dict[str, Any] = {"conn_type": "huaweicloud_cdm", "host": BASE, "login": AK, "password": SK}
    fields.update(changes)
    fields["extra"] = {key: value for key, value in extra.items() if value is not None}
    return fields


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch) -> SetConnection:
    """Define a connection (``cdm_default`` unless ``conn_id`` says otherwise) through the environment."""

    def define(conn_id: str = "cdm_default", **changes: Any) -> dict[str, Any]:
        fields = connection(**changes)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
        return fields

    return define


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    TOKEN_CACHE.clear()
    yield
    TOKEN_CACHE.clear()


@pytest.fixture
def hook(set_connection: SetConnection) -> Iterator[CdmHook]:
    set_connection()
    cdm = CdmHook()
    yield cdm
    cdm.close()
