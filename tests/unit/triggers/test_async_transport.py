"""AsyncTransport against the in-process emulator: IAM tokens through httpx in the shared cache,
reconciliation driven with await, failures classified as the sync transport classifies them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.async_transport import AsyncTransport, aload_settings
from airflow_provider_cdm.client.auth import TokenCache
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmConfigError, CdmJobNotFoundError
from airflow_provider_cdm.client.retry import RetryPolicy
from airflow_provider_cdm.client.settings import CdmSettings
from airflow_provider_cdm.client.transport import SyncTransport
from airflow_provider_cdm.emulator.faults import FaultPlan
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from tests.conftest import IAM_DOMAIN, IAM_PASSWORD, IAM_USER
from tests.jobs import job_definition
from tests.unit.triggers.helpers import FAST_RETRY, ScriptedFaults, requests_of

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def iam_emulator() -> Iterator[EmulatorThread]:
    args = ("--conn-auth", "password", "--user", IAM_USER, "--password", IAM_PASSWORD, "--domain", IAM_DOMAIN)
    with emulator_in_thread(*args) as running:
        yield running


@pytest.fixture
def iam(iam_emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    iam_emulator.reset()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", iam_emulator.connection_json)
    return iam_emulator


def settings_of(emulator: EmulatorThread, **overrides: Any) -> CdmSettings:
    conn = emulator.connection
    values: dict[str, Any] = {
        "endpoint": conn["host"],
        "project_id": conn["extra"]["project_id"],
        "auth_type": conn["extra"].get("auth_type", "aksk"),  # left out when it is the default
        "login": conn["login"],
        "password": conn["password"],
        "domain": conn["extra"].get("domain"),
        "iam_endpoint": conn["extra"]["iam_endpoint"],
        "cluster_id": conn["extra"]["cluster_id"],
        "retry": RetryPolicy(**FAST_RETRY),
    }
    values.update(overrides)
    return CdmSettings(**values)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_one_iam_token_serves_async_and_sync_transports(iam: EmulatorThread) -> None:
    cache = TokenCache()
    masked: list[str] = []

    async def on_token(token: str) -> None:
        masked.append(token)

    first = AsyncTransport(settings_of(iam), token_cache=cache, on_token=on_token)
    second = AsyncTransport(settings_of(iam), token_cache=cache, on_token=on_token)
    calls = [transport.execute(ops.list_clusters()) for transport in (first, second) for _ in range(3)]
    answers = await asyncio.gather(*calls)  # concurrent coroutines wait for one fetch
    await first.aclose()
    await second.aclose()
    assert all(iam.cluster_id in {cluster.id for cluster in clusters} for clusters in answers)
    sync = SyncTransport(settings_of(iam), token_cache=cache)
    try:
        sync.execute(ops.list_clusters())
    finally:
        sync.close()
    assert requests_of(iam, "iam_token") == {"201": 1}
    assert requests_of(iam, "list_clusters") == {"200": 7}
    assert len(masked) == 1 and masked[0]


async def test_a_revoked_token_is_fetched_again_once(iam: EmulatorThread) -> None:
    async with AsyncTransport(settings_of(iam), token_cache=TokenCache()) as transport:
        await transport.execute(ops.list_clusters())
        iam.revoke_tokens()
        await transport.execute(ops.list_clusters())
    assert requests_of(iam, "iam_token") == {"201": 2}
    assert requests_of(iam, "list_clusters") == {"200": 2, "401": 1}


async def test_a_wrong_iam_password_is_an_auth_error(iam: EmulatorThread) -> None:
    transport = AsyncTransport(settings_of(iam, password="not-the-password"), token_cache=TokenCache())
    with pytest.raises(CdmApiError) as refused:
        await transport.execute(ops.list_clusters())
    await transport.aclose()
    assert refused.value.http_status == 401
    assert "not-the-password" not in str(refused.value)


async def test_a_lost_start_answer_is_reconciled_not_sent_twice(emu: EmulatorThread, faults: ScriptedFaults) -> None:
    settings = settings_of(emu, auth_type="aksk", domain=None)
    async with AsyncTransport(settings) as transport:
        await transport.execute(ops.create_job(settings.cluster_id or "", job_definition("orders")))
        faults.queue(FaultPlan(reset="after"))  # CDM starts the run, the answer is lost
        submission = await transport.execute(ops.start_job(settings.cluster_id or "", "orders"))
    assert emu.stats()["starts"] == {"orders": 1}
    run = emu.state()["clusters"][0]["jobs"][0]["runs"][0]
    assert submission.submission_id in (run["submission_id"], None)  # None: a sparse BOOTING answer (row 12)
    assert submission.is_active and submission.creation_date is not None  # the run, pinned by CDM's date
    assert requests_of(emu, "start_job") == {"no_response": 1}
    assert requests_of(emu, "job_status") == {"200": 1}  # the reconciler's probe


async def test_api_errors_are_the_same_classes_as_the_sync_transport_raises(emu: EmulatorThread) -> None:
    async with AsyncTransport(settings_of(emu, auth_type="aksk", domain=None)) as transport:
        with pytest.raises(CdmJobNotFoundError, match="Cdm.0100"):
            await transport.execute(ops.job_status(emu.cluster_id or "", "ghost"))


async def test_history_pages_are_walked_until_the_listing_ends(emu: EmulatorThread) -> None:
    settings = settings_of(emu, auth_type="aksk", domain=None)
    emu.script_job("orders", "SUCCEEDED", duration_s=0)
    cluster = settings.cluster_id or ""
    async with AsyncTransport(settings) as transport:
        await transport.execute(ops.create_job(cluster, job_definition("orders")))
        for _ in range(25):
            await transport.execute(ops.start_job(cluster, "orders"))
        ids = [
            item.submission_id
            async for item in transport.iter_pages(
                lambda page_no: ops.list_submissions(cluster, "orders", page_no=page_no, page_size=10), 10
            )
        ]
    assert ids == list(range(25, 0, -1))  # newest first, three pages, no repeats
    assert requests_of(emu, "list_submissions") == {"200": 3}


async def test_an_unreachable_endpoint_is_retried_then_reported() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = CdmSettings(
        endpoint=f"http://127.0.0.1:{closed_port()}",
        project_id="p",
        login="ak",
        password="sk",
        retry=RetryPolicy(**FAST_RETRY),
    )
    async with AsyncTransport(settings, sleep=sleep) as transport:
        with pytest.raises(CdmApiError, match="Could not connect to CDM") as failed:
            await transport.execute(ops.list_clusters())
    assert failed.value.http_status is None
    assert waits == [0.05, 0.1, 0.2]  # the policy's backoff, then it gave up after 4 attempts


async def test_no_answer_within_the_read_timeout(emu: EmulatorThread, faults: ScriptedFaults) -> None:
    settings = settings_of(emu, auth_type="aksk", domain=None, read_timeout_s=0.2, retry=RetryPolicy(max_attempts=1))
    faults.queue(FaultPlan(latency_s=0.5))
    async with AsyncTransport(settings) as transport:
        with pytest.raises(CdmApiError, match="No answer from CDM within 0.2 s"):
            await transport.execute(ops.list_clusters())


async def test_the_proxy_setting_is_used(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = {"http": f"http://127.0.0.1:{closed_port()}"}
    settings = settings_of(emu, auth_type="aksk", domain=None, proxies=proxy, retry=RetryPolicy(max_attempts=1))
    async with AsyncTransport(settings) as transport:
        with pytest.raises(CdmApiError, match="Could not connect to CDM"):
            await transport.execute(ops.list_clusters())
    assert "list_clusters" not in emu.stats()["requests"]  # nothing went straight to CDM


async def test_a_ca_bundle_path_is_loaded_off_the_event_loop(emu: EmulatorThread) -> None:
    import certifi

    settings = settings_of(emu, auth_type="aksk", domain=None, verify=certifi.where())
    async with AsyncTransport(settings) as transport:
        client = await transport.client()
        assert await transport.client() is client  # one keep-alive client per transport
        clusters = await transport.execute(ops.list_clusters())
    assert emu.cluster_id in {cluster.id for cluster in clusters}
    assert transport._client is None  # closed on exit


async def test_settings_load_from_the_connection_with_overrides(emu: EmulatorThread) -> None:
    settings = await aload_settings("cdm_default", timeout=[2, 7], retry_policy={"max_attempts": 2})
    assert (settings.endpoint, settings.project_id) == (emu.url, emu.project_id)
    assert (settings.connect_timeout_s, settings.read_timeout_s, settings.retry.max_attempts) == (2, 7, 2)
    with pytest.raises(CdmConfigError, match="retry_policy.nonsense"):
        await aload_settings("cdm_default", retry_policy={"nonsense": 1})
