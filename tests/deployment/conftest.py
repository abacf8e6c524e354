"""The deployment test: a real Airflow 3 deployment (PostgreSQL, LocalExecutor, one process per component).

Run with ``make test-deployment`` (which installs psycopg2 and asyncpg and, when missing, Debian's
PostgreSQL, then sets ``CDM_DEPLOYMENT_TEST=1``); skipped otherwise, and on Airflow 2. Size it with
``CDM_DEPLOYMENT_*`` variables (see ``tests/deployment/harness.py``: ``DeploymentSpec.from_env``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _airflow_3() -> bool:
    from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

    return bool(AIRFLOW_V_3_0_PLUS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    if not os.environ.get("CDM_DEPLOYMENT_TEST"):
        reason = "deployment test: run with `make test-deployment` (CDM_DEPLOYMENT_TEST=1)"
    elif not _airflow_3():
        reason = "deployment test: the harness starts Airflow 3's api-server, dag-processor and triggerer"
    else:
        return
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))
