"""The hook against the emulator, per auth mode (AK/SK, IAM password token, static token): requests per
job lifecycle (create, start, wait, result) and the client-side cost of a call (signing, session reuse).

The emulator runs in its own process; client CPU is this process's only. "Keep-alive" reuses one hook
(one ``requests.Session``); "new session" builds a hook per call (a new TCP connection each time; the
IAM token stays in the process-wide cache).

Run: ``python bench/hook_calls.py [--calls 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.request import ProxyHandler, Request, build_opener

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import airflow_version, fmt, job_definition, median, progress, table, use_airflow_env

POLL_S = 0.25
JOB_DURATION_S = 1.0


def iam_token(url: str, user: str, password: str, domain: str, project_id: str) -> str:
    identity = {"name": user, "password": password, "domain": {"name": domain}}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": identity}},
            "scope": {"project": {"id": project_id}},
        }
    }
    headers = {"Content-Type": "application/json"}
    request = Request(f"{url}/v3/auth/tokens", json.dumps(body).encode(), headers, method="POST")
    with build_opener(ProxyHandler({})).open(request, timeout=10) as answer:
        return str(answer.headers["X-Subject-Token"])


def connections(emulator: Any) -> dict[str, dict[str, Any]]:
    from airflow_provider_cdm.emulator.config import DEFAULT_DOMAIN, DEFAULT_PASSWORD, DEFAULT_USER

    aksk = emulator.connection
    extra = {key: aksk["extra"][key] for key in ("region", "project_id", "cluster_id")}
    password = {
        **aksk,
        "login": DEFAULT_USER,
        "password": DEFAULT_PASSWORD,
        "extra": {**extra, "auth_type": "password", "domain": DEFAULT_DOMAIN, "iam_endpoint": emulator.url},
    }
    token = iam_token(emulator.url, DEFAULT_USER, DEFAULT_PASSWORD, DEFAULT_DOMAIN, emulator.project_id)
    static = {**aksk, "login": None, "password": None, "extra": {**extra, "auth_type": "token", "token": token}}
    return {"aksk": aksk, "password (IAM token)": password, "static token": static}


def total(requests: dict[str, dict[str, int]], before: dict[str, dict[str, int]], operation: str) -> int:
    return sum(requests.get(operation, {}).values()) - sum(before.get(operation, {}).values())


def lifecycle(emulator: Any, conn_id: str, name: str) -> dict[str, int]:
    """Create, start, wait (status polls until the run ends), result: requests of each phase."""
    from airflow_provider_cdm.client.auth import TOKEN_CACHE
    from airflow_provider_cdm.client.runs import RunRef, StatusRules, Verdict
    from airflow_provider_cdm.hooks.cdm import CdmHook

    TOKEN_CACHE.clear()
    rules = StatusRules()
    counts: dict[str, int] = {}
    hook = CdmHook(conn_id)
    before = emulator.stats()["requests"]
    hook.create_job(job_definition(name))
    after = emulator.stats()["requests"]
    counts["create"] = total(after, before, "create_job")
    counts["iam"] = total(after, before, "iam_token")
    before = after
    run = RunRef.of(hook.start_job(name), hook.resolve_cluster_id())
    after = emulator.stats()["requests"]
    counts["start"] = total(after, before, "start_job")
    counts["iam"] += total(after, before, "iam_token")
    before = after
    while True:
        latest = hook.get_job_status(name)
        if rules.judge(latest, run) in (Verdict.SUCCEEDED, Verdict.FAILED):
            break
        time.sleep(POLL_S)
    after = emulator.stats()["requests"]
    counts["wait"] = total(after, before, "job_status")
    counts["iam"] += total(after, before, "iam_token")
    # The result (rows, counters, or the error summary) is in the final status answer: no request.
    assert latest is not None and latest.counters
    counts["result"] = 0
    hook.close()
    return counts


class _TaskInstance:
    """What ``CdmStartJobOperator.execute`` needs of a task instance: its own XComs."""

    task_id, map_index = "bench", -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, **_: Any) -> Any:
        return None


def operator_lifecycle(emulator: Any, conn_id: str, name: str) -> dict[str, int]:
    """``CdmStartJobOperator`` (polling) on an existing job: start calls and status reads until its run ended."""
    from airflow_provider_cdm.operators.cdm import CdmStartJobOperator

    before = emulator.stats()["requests"]
    operator = CdmStartJobOperator(task_id="bench", job_name=name, cdm_conn_id=conn_id, poll_interval=POLL_S)
    result = operator.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
    assert result["status"] == "SUCCEEDED", result
    after = emulator.stats()["requests"]
    operator.hook.close()
    return {"start": total(after, before, "start_job"), "status": total(after, before, "job_status")}


def per_call(conn_id: str, name: str, calls: int) -> dict[str, float]:
    from airflow_provider_cdm.client import operations as ops
    from airflow_provider_cdm.client.auth import build_auth
    from airflow_provider_cdm.client.transport import unsigned_request
    from airflow_provider_cdm.hooks.cdm import CdmHook

    hook = CdmHook(conn_id)
    hook.get_job_status(name)  # connection and token in place
    walls = []
    cpu = time.process_time()
    for _ in range(calls):
        began = time.perf_counter()
        hook.get_job_status(name)
        walls.append(time.perf_counter() - began)
    cpu_per_call = (time.process_time() - cpu) / calls
    fresh = []
    for _ in range(max(10, calls // 5)):
        began = time.perf_counter()
        other = CdmHook(conn_id)
        other.get_job_status(name)
        fresh.append(time.perf_counter() - began)
        other.close()
    settings = hook.settings
    auth = build_auth(settings, fetch=hook.transport._fetch_token)  # the cached token, as a call signs
    _, request = unsigned_request(settings, ops.job_status(hook.resolve_cluster_id(), name))
    signs = 2000
    began = time.perf_counter()
    for _ in range(signs):
        auth.apply(request.method, request.url, request.headers, request.body)
    sign_s = (time.perf_counter() - began) / signs
    hook.close()
    return {
        "wall_ms": median(walls) * 1000,
        "cpu_ms": cpu_per_call * 1000,
        "fresh_ms": median(fresh) * 1000,
        "sign_us": sign_s * 1e6,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="status calls per auth mode")
    args = parser.parse_args(argv)
    use_airflow_env()
    # The emulator enforces no quotas here and the bench times the client itself: no client-side pacing.
    os.environ["AIRFLOW__CDM__CLIENT_PACING"] = "False"
    from airflow_provider_cdm.emulator.testing import run_emulator

    rows = []
    with run_emulator("--job-duration", str(JOB_DURATION_S)) as emulator:
        for index, (mode, connection) in enumerate(connections(emulator).items()):
            conn_id = f"bench_hook_{index}"
            os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)
            progress(f"hook with {mode}: one job lifecycle, {args.calls} status calls")
            counts = lifecycle(emulator, conn_id, f"bench-{index}")
            started = operator_lifecycle(emulator, conn_id, f"bench-{index}")
            timing = per_call(conn_id, f"bench-{index}", args.calls)
            lifecycle_total = counts["create"] + counts["start"] + counts["wait"] + counts["result"] + counts["iam"]
            rows.append(
                [
                    mode,
                    f"{counts['create']} / {counts['start']} / {counts['wait']} / {counts['result']}",
                    str(counts["iam"]),
                    str(lifecycle_total),
                    f"{started['start']} / {started['status']}",
                    fmt(timing["wall_ms"], 2),
                    fmt(timing["cpu_ms"], 2),
                    fmt(timing["fresh_ms"], 2),
                    fmt(timing["sign_us"], 0),
                ]
            )
    header = [
        "auth mode",
        "requests: create / start / wait (status polls) / result",
        "IAM token requests",
        "requests per lifecycle",
        "CdmStartJobOperator: start calls / status reads (polls)",
        "status call, keep-alive: wall ms (median)",
        "client CPU ms per call",
        "status call, new session each: wall ms (median)",
        "auth headers per request, µs",
    ]
    print(
        f"### The hook against the emulator (Airflow {airflow_version()}): a {JOB_DURATION_S:g} s job polled every "
        f"{POLL_S:g} s; {args.calls} status calls per mode\n"
    )
    print(table(header, rows))
    print(
        "\nThe wait's count is the number of status polls (one every poll interval until the run ends); the result "
        "(rows, counters or the error summary) comes with the final status answer. The start operator starts "
        "first and reads the status only when CDM answers that a run is active (Cdm.0052): its lifecycle is one "
        "start plus the polls. Signing (AK/SK) is the "
        "SDK-HMAC-SHA256 of each request; the token modes only add a header.\n",
        flush=True,
    )


if __name__ == "__main__":
    main()
