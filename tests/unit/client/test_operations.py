"""Request specs: input refused before any request, paths and queries as sent, answers parsed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_cdm.api import endpoints, job_schema
from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.models import ResponseShapeError
from airflow_provider_cdm.emulator.config import DEFAULT_CLUSTERS
from airflow_provider_cdm.emulator.models import CdmBackend
from airflow_provider_cdm.job_definition import CdmJobDefinitionError, load_job_definition
from tests.jobs import job_definition
from tests.unit.client.helpers import CLUSTER, JOB, PROJECT, submission


@pytest.mark.parametrize("name", ["a", "orders to obs ✓ 订单", "x" * 240, "a.b", "..."])
def test_usable_job_names(name: str) -> None:
    assert ops.check_job_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a/b", "a\\b", ".", "..", "x" * 241, None, 42, "all", "ALL", " orders", "orders ", "a\x00b"]
)
def test_job_names_that_would_break_the_path_are_refused(name: Any) -> None:
    with pytest.raises(CdmConfigError) as caught:
        ops.check_job_name(name)
    assert caught.value.setting == "job_name"


@pytest.mark.parametrize("name", ["all", "All", " orders", "orders\n", "a/b", "..", "x" * 241, "", "ok name", "订单"])
def test_one_job_name_rule_for_the_client_the_builder_and_the_emulator(name: str) -> None:
    refused = bool(job_schema.job_name_problems(name))

    try:
        ops.check_job_name(name)
    except CdmConfigError:
        client_refuses = True
    else:
        client_refuses = False
    try:
        load_job_definition(job_definition(name))
    except CdmJobDefinitionError:
        builder_refuses = True
    else:
        builder_refuses = False
    emulator = CdmBackend(DEFAULT_CLUSTERS, clock=lambda: 0.0)
    emulator_refuses = bool(emulator.create_job(DEFAULT_CLUSTERS[0].id, job_definition(name), "u")["validation-result"])

    assert client_refuses == builder_refuses == emulator_refuses == refused


def test_job_types_come_from_the_job_schema() -> None:
    assert ops.JOB_TYPES is job_schema.JOB_TYPES
    with pytest.raises(CdmConfigError, match="one of NORMAL_JOB, BATCH_JOB, SCENARIO_JOB"):
        ops.list_jobs(CLUSTER, job_type="NIGHTLY")


def test_job_name_checks_happen_when_the_spec_is_built() -> None:
    with pytest.raises(CdmConfigError, match="job_name"):
        ops.start_job(CLUSTER, "a/b")
    with pytest.raises(CdmConfigError, match="cluster_id"):
        ops.job_status("c/1", "ok")
    with pytest.raises(CdmConfigError, match=r"job\.name"):
        ops.create_job(CLUSTER, {"name": ".."})


def test_variables_become_strings() -> None:
    assert ops.check_variables({"s": "x", "i": 3, "f": 1.5, "t": True, "n": False}) == {
        "s": "x",
        "i": "3",
        "f": "1.5",
        "t": "true",
        "n": "false",
    }
    assert ops.check_variables(None) == {}


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"date": None}, "variables['date']"),
        ({"days": [1, 2]}, "variables['days']"),
        ({"cfg": {"a": 1}}, "variables['cfg']"),
        ({1: "x"}, "variables"),
        ({"": "x"}, "variables"),
        (["a"], "variables"),
    ],
)
def test_unusable_variables_are_refused_by_key(variables: Any, named: str) -> None:
    with pytest.raises(CdmConfigError) as caught:
        ops.check_variables(variables)
    assert caught.value.setting == named


def test_a_job_is_given_alone_or_as_the_jobs_body() -> None:
    job = job_definition("orders")
    assert ops.check_job(job) == job
    assert ops.check_job({"jobs": [job]}) == job
    bad_jobs: list[Any] = [{"jobs": [job, job]}, {"jobs": []}, {"jobs": "x"}, ["not", "a", "mapping"]]
    for bad in bad_jobs:
        with pytest.raises(CdmConfigError, match="job"):
            ops.check_job(bad)


def test_start_spec() -> None:
    call = ops.start_job(CLUSTER, JOB, {"day": 1})

    assert call.endpoint is endpoints.START_JOB
    assert call.path(PROJECT) == (
        f"/v1.1/{PROJECT}/clusters/{CLUSTER}/cdm/job/orders%20to%20obs%20%E2%9C%93%20%E8%AE%A2%E5%8D%95/start"
    )
    assert json.loads(call.body_bytes()) == {"variables": {"day": "1"}}
    assert json.loads(ops.start_job(CLUSTER, "j").body_bytes()) == {"variables": {}}
    assert call.reconciler is not None


def test_create_and_start_spec_sends_the_language_header() -> None:
    job = job_definition("orders")
    call = ops.create_and_start_job({"jobs": [job]}, ["c1", "c2"])

    assert call.path(PROJECT) == f"/v1.1/{PROJECT}/clusters/job"
    assert call.headers == {"X-Language": "en-us"}
    assert call.body == {"jobs": [job], "clusters": ["c1", "c2"]}
    for clusters in ([], "c1", ["a/b"]):
        with pytest.raises(CdmConfigError, match="clusters"):
            ops.create_and_start_job(job, clusters)


def test_queries_are_encoded_once() -> None:
    listing = ops.list_jobs(CLUSTER, page_no=2, page_size=10, name_filter="ord ers&x", job_type="BATCH_JOB")
    assert listing.target(PROJECT).endswith(
        "/cdm/job/all?page_no=2&page_size=10&jobType=BATCH_JOB&filter=ord%20ers%26x"
    )

    history = ops.list_submissions(CLUSTER, JOB, page_no=3)
    assert history.target(PROJECT) == (
        f"/v1.1/{PROJECT}/clusters/{CLUSTER}/cdm/submissions"
        "?jname=orders%20to%20obs%20%E2%9C%93%20%E8%AE%A2%E5%8D%95&page_no=3&page_size=100"
    )
    assert ops.job_status(CLUSTER, "j").target(PROJECT).endswith("/cdm/job/j/status")


@pytest.mark.parametrize(("page_size", "job_type"), [(9, "NORMAL_JOB"), (101, "NORMAL_JOB"), (10, "ANY_JOB")])
def test_list_jobs_arguments_are_checked(page_size: int, job_type: str) -> None:
    with pytest.raises(CdmConfigError):
        ops.list_jobs(CLUSTER, page_size=page_size, job_type=job_type)


def test_body_bytes_are_compact_utf8() -> None:
    body = ops.create_job(CLUSTER, job_definition("订单")).body_bytes()
    assert "订单".encode() in body
    assert b": " not in body


def test_status_parser_picks_the_latest_run_and_none_for_no_run() -> None:
    parse = ops.job_status(CLUSTER, JOB).parse
    assert parse({"submissions": []}) is None
    assert parse({}) is None
    latest = parse({"submissions": [submission(3, "FAILED"), submission(5, "RUNNING"), submission(4, "SUCCEEDED")]})
    assert latest is not None and latest.submission_id == 5
    with pytest.raises(ResponseShapeError):
        parse({"submissions": {"not": "a list"}})
    with pytest.raises(ResponseShapeError):
        parse(None)


def test_start_parser_needs_a_submission() -> None:
    parse = ops.start_job(CLUSTER, JOB).parse
    assert parse({"submissions": [submission(2, "BOOTING")]}).submission_id == 2
    with pytest.raises(ResponseShapeError):
        parse({"submissions": []})


def test_create_parsers_refuse_error_entries_and_keep_warnings() -> None:
    parse = ops.create_job(CLUSTER, job_definition("orders")).parse
    result = parse({"name": "orders", "validation-result": [{"message": "slow link", "status": "WARNING"}]})
    assert (result.name, [w.message for w in result.warnings]) == ("orders", ["slow link"])
    with pytest.raises(ops.ValidationRejected) as caught:
        parse({"name": "orders", "validation-result": [{"message": "no such link", "status": "ERROR"}]})
    assert str(caught.value) == "no such link"


def test_create_and_start_parser_accepts_both_answer_shapes() -> None:
    single = ops.create_and_start_job(job_definition("orders"), ["c1"]).parse
    assert single({"submissions": [submission(1, "BOOTING", "orders")]})[0] == "c1"
    assert single({"name": "orders", "validation-result": []}) == ("c1", [])
    several = ops.create_and_start_job(job_definition("orders"), ["c1", "c2"]).parse
    cluster, runs = several({"submissions": [submission(1, "BOOTING", "orders")]})
    assert cluster is None
    assert [run.submission_id for run in runs] == [1]
    with pytest.raises(ops.ValidationRejected):
        several({"name": "orders", "validation-result": [{"message": "bad", "status": "ERROR"}]})


def test_show_job_parser_finds_the_named_job() -> None:
    parse = ops.show_job(CLUSTER, "b").parse
    assert parse({"jobs": [{"name": "a"}, {"name": "b"}]}).name == "b"
    with pytest.raises(ResponseShapeError):
        parse({"jobs": []})


def test_page_parsers() -> None:
    jobs = ops.list_jobs(CLUSTER).parse({"total": 2, "jobs": [{"name": "a"}, {"name": "b"}], "page_no": 1})
    assert ([job.name for job in jobs.items], jobs.total) == (["a", "b"], 2)
    runs = ops.list_submissions(CLUSTER, JOB).parse({"total": "1", "submissions": [submission(1, "FAILED")]})
    assert (len(runs.items), runs.total) == (1, 1)
    assert ops.list_jobs(CLUSTER).parse({"jobs": []}).total is None
