"""The pytest plugin's pieces: import cost, the environment it sets and restores, task states, its sessions.

Plugin sessions run in subprocesses (this suite has imported Airflow already), in temporary projects.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_cdm import pytest_plugin
from airflow_provider_cdm._dag_test import DagTestResult, task_states
from tests.plugin.conftest import PROJECT_DAGS, Sandbox, run_pytest, running_commands_mentioning


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_importing_the_plugin_imports_neither_airflow_nor_the_emulator() -> None:
    code = (
        "import sys, airflow_provider_cdm.pytest_plugin as p; "
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'airflow' or m.startswith('airflow_provider_cdm.')]; "
        "assert heavy == ['airflow_provider_cdm.pytest_plugin'], heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "AIRFLOW_HOME": "/nonexistent"})


def test_the_plugin_imports_without_pytest() -> None:
    """A check that imports every module of the package (scripts/check_dist.py) has no pytest."""
    code = (
        "import sys; sys.modules['pytest'] = None; "
        "import airflow_provider_cdm.pytest_plugin as p; "
        "assert callable(p.cdm_run_dag) and p._ENV_KEY is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_environment_is_applied_and_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    before = dict(os.environ)
    env = pytest_plugin.AirflowTestEnv(home=tmp_path / "home", dags_folder=tmp_path / "dags")
    env.apply()
    try:
        assert os.environ["AIRFLOW_HOME"] == str(tmp_path / "home")
        assert os.environ["AIRFLOW_CONFIG"] == str(tmp_path / "home" / "airflow.cfg")
        assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path}/home/airflow.db"
        assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "dags")
    finally:
        env.restore()
    assert dict(os.environ) == before


def test_task_states_name_mapped_tasks_by_index() -> None:
    tis = [
        SimpleNamespace(task_id="create", map_index=-1, state="success"),
        SimpleNamespace(task_id="copy", map_index=1, state="failed"),
        SimpleNamespace(task_id="copy", map_index=0, state="success"),
        SimpleNamespace(task_id="report", map_index=-1, state=None),
    ]
    run = SimpleNamespace(get_task_instances=lambda: tis, state="failed")
    result = DagTestResult(run, task_states(run))
    assert result == {"create": "success", "copy[0]": "success", "copy[1]": "failed", "report": "none"}
    assert result.state == "failed" and result.dag_run is run


def test_off_by_default_the_plugin_sets_nothing_up(tmp_path: Path, sandbox: Sandbox) -> None:
    """Installed, the plugin loads in every session: without the option it leaves Airflow alone."""
    project = tmp_path / "project"
    write(
        project / "test_nothing.py",
        """
        import os, sys

        def test_untouched():
            assert "AIRFLOW_HOME" not in os.environ and "AIRFLOW__CORE__DAGS_FOLDER" not in os.environ
            assert not any(name.split(".")[0] == "airflow" for name in sys.modules)

        def test_run_dag_asks_for_the_environment(cdm_run_dag):
            pass
        """,
    )
    done = run_pytest(project, sandbox)
    assert "1 passed, 1 error" in done.stdout, done.stdout + done.stderr
    assert "cdm_run_dag needs an Airflow test environment: add `cdm_airflow_env = true`" in done.stdout
    listed = run_pytest(project, sandbox, "--fixtures").stdout
    for name in ("cdm_emulator", "cdm_emulator_process", "cdm_emulator_args", "cdm_run_dag"):
        assert f"\n{name}" in listed, listed
    assert sandbox.leftovers() == []


def test_airflow_imported_first_is_a_usage_error(tmp_path: Path, sandbox: Sandbox) -> None:
    project = tmp_path / "project"
    write(project / "early_airflow.py", "import airflow\n")
    write(project / "test_nothing.py", "def test_nothing():\n    pass\n")
    home = tmp_path / "own-home"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "early_airflow", "--cdm-airflow-env"],
        cwd=project,
        env=sandbox.env(AIRFLOW_HOME=str(home), PYTHONPATH=str(project)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    assert "cdm_airflow_env: Airflow was imported before the airflow-provider-cdm plugin" in done.stderr
    shutil.rmtree(home, ignore_errors=True)
    assert sandbox.leftovers() == []


SESSION_TEST = """
    import json, os, sqlite3
    from datetime import datetime
    from pathlib import Path

    import pytest

    RECORD = Path(os.environ["SESSION_RECORD"])


    @pytest.fixture(scope="session")
    def cdm_emulator_args():
        return ["--job-duration", "0.3", "--dialect", "reference"]


    def test_the_environment(cdm_emulator_process):
        home = Path(os.environ["AIRFLOW_HOME"])
        assert home.name.startswith("cdm-pytest-airflow-home-") and home.parent == Path(os.environ["TMPDIR"])
        assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(Path("dags").resolve())
        assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        tables = {row[0] for row in sqlite3.connect(home / "airflow.db").execute("select name from sqlite_master")}
        assert {"task_instance", "dag_run"} <= tables
        RECORD.write_text(json.dumps({"home": str(home), "emulator_pid": cdm_emulator_process.process.pid}))


    def test_a_dag_of_the_dags_folder(cdm_emulator, cdm_run_dag):
        assert os.environ["AIRFLOW_CONN_CDM_DEFAULT"] == cdm_emulator.connection_json
        assert cdm_emulator.dialect()["dialect"] == "reference"
        cdm_emulator.script_job("orders_daily", "FAILED", error_summary="disk full")
        states = cdm_run_dag("orders_daily")
        assert states == {"create_job": "success", "copy_orders": "failed"}
        assert states.state == "failed"
        assert cdm_emulator.stats()["starts"] == {"orders_daily": 1}


    @pytest.mark.cdm_dialect("sparse")
    def test_again_after_a_reset_under_another_dialect(cdm_emulator, cdm_run_dag):
        assert cdm_emulator.dialect()["dialect"] == "sparse"
        assert cdm_run_dag("orders_daily") == {"create_job": "success", "copy_orders": "success"}
        assert cdm_emulator.stats()["starts"] == {"orders_daily": 1}


    def test_a_dag_object_with_mapped_tasks(cdm_run_dag):
        from airflow.providers.common.compat.sdk import DAG, task

        with DAG("inline_mapped", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
            @task
            def double(x: int) -> int:
                return 2 * x

            @task
            def total(values: list[int]) -> int:
                return sum(values)

            total(double.expand(x=[1, 2, 3]))

        assert cdm_run_dag(dag) == {"double[0]": "success", "double[1]": "success", "double[2]": "success",
                                    "total": "success"}


    def test_an_unknown_dag_id(cdm_run_dag):
        with pytest.raises(LookupError, match=r"no DAG 'nope' in the DAGs folder .*found \\['orders_daily'\\]"):
            cdm_run_dag("nope")
"""


@pytest.mark.plugin_slow
def test_a_whole_session_and_nothing_left_behind(tmp_path: Path, sandbox: Sandbox) -> None:
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DAGS, project / "dags")
    write(project / "pytest.ini", "[pytest]\ncdm_airflow_env = true\n")
    write(project / "test_session.py", SESSION_TEST)
    record = tmp_path / "record.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        cwd=project,
        env=sandbox.env(SESSION_RECORD=str(record)),
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert "5 passed" in done.stdout, done.stdout[-6000:] + done.stderr[-3000:]
    seen = json.loads(record.read_text())
    assert not Path(seen["home"]).exists()  # the AIRFLOW_HOME folder is gone
    assert not Path(f"/proc/{seen['emulator_pid']}").exists()  # the emulator was stopped
    assert sandbox.leftovers() == []  # nothing in TMPDIR, no ~/airflow
    assert running_commands_mentioning(str(project)) == []
