"""Fixtures of the browser tests: an Airflow 3 API server on loopback and a headless Debian Chromium.

Run with ``make test-browser`` (which sets ``CDM_BROWSER_TEST=1``); skipped otherwise, and on Airflow 2.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = os.environ.get("CDM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "admin", secrets.token_urlsafe(12)
START_TIMEOUT_S = 90.0


def _airflow_3() -> bool:
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    return bool(AIRFLOW_V_3_0_PLUS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    if not os.environ.get("CDM_BROWSER_TEST"):
        reason = "browser test: run with `make test-browser` (CDM_BROWSER_TEST=1)"
    elif not _airflow_3():
        reason = "browser test: the React connection form needs Airflow 3"
    else:
        return
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowUi:
    """A running API server: its address, environment (for CLI calls on the same home) and log."""

    base_url: str
    env: dict[str, str]
    log: Path

    def api(self, path: str) -> Any:
        """GET ``/api/v2{path}`` with a JWT from the simple auth manager's token endpoint."""
        body = json.dumps({"username": USER, "password": PASSWORD}).encode()
        login = urllib.request.Request(
            f"{self.base_url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(login, timeout=10) as answer:
            token = json.load(answer)["access_token"]
        request = urllib.request.Request(f"{self.base_url}/api/v2{path}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"api-server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=2) as answer:
                if json.load(answer)["metadatabase"]["status"] == "healthy":
                    return
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"api-server not healthy after {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def airflow_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUi]:
    """``airflow api-server`` on 127.0.0.1 with a fresh home, its sqlite db migrated and one admin user."""
    home = tmp_path_factory.mktemp("airflow-ui-home")
    (home / "dags").mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(64),
        }
    )
    ui = AirflowUi(base_url, env, home / "api-server.log")
    ui.cli("db", "migrate")
    with ui.log.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(base_url, process, ui.log)
        yield ui
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def page(airflow_ui: AirflowUi) -> Iterator[Page]:
    """A headless Chromium page of a fresh profile, signed in as the admin user."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="cdm-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 2000},
        )
        context.set_default_timeout(20_000)
        try:
            page = context.new_page()
            page.goto(f"{airflow_ui.base_url}/connections")
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/connections")
            yield page
        finally:
            context.close()
