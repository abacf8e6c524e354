"""The emulator in tests (this project's and users'): as a subprocess, or on a thread for fast tests.

``run_emulator()`` starts ``python -m airflow_provider_cdm.emulator --port 0`` and yields an
:class:`EmulatorProcess`; ``emulator_in_thread()`` serves in this process (optionally on an injected
clock) and yields an :class:`EmulatorThread`. Both carry the printed connection and admin helpers::

    with run_emulator("--job-duration", "0.5") as emulator:
        os.environ.update(emulator.env)  # cdm_default now points at the emulator
        emulator.script_job("nightly_copy", "FAILED", error_summary="disk full")

Clusters (start, stop and restart move them through 920/910/500 for ``--cluster-transition-s``)::

    emulator.set_cluster_status(cluster_id, "900")  # begin with a stopped cluster (or "300", "800")
    emulator.script_cluster(cluster_id)  # its next action ends in 300 (failed); outcome="ok" to undo
    emulator.script_cluster(cluster_id, "ok", duration_s=0.2)  # ... or just takes 0.2 s
    emulator.cluster(cluster_id)["status"]  # "920" while it starts; ["view"] is show-cluster's answer
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import ProxyHandler, Request, build_opener

from airflow_provider_cdm.emulator.app import CONNECTION_ENV_VAR
from airflow_provider_cdm.emulator.config import parse_args
from airflow_provider_cdm.emulator.server import EmulatorServer, serve_in_thread

_CONNECTION_PREFIX = f"{CONNECTION_ENV_VAR}="
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class EmulatorError(RuntimeError):
    """The emulator did not start, or its admin API refused a call."""


class EmulatorHandle:
    """A running emulator: its connection and its admin API (``/_emulator/``)."""

    def __init__(self, connection: dict[str, Any]) -> None:
        self.connection = connection
        self.url: str = connection["host"]
        self._opener = build_opener(ProxyHandler({}))  # loopback: never through a proxy

    @property
    def connection_json(self) -> str:
        return json.dumps(self.connection)

    @property
    def env(self) -> dict[str, str]:
        """``{"AIRFLOW_CONN_CDM_DEFAULT": ...}``: merge into ``os.environ`` to point ``cdm_default`` here."""
        return {CONNECTION_ENV_VAR: self.connection_json}

    @property
    def project_id(self) -> str:
        return str(self.connection["extra"]["project_id"])

    @property
    def cluster_id(self) -> str | None:
        """The first running cluster (None when none is configured to run)."""
        value = self.connection["extra"].get("cluster_id")
        return None if value is None else str(value)

    def script_job(
        self,
        job_name: str,
        outcome: str = "SUCCEEDED",
        *,
        duration_s: float | None = None,
        error_summary: str | None = None,
        count: int | None = None,
    ) -> dict[str, Any]:
        """Script the job's next runs (all of them, or only the next ``count``); the job need not exist."""
        body: dict[str, Any] = {"outcome": outcome}
        if duration_s is not None:
            body["duration_s"] = duration_s
        if error_summary is not None:
            body["error_summary"] = error_summary
        if count is not None:
            body["count"] = count
        result: dict[str, Any] = self._admin("POST", f"jobs/{quote(job_name, safe='')}/script", body)
        return result

    def fire_schedule(self, job_name: str, cluster_id: str | None = None) -> dict[str, Any]:
        """Start a scheduled job's run now, as CDM's scheduler does (skipped while a run is active)."""
        body = {"cluster_id": cluster_id} if cluster_id is not None else {}
        result: dict[str, Any] = self._admin("POST", f"jobs/{quote(job_name, safe='')}/fire", body)
        return result

    def script_cluster(
        self, cluster_id: str, outcome: str = "failed", *, duration_s: float | None = None
    ) -> dict[str, Any]:
        """Script the cluster's next start, stop or restart: ``failed`` ends it in 300 instead of its target,
        ``ok`` in its target; ``duration_s`` replaces ``--cluster-transition-s``. Returns :meth:`cluster`'s
        view (without ``view``)."""
        body: dict[str, Any] = {"outcome": outcome}
        if duration_s is not None:
            body["duration_s"] = duration_s
        result: dict[str, Any] = self._admin("POST", f"clusters/{quote(cluster_id, safe='')}/script", body)
        return result

    def set_cluster_status(self, cluster_id: str, status: str | int) -> dict[str, Any]:
        """Give the cluster a status at once (``"900"`` stopped, ``"300"`` failed, ``"800"`` frozen, ...): an
        action under way is dropped, and a status that runs no jobs fails the runs under way."""
        body = {"status": str(status)}
        result: dict[str, Any] = self._admin("POST", f"clusters/{quote(cluster_id, safe='')}/status", body)
        return result

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        """The cluster now: ``status`` (live), ``configured_status``, ``transition`` (the action under way or
        None), ``script``, ``action_counts``, and ``view``: show-cluster's answer (reference shape)."""
        result: dict[str, Any] = self._admin("GET", f"clusters/{quote(cluster_id, safe='')}")
        return result

    def define_link(self, name: str, connector: str, **config: str | int | bool) -> dict[str, Any]:
        """Create or replace a link in every cluster; ``config`` keys without their ``linkConfig.`` prefix::

        emulator.define_link("pg_link", "generic-jdbc-connector", databaseType="POSTGRESQL",
                             host="10.0.0.5", port=5432, database="sales", username="etl", password="...")
        """
        inputs = [{"name": f"linkConfig.{key}", "value": value} for key, value in config.items()]
        values = {"configs": [{"name": "linkConfig", "inputs": inputs}]}
        link = {"name": name, "connector-name": connector, "link-config-values": values}
        result: dict[str, Any] = self._admin("POST", "links", {"links": [link]})
        return result

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings (error_rate, error_statuses, latency_s, reset_rate, ...)."""
        result: dict[str, Any] = self._admin("POST", "faults", settings)
        return result

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults()

    def set_dialect(self, preset: str | None = None, **switches: object) -> dict[str, Any]:
        """Change the answer shapes: a preset (``reference``, ``observed``, ``sparse``) and/or switches on
        top of it (without a preset, on top of the active dialect); :meth:`reset` goes back to the command
        line's. Returns the admin API's view (``dialect``, ``switches``, ``configured``)."""
        body: dict[str, Any] = {"switches": switches}
        if preset is not None:
            body["preset"] = preset
        result: dict[str, Any] = self._admin("POST", "dialect", body)
        return result

    def dialect(self) -> dict[str, Any]:
        """The active dialect: ``{"dialect": label, "switches": {...}, "configured": label, "presets": [...]}``."""
        result: dict[str, Any] = self._admin("GET", "dialect")
        return result

    def revoke_tokens(self) -> int:
        return int(self._admin("POST", "tokens/revoke", {})["revoked"])

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "stats")
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._admin("GET", "state")
        return result

    def runs(self, job_name: str) -> list[dict[str, Any]]:
        """The job's runs as the admin view shows them, oldest first (ids as CDM gave them; [] for no job)."""
        jobs = [job for cluster in self.state()["clusters"] for job in cluster["jobs"] if job["name"] == job_name]
        return [run for job in jobs for run in job["runs"]]

    def reset(self) -> None:
        """Back to the initial state: no jobs, runs or scripts; stats cleared; command-line faults and dialect."""
        self._admin("POST", "reset", {})

    def _admin(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = Request(  # noqa: S310 - http on loopback, the emulator's own address
            f"{self.url}/_emulator/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(request, timeout=10) as response:
                return json.loads(response.read())
        except HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise EmulatorError(f"{method} /_emulator/{path} answered {err.code}: {detail}") from None


class EmulatorProcess(EmulatorHandle):
    """An emulator in a child process."""

    def __init__(self, connection: dict[str, Any], process: subprocess.Popen[str], reader: threading.Thread) -> None:
        super().__init__(connection)
        self.process = process
        self._reader = reader

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, kill when it does not end in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


class EmulatorThread(EmulatorHandle):
    """An emulator served on a thread of this process; ``server.app`` gives direct access to its state."""

    def __init__(self, server: EmulatorServer) -> None:
        super().__init__(server.connection())
        self.server = server


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout lines (and keep draining it so that it never blocks on a full pipe)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _connection_line(process: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EmulatorError(f"the emulator printed no {_CONNECTION_PREFIX} line within {timeout} s")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            raise EmulatorError(f"the emulator exited with code {process.wait()} before printing its connection")
        if line.startswith(_CONNECTION_PREFIX):
            value = line[len(_CONNECTION_PREFIX) :].strip()
            return shlex.split(value)[0] if value.startswith("'") else value  # quoted for the shell


@contextmanager
def run_emulator(*extra_args: str, startup_timeout: float = 30.0) -> Iterator[EmulatorProcess]:
    """Start an emulator process on a free port, yield it once it serves, then stop it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "airflow_provider_cdm.emulator", "--port", "0", *extra_args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603 - our own command
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), name="cdm-emulator-stdout", daemon=True)
    reader.start()
    handle = None
    try:
        handle = EmulatorProcess(json.loads(_connection_line(process, lines, startup_timeout)), process, reader)
        yield handle
    finally:
        if handle is not None:
            handle.stop()
        elif process.poll() is None:
            process.kill()
            process.wait()


@contextmanager
def emulator_in_thread(*args: str, clock: Callable[[], float] | None = None) -> Iterator[EmulatorThread]:
    """Serve an emulator (same flags as the command line, port 0 unless given) on a thread of this process."""
    server = EmulatorServer(parse_args(["--port", "0", *args]), clock=clock or time.time)
    thread = serve_in_thread(server)
    try:
        yield EmulatorThread(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
