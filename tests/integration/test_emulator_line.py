"""The emulator's printed line works as the README says: pasted after ``export``, or sourced from --env-file."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_cdm.emulator.testing import run_emulator

pytestmark = pytest.mark.integration

READ_BACK = "import json, os; print(json.dumps(json.loads(os.environ['AIRFLOW_CONN_CDM_DEFAULT'])))"


def in_bash(script: str) -> dict[str, object]:
    """What the connection variable holds after ``script`` ran in a fresh bash."""
    bash = shutil.which("bash") or "/bin/bash"
    env = {key: value for key, value in os.environ.items() if key != "AIRFLOW_CONN_CDM_DEFAULT"}
    read = f"{shlex.quote(sys.executable)} -c {shlex.quote(READ_BACK)}"
    done = subprocess.run([bash, "-c", f"{script}\n{read}"], capture_output=True, text=True, check=True, env=env)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_printed_line_pasted_after_export_and_the_env_file_sourced_give_the_connection(tmp_path: Path) -> None:
    env_file = tmp_path / "cdm.env"
    with run_emulator("--env-file", str(env_file)) as emulator:
        line = env_file.read_text(encoding="utf-8").strip()
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # it holds the emulator's secret key
        assert in_bash(f"export {line}") == emulator.connection
        assert in_bash(f"set -a; . {shlex.quote(str(env_file))}; set +a") == emulator.connection
        assert "auth_type" not in emulator.connection["extra"]  # the default, and too short for Airflow's masker
