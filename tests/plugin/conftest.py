"""The pytest plugin's tests: pytest sessions in subprocesses, in temporary projects outside the repository.

Tests marked ``plugin_slow`` (a whole Airflow session, the built wheel in a fresh venv) run with
``make test-plugin`` (``CDM_PLUGIN_TEST=1``); ``make test`` skips them and runs the quick ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROJECT_DAGS = HERE / "project" / "dags"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "plugin_slow: a whole pytest+Airflow session in a subprocess (make test-plugin)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CDM_PLUGIN_TEST"):
        return
    skip = pytest.mark.skip(reason="plugin session test: run with `make test-plugin` (CDM_PLUGIN_TEST=1)")
    for item in items:
        if item.get_closest_marker("plugin_slow") is not None:
            item.add_marker(skip)


@dataclass
class Sandbox:
    """A HOME and a TMPDIR of their own, for a subprocess whose leftovers are then inspected."""

    home: Path
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        """This process's environment without its Airflow, CDM, pytest and Python-path settings."""
        dropped = ("AIRFLOW_", "AIRFLOW__", "CDM_", "PYTEST_", "PYTHONPATH")
        env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
        return {**env, "HOME": str(self.home), "TMPDIR": str(self.tmp), **extra}

    def leftovers(self) -> list[str]:
        """Whatever the subprocess left in the temp dir, and any ``~/airflow``."""
        found = [str(path) for path in self.tmp.iterdir()]
        return found + [str(path) for path in self.home.glob("airflow*")]


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    box = Sandbox(home=tmp_path / "home", tmp=tmp_path / "tmp")
    box.home.mkdir()
    box.tmp.mkdir()
    return box


def run_pytest(
    project: Path, sandbox: Sandbox, *args: str, python: str | Path = sys.executable, timeout: float = 170
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest`` in ``project`` with the sandbox's HOME and TMPDIR (its rootdir is ``project``)."""
    command: Sequence[str] = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        command, cwd=project, env=sandbox.env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def running_commands_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(command)
    return found
