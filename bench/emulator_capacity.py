"""The emulator's own capacity: signed job-status calls per second over keep-alive connections.

Run: ``python bench/emulator_capacity.py [--calls 5000] [--clients 1 4]``. Clients sign every request
(as a real client does) and share the machine with the emulator, so this is a lower bound.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from urllib.parse import urlsplit

from airflow_provider_cdm.api import endpoints, signer
from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator
from airflow_provider_cdm.job_definition import CdmJobDefinition

JOB = CdmJobDefinition(
    name="bench",
    from_connector="generic-jdbc-connector",
    from_link="pg",
    from_config={"tableName": "orders"},
    to_connector="obs-connector",
    to_link="obs",
    to_config={"bucketName": "b"},
)


def _call(
    emulator: EmulatorProcess, conn: http.client.HTTPConnection, method: str, path: str, body: bytes = b""
) -> int:
    login, password = emulator.connection["login"], emulator.connection["password"]
    base = {"Content-Type": "application/json", "X-Project-Id": emulator.project_id}
    conn.request(method, path, body=body, headers=signer.sign(method, emulator.url + path, base, body, login, password))
    answer = conn.getresponse()
    answer.read()
    return answer.status


def measure(emulator: EmulatorProcess, calls: int, clients: int) -> float:
    url = urlsplit(emulator.url)
    path = endpoints.JOB_STATUS.path(emulator.project_id, cluster_id=emulator.cluster_id, job_name=JOB.name)
    failures: list[int] = []

    def worker(count: int) -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port)
        for _ in range(count):
            status = _call(emulator, conn, "GET", path)
            if status != 200:
                failures.append(status)
        conn.close()

    threads = [threading.Thread(target=worker, args=(calls // clients,)) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} calls failed, e.g. HTTP {failures[0]}")
    return (calls // clients) * clients / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    with run_emulator("--job-duration", "3600") as emulator:
        setup = http.client.HTTPConnection(urlsplit(emulator.url).hostname, urlsplit(emulator.url).port)
        create = endpoints.CREATE_JOB.path(emulator.project_id, cluster_id=emulator.cluster_id)
        assert _call(emulator, setup, "POST", create, json.dumps({"jobs": [JOB.to_api()]}).encode()) == 200
        start = endpoints.START_JOB.path(emulator.project_id, cluster_id=emulator.cluster_id, job_name=JOB.name)
        assert _call(emulator, setup, "PUT", start, b"{}") == 200
        print("| keep-alive clients | signed status calls | requests/s |")
        print("|---|---|---|")
        for clients in args.clients:
            print(f"| {clients} | {args.calls} | {measure(emulator, args.calls, clients):,.0f} |")


if __name__ == "__main__":
    main()
