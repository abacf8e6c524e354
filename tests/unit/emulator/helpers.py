"""Shared pieces of the emulator tests: a settable clock, job definitions and a signing HTTP client."""

from __future__ import annotations

import json
from typing import Any

import requests

from airflow_provider_cdm.api import signer
from airflow_provider_cdm.emulator.testing import EmulatorHandle

RUNNING_1 = "c0000000-0000-4000-8000-000000000001"
RUNNING_2 = "c0000000-0000-4000-8000-000000000002"
STOPPED = "c0000000-0000-4000-8000-000000000009"


class FakeClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def job_definition(
    name: str,
    *,
    where: str = "order_date = '${date}'",
    from_link: str = "pg_link",
    from_connector: str = "generic-jdbc-connector",
) -> dict[str, Any]:
    """A JDBC-to-OBS job in the raw API shape; the where clause needs percent-encoding on read-back."""

    def configs(group: str, **inputs: str) -> dict[str, Any]:
        values = [{"name": f"{group}.{key}", "value": value} for key, value in inputs.items()]
        return {"configs": [{"name": group, "inputs": values}]}

    return {
        "name": name,
        "job_type": "NORMAL_JOB",
        "from-connector-name": from_connector,
        "from-link-name": from_link,
        "from-config-values": configs("fromJobConfig", tableName="orders", whereClause=where),
        "to-connector-name": "obs-connector",
        "to-link-name": "obs_link",
        "to-config-values": configs("toJobConfig", bucketName="warehouse"),
        "driver-config-values": configs("throttlingConfig", numExtractors="2"),
    }


class SignedClient:
    """Calls an emulator with AK/SK signatures from the project's signer, over one keep-alive session."""

    def __init__(self, emulator: EmulatorHandle, access_key: str | None = None, secret_key: str | None = None) -> None:
        self.url = emulator.url
        self.project_id = emulator.project_id
        self.access_key = access_key or emulator.connection["login"]
        self.secret_key = secret_key or emulator.connection["password"]
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: no proxies from the environment

    def path(self, suffix: str) -> str:
        return f"/v1.1/{self.project_id}{suffix}"

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> requests.Response:
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", "X-Project-Id": self.project_id, **(headers or {})}
        url = self.url + path
        if sign:
            sent = signer.sign(method, url, sent, data, self.access_key, self.secret_key)
        return self.session.request(method, url, data=data, headers=sent, timeout=10)

    def cdm(self, method: str, suffix: str, body: object = None, **kwargs: Any) -> requests.Response:
        return self.call(method, self.path(suffix), body, **kwargs)
