"""The provider registers with a real Airflow: CLI listing, hook listing and the connection type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FORM_FIELDS = (
    "region", "project_id", "auth_type", "domain", "cluster_id", "iam_endpoint", "security_token", "token", "verify",
    "console_url",
)  # fmt: skip


def _airflow(home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    _airflow(home, "db", "migrate")
    return home


def test_providers_list_shows_the_provider(airflow_home: Path) -> None:
    providers = json.loads(_airflow(airflow_home, "providers", "list", "--output", "json"))
    ours = [p for p in providers if p["package_name"] == "airflow-provider-cdm"]
    assert ours, f"not listed among {[p['package_name'] for p in providers]}"
    from airflow_provider_cdm import __version__

    assert ours[0]["version"] == __version__


def test_providers_hooks_lists_the_hook_with_its_name(airflow_home: Path) -> None:
    hooks = json.loads(_airflow(airflow_home, "providers", "hooks", "--output", "json"))
    ours = [h for h in hooks if h.get("connection_type") == "huaweicloud_cdm"]
    assert ours, "huaweicloud_cdm not among the hooks"
    assert ours[0]["class"] == "airflow_provider_cdm.hooks.cdm.CdmHook"
    assert ours[0]["hook_name"] == "Huawei Cloud CDM"
    assert ours[0]["conn_id_attribute_name"] == "cdm_conn_id"


def test_providers_widgets_lists_the_connection_form_fields(airflow_home: Path) -> None:
    widgets = json.loads(_airflow(airflow_home, "providers", "widgets", "--output", "json"))
    prefix = "extra__huaweicloud_cdm__"
    names = [widget["connection_parameter_name"] for widget in widgets]
    ours = {name[len(prefix) :] for name in names if name.startswith(prefix)}
    assert ours == set(FORM_FIELDS)
    behaviours = json.loads(_airflow(airflow_home, "providers", "behaviours", "--output", "json"))
    assert {"field_behaviours": "huaweicloud_cdm"} in behaviours


def test_connection_type_is_kept(airflow_home: Path) -> None:
    _airflow(
        airflow_home,
        "connections",
        "add",
        "t",
        "--conn-type",
        "huaweicloud_cdm",
        "--conn-host",
        "https://cdm.example.test",
        "--conn-extra",
        json.dumps({"region": "cn-north-4", "project_id": "p"}),
    )
    stored = json.loads(_airflow(airflow_home, "connections", "get", "t", "--output", "json"))
    entry = stored[0] if isinstance(stored, list) else stored
    assert entry["conn_type"] == "huaweicloud_cdm"
