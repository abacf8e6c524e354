"""Paths render with escaped parameters and route back to the same endpoint."""

from __future__ import annotations

import pytest

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.api.endpoints import PathParameterError


@pytest.mark.parametrize("endpoint", [e for e in endpoints.ENDPOINTS if e.project_scoped], ids=lambda e: e.name)
def test_every_endpoint_routes_back_to_itself(endpoint: endpoints.Endpoint) -> None:
    params = {"cluster_id": "c-1", "job_name": "orders daily", "link_name": "pg link"}
    path = endpoint.path("proj", **params)
    routed = endpoints.route(endpoint.method, path)
    assert routed is not None
    assert routed[0] is endpoint
    assert routed[1]["project_id"] == "proj"


def test_job_names_are_escaped_in_paths() -> None:
    path = endpoints.START_JOB.path("p", cluster_id="c", job_name="订单 100%~")
    assert path == "/v1.1/p/clusters/c/cdm/job/%E8%AE%A2%E5%8D%95%20100%25~/start"


@pytest.mark.parametrize("bad", ["a/b", "..", ".", "", "a\\b"])
def test_path_breaking_values_are_refused(bad: str) -> None:
    with pytest.raises(PathParameterError, match="job_name"):
        endpoints.SHOW_JOB.path("p", cluster_id="c", job_name=bad)


def test_missing_parameter_is_named() -> None:
    with pytest.raises(PathParameterError, match="cluster_id is required for start_job"):
        endpoints.START_JOB.path("p", job_name="j")


def test_list_all_routes_before_show_job_and_trailing_slash_is_tolerated() -> None:
    assert endpoints.route("GET", "/v1.1/p/clusters/c/cdm/job/all")[0] is endpoints.LIST_JOBS  # type: ignore[index]
    assert endpoints.route("GET", "/v1.1/p/clusters/c/cdm/job/x/")[0] is endpoints.SHOW_JOB  # type: ignore[index]


def test_show_link_routes_apart_from_the_job_paths() -> None:
    routed = endpoints.route("GET", "/v1.1/p/clusters/c/cdm/link/pg%20link")
    assert routed is not None and routed[0] is endpoints.SHOW_LINK and routed[1]["link_name"] == "pg%20link"
    assert endpoints.route("DELETE", "/v1.1/p/clusters/c/cdm/link/pg") is None  # only show link is spoken


def test_unknown_paths_and_methods_do_not_route() -> None:
    assert endpoints.route("GET", "/v1.1/p/nothing") is None
    assert endpoints.route("PATCH", "/v1.1/p/clusters/c/cdm/job/x") is None
    assert endpoints.path_exists("/v1.1/p/clusters/c/cdm/job/x")


def test_quotas_are_the_documented_ones() -> None:
    per_minute = {e.name: e.quota_per_minute for e in endpoints.ENDPOINTS}
    assert per_minute["job_status"] == per_minute["show_link"] == 120
    assert per_minute["create_job"] == per_minute["start_job"] == per_minute["stop_job"] == 1200
    assert endpoints.LIST_JOBS.quota_group == endpoints.SHOW_JOB.quota_group


def test_only_creates_starts_and_cluster_actions_are_unsafe_to_repeat() -> None:
    unsafe = {e.name for e in endpoints.ENDPOINTS if not e.idempotent}
    assert unsafe == {"create_job", "create_and_start_job", "start_job", "cluster_action"}
