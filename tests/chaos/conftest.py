"""Fixtures of the chaos suite: an emulator process of its own (AK/SK and IAM password connections), and
the figures table, printed in the terminal summary (whatever ``-s`` says) and written to the pytest
base temp dir as ``chaos-figures.md``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.chaos.harness import AKSK_CONN, IAM_CONN, PhaseFigures, render

if TYPE_CHECKING:
    from airflow_provider_cdm.emulator.testing import EmulatorProcess

USER, PASSWORD, DOMAIN = "chaos_user", "chaos-password-not-a-secret", "chaos_account"
SEED = "20261122"  # the emulator's cluster choice for create-and-execute; each phase seeds its faults
FIGURES = pytest.StashKey[list[PhaseFigures]]()
FIGURES_FILE = pytest.StashKey[Path]()


def _conn_env(conn_id: str) -> str:
    return "AIRFLOW_CONN_" + conn_id.upper()


@pytest.fixture(scope="module")
def chaos_emulator() -> Iterator[EmulatorProcess]:
    from airflow_provider_cdm.emulator.testing import run_emulator

    with run_emulator("--user", USER, "--password", PASSWORD, "--domain", DOMAIN, "--seed", SEED) as process:
        yield process


@pytest.fixture
def chaos_env(chaos_emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> EmulatorProcess:
    """The chaos emulator, reset, with ``cdm_default`` (AK/SK) and ``cdm_chaos_iam`` (IAM password) on it."""
    chaos_emulator.reset()
    chaos_emulator.clear_faults()
    aksk = chaos_emulator.connection
    iam: dict[str, Any] = {
        **aksk,
        "login": USER,
        "password": PASSWORD,
        "extra": {**aksk["extra"], "auth_type": "password", "domain": DOMAIN},
    }
    monkeypatch.setenv(_conn_env(AKSK_CONN), json.dumps(aksk))
    monkeypatch.setenv(_conn_env(IAM_CONN), json.dumps(iam))
    return chaos_emulator


@pytest.fixture(scope="session")
def chaos_figures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[PhaseFigures]:
    """The phases' figures, in the order they ran; :func:`publish` prints and writes them."""
    figures = request.config.stash.setdefault(FIGURES, [])
    request.config.stash[FIGURES_FILE] = tmp_path_factory.getbasetemp() / "chaos-figures.md"
    return figures


def publish(config: pytest.Config, figures: list[PhaseFigures]) -> str:
    """The table so far: printed (seen with ``-s``) and written to ``chaos-figures.md``."""
    import airflow

    table = render(figures, airflow.__version__)
    print("\n" + table)
    path = config.stash.get(FIGURES_FILE, None)
    if path is not None:
        path.write_text(table)
    return table


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, None)
    if not figures:
        return
    import airflow

    terminalreporter.section("chaos suite figures")
    terminalreporter.write(render(figures, airflow.__version__))
    path = config.stash.get(FIGURES_FILE, None)
    if path is not None:
        terminalreporter.write_line(f"(also written to {path})")
