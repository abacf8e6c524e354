"""pytest plugin (``pytest11`` entry point ``cdm``): a CDM emulator and an Airflow test environment for DAG tests.

Fixtures, all prefixed ``cdm_``:

- ``cdm_emulator``: the session's emulator process, reset before each test, with ``AIRFLOW_CONN_CDM_DEFAULT``
  pointing at it for the test (``script_job``, ``set_faults``, ``set_dialect``, ``stats``, ``state``, ...);
  ``@pytest.mark.cdm_dialect("reference")`` switches a test's dialect.
- ``cdm_emulator_args``: the emulator's command-line flags (session scope; override it in your conftest.py).
- ``cdm_run_dag(dag_or_dag_id, **dag_test_kwargs)``: runs ``dag.test()``, returns ``{task_id: state}``.

The Airflow environment is opt-in (``cdm_airflow_env = true`` in the ini file, or ``--cdm-airflow-env``):
before any conftest.py or test module imports Airflow it points ``AIRFLOW_HOME`` (and the sqlite database)
at a temporary folder, turns example DAGs off and sets the DAGs folder (ini ``cdm_dags_folder``, default
``dags`` beside the ini file); the database is created at session start, the folder removed at the end.

Importing this module imports neither Airflow nor the emulator (nor, outside a pytest install, pytest).
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

_WITH_PYTEST = importlib.util.find_spec("pytest") is not None
if TYPE_CHECKING or _WITH_PYTEST:
    import pytest
    from pytest import fixture
else:  # imported outside a pytest install (e.g. by a check that imports every module): nothing to register

    def fixture(*args: Any, **kwargs: Any) -> Any:
        return args[0] if args and callable(args[0]) else (lambda function: function)


if TYPE_CHECKING:
    from airflow_provider_cdm._dag_test import DagTestResult
    from airflow_provider_cdm.emulator.testing import EmulatorProcess

ENV_INI = "cdm_airflow_env"
DAGS_INI = "cdm_dags_folder"
DIALECT_INI = "cdm_dialect"
HOME_PREFIX = "cdm-pytest-airflow-home-"


@dataclass
class AirflowTestEnv:
    """The temporary Airflow environment of one pytest session, and what it replaced."""

    home: Path
    dags_folder: Path
    saved: dict[str, str | None] = field(default_factory=dict)
    db_ready: bool = False
    # A Fernet key of the session (32 random bytes, url-safe base64), unless the user set one: without it
    # Airflow warns "empty cryptography key" whenever it stores a deferred task's trigger.
    fernet_key: str = field(
        default_factory=lambda: (
            os.environ.get("AIRFLOW__CORE__FERNET_KEY") or base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
        )
    )

    def variables(self) -> dict[str, str]:
        return {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW_CONFIG": str(self.home / "airflow.cfg"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
        }

    def apply(self) -> None:
        for name, value in self.variables().items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved.clear()


_ENV_KEY: Any = pytest.StashKey["AirflowTestEnv"]() if _WITH_PYTEST else None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cdm", "airflow-provider-cdm: CDM emulator and Airflow test environment")
    group.addoption(
        "--cdm-airflow-env",
        action="store_true",
        default=None,
        help="run Airflow in a temporary AIRFLOW_HOME with its own database (ini: cdm_airflow_env = true)",
    )
    group.addoption(
        "--cdm-dags-folder", default=None, help="the DAGs folder for --cdm-airflow-env (ini: cdm_dags_folder)"
    )
    group.addoption("--cdm-dialect", default=None, help="the emulator's dialect preset (ini: cdm_dialect)")
    parser.addini(ENV_INI, "set up a temporary Airflow environment for the session", type="bool", default=False)
    parser.addini(DAGS_INI, "the DAGs folder of that environment, relative to the rootdir", default="dags")
    parser.addini(DIALECT_INI, "the emulator's dialect preset (reference, observed, sparse)", default="")


def _option(config: pytest.Config, name: str) -> Any:
    namespace = getattr(config, "known_args_namespace", None)
    value = getattr(namespace, name, None)
    return getattr(config.option, name, None) if value is None else value


def airflow_env_enabled(config: pytest.Config) -> bool:
    return bool(_option(config, "cdm_airflow_env") or config.getini(ENV_INI))


def configured_dags_folder(config: pytest.Config) -> Path:
    cli = _option(config, "cdm_dags_folder")
    if cli:
        return Path(cli).resolve()
    return (config.rootpath / str(config.getini(DAGS_INI))).resolve()


def _set_up_airflow_env(config: pytest.Config) -> None:
    if not airflow_env_enabled(config) or _ENV_KEY in config.stash:
        return
    if "airflow" in sys.modules:
        raise pytest.UsageError(
            "cdm_airflow_env: Airflow was imported before the airflow-provider-cdm plugin could set AIRFLOW_HOME, "
            "so it has already read its configuration (and would use ~/airflow). Do not import Airflow in a "
            "plugin loaded before conftest.py files, or in a conftest.py registering this plugin itself; or turn "
            "cdm_airflow_env off and set AIRFLOW_HOME, AIRFLOW__CORE__DAGS_FOLDER and the database up yourself."
        )
    env = AirflowTestEnv(home=Path(tempfile.mkdtemp(prefix=HOME_PREFIX)), dags_folder=configured_dags_folder(config))
    env.apply()
    config.stash[_ENV_KEY] = env


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Before the first conftest.py is imported: the environment Airflow reads when it is imported."""
    _set_up_airflow_env(early_config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cdm_dialect(preset, **switches): the cdm_emulator's dialect for a test")
    _set_up_airflow_env(config)  # when the early hook did not run (e.g. the plugin loaded by a conftest.py)


def pytest_sessionstart(session: pytest.Session) -> None:
    env: AirflowTestEnv | None = session.config.stash.get(_ENV_KEY, None)
    if env is None or env.db_ready:
        return
    from airflow.utils import db

    loggers = [logging.getLogger(name) for name in ("alembic", "airflow.utils.db")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # the migration's chatter is not the tests' output
        logger.setLevel(logging.WARNING)
    try:
        db.initdb()
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    env.db_ready = True


def pytest_unconfigure(config: pytest.Config) -> None:
    env: AirflowTestEnv | None = config.stash.get(_ENV_KEY, None)
    if env is None:
        return
    del config.stash[_ENV_KEY]
    if "airflow.settings" in sys.modules:
        try:
            sys.modules["airflow.settings"].dispose_orm()
        except Exception:  # noqa: S110 - best effort: the folder goes anyway
            pass
    env.restore()
    shutil.rmtree(env.home, ignore_errors=True)


@fixture(scope="session")
def cdm_emulator_args(pytestconfig: pytest.Config) -> Sequence[str]:
    """The emulator's command-line flags; override in your conftest.py, e.g. ``["--job-duration", "0.5"]``."""
    dialect = _option(pytestconfig, "cdm_dialect") or pytestconfig.getini(DIALECT_INI)
    return ["--dialect", str(dialect)] if dialect else []


@fixture(scope="session")
def cdm_emulator_process(cdm_emulator_args: Sequence[str]) -> Iterator[EmulatorProcess]:
    """One emulator process (``python -m airflow_provider_cdm.emulator``) for the session, stopped by PID."""
    from airflow_provider_cdm.emulator.testing import run_emulator

    with run_emulator(*cdm_emulator_args) as process:
        yield process


@fixture
def cdm_emulator(
    cdm_emulator_process: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> EmulatorProcess:
    """The session's emulator in its initial state, ``cdm_default`` pointing at it for this test."""
    cdm_emulator_process.reset()
    marker = request.node.get_closest_marker("cdm_dialect")
    if marker is not None:
        cdm_emulator_process.set_dialect(*marker.args, **marker.kwargs)
    rate_limit = sys.modules.get("airflow_provider_cdm.client.rate_limit")
    if rate_limit is not None:  # the client's process-wide quota limiters: none carried over from a test
        rate_limit.reset_shared_limiters()
    for name, value in cdm_emulator_process.env.items():
        monkeypatch.setenv(name, value)
    return cdm_emulator_process


@fixture
def cdm_run_dag(pytestconfig: pytest.Config) -> Callable[..., DagTestResult]:
    """``cdm_run_dag(dag_or_dag_id, **dag_test_kwargs)``: ``dag.test()``, then ``{task_id[ [i]]: state}``."""
    if not airflow_env_enabled(pytestconfig) and not os.environ.get("AIRFLOW_HOME"):
        pytest.fail(
            "cdm_run_dag needs an Airflow test environment: add `cdm_airflow_env = true` to your pytest ini "
            "options (or pass --cdm-airflow-env), or set AIRFLOW_HOME and create its database yourself",
            pytrace=False,
        )
    from airflow_provider_cdm._dag_test import run_dag

    return run_dag
