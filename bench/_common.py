"""Helpers shared by the bench scripts: Airflow environment, job definitions, statistics, tables."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def airflow_env() -> dict[str, str]:
    """Environment for processes that import Airflow: a throw-away home, no example DAGs."""
    home = os.environ.get("CDM_BENCH_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="cdm-bench-airflow-home-")
    os.environ["CDM_BENCH_AIRFLOW_HOME"] = home
    return {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "PYTHONWARNINGS": "ignore",
    }


def use_airflow_env(*, quiet: bool = True) -> None:
    """Set :func:`airflow_env` in this process (before Airflow is imported); ``quiet``: log errors only."""
    os.environ.update(airflow_env())
    if quiet:
        os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"


def job_definition(name: str) -> dict[str, Any]:
    """A small valid JDBC-to-OBS job (the raw Job object)."""
    from airflow_provider_cdm.job_definition import CdmJobDefinition

    return CdmJobDefinition(
        name=name,
        from_connector="generic-jdbc-connector",
        from_link="pg",
        from_config={"schemaName": "public", "tableName": "orders"},
        to_connector="obs-connector",
        to_link="obs",
        to_config={"bucketName": "warehouse", "outputDirectory": "/orders/"},
    ).to_api()


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in [0, 1]); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")
