"""A local Huawei Cloud CDM + IAM + API-gateway emulator, for demos, tests and offline DAG development.

Run it with ``python -m airflow_provider_cdm.emulator`` (or ``cdm-emulator``); in tests use
:func:`run_emulator` (a subprocess) or :func:`emulator_in_thread`. Standard library and
``airflow_provider_cdm.api`` only; importing this package imports nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_cdm.emulator.models import CdmBackend
    from airflow_provider_cdm.emulator.server import EmulatorServer
    from airflow_provider_cdm.emulator.testing import EmulatorProcess, EmulatorThread, emulator_in_thread, run_emulator

__all__ = ["CdmBackend", "EmulatorProcess", "EmulatorServer", "EmulatorThread", "emulator_in_thread", "run_emulator"]

_HOMES = {
    "CdmBackend": "models",
    "EmulatorServer": "server",
    "EmulatorProcess": "testing",
    "EmulatorThread": "testing",
    "emulator_in_thread": "testing",
    "run_emulator": "testing",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
