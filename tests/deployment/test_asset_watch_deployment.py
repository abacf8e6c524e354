"""CDM-scheduled runs as asset events in the real Airflow 3 deployment (``asset_watch.py``): exactly one
downstream DAG run and asset event per successful CDM run, none for a failed one, none lost or repeated
across two triggerer kills (between runs, and the moment a run ended), the watermarks in the asset's
state store. Runs in the deployment the main DAG run used (``harness.run_deployment`` runs it once)."""

from __future__ import annotations

import os

import pytest

from tests.deployment.asset_watch import AssetWatchResult
from tests.deployment.harness import DeploymentResult, DeploymentSpec, run_deployment

pytestmark = pytest.mark.timeout(DeploymentSpec.from_env().run_timeout_s + 600)


@pytest.fixture(scope="module")
def watched() -> AssetWatchResult:
    spec = DeploymentSpec.from_env()
    if not spec.asset_watch:
        pytest.skip("CDM_DEPLOYMENT_ASSET_WATCH is off")
    result: DeploymentResult = run_deployment(spec, keep_dir=bool(os.environ.get("CDM_DEPLOYMENT_KEEP")))
    assert result.asset_watch is not None
    print(f"\n[deployment] {result.asset_watch.summary()}")
    return result.asset_watch


def test_the_scenario_ran_to_its_end(watched: AssetWatchResult) -> None:
    assert watched.error is None, watched.summary()
    assert watched.kills == 2 and len(watched.reported_expected) == 3 and len(watched.failed) == 1, watched.summary()


def test_one_asset_event_and_one_downstream_run_per_successful_cdm_run(watched: AssetWatchResult) -> None:
    assert watched.reported == watched.reported_expected, watched.summary()
    assert watched.dag_runs == len(watched.reported_expected), watched.summary()
    assert not set(watched.failed) & set(watched.reported), watched.summary()


def test_each_event_carries_the_runs_figures(watched: AssetWatchResult) -> None:
    assert watched.extras_ok, watched.summary()


def test_the_watermarks_live_in_the_assets_state_store(watched: AssetWatchResult) -> None:
    (value,) = watched.watermarks.values()
    last = max(watched.reported_expected)
    assert value["jobs"]["deployment_scheduled_orders"]["submission_id"] == last, watched.summary()
