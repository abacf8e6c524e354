"""The API reference's own example requests (``tests/data/seeds/``) are accepted as written: by the loader,
the builder, the hook's call building and the emulator (end to end against a process:
``tests/integration/test_seed_examples_emulator.py``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm.client import operations as ops
from airflow_provider_cdm.client.models import Job
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from airflow_provider_cdm.job_definition import CdmJobDefinition, load_job_definition, load_job_definitions
from tests.seeds import (
    CLUSTER_ID,
    EXAMPLES,
    IN_CLUSTER,
    JOB_EXAMPLES,
    PROJECT_ID,
    RANDOM_CLUSTER,
    SEEDS,
    SHARED_SEEDS,
    START,
    Example,
    page_example,
    seed_body,
    seed_job,
    seed_text,
)
from tests.unit.emulator.helpers import SignedClient

# The other clusters the random-cluster example names (one twice).
RANDOM_CLUSTERS = ("b0791496-e111-4e75-b7ca-9277aeab9297", "c2db1191-eb6c-464a-a0d3-b434e6c6df26")


def as_loaded(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the loader returns it: every empty ``"inputs": {}`` as ``[]``, the rest unchanged."""
    loaded = copy.deepcopy(job)
    for field in ("from-config-values", "to-config-values", "driver-config-values"):
        for config in loaded[field]["configs"]:
            if config.get("inputs") == {}:
                config["inputs"] = []
    return loaded


def configs_of(job: dict[str, Any], field: str) -> dict[str, Any]:
    return {config["name"]: config["inputs"] for config in job[field]["configs"]}


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.file for example in EXAMPLES])
def test_each_copy_is_its_pages_example_verbatim(example: Example) -> None:
    if not (SHARED_SEEDS / example.page).is_file():
        pytest.skip(f"{SHARED_SEEDS} is not here")
    method, path, body = page_example(example)
    assert (method, path) == (example.method, example.path)
    assert seed_body(example) == body
    if example in JOB_EXAMPLES:  # character for character (the start page's text lost its indentation)
        assert seed_text(example).rstrip("\n") in (SHARED_SEEDS / example.page).read_text(encoding="utf-8")


def test_the_loader_accepts_each_example_as_body_text_and_file() -> None:
    assert configs_of(seed_job(IN_CLUSTER), "driver-config-values")["jarConfig"] == {}  # as the reference writes it
    for example in JOB_EXAMPLES:
        expected = as_loaded(seed_job(example))
        assert load_job_definition(seed_body(example)) == expected
        assert load_job_definition(seed_text(example)) == expected
        assert load_job_definition(SEEDS / example.file) == expected
        assert load_job_definitions(seed_body(example)) == [expected]
        assert configs_of(expected, "driver-config-values")["jarConfig"] == []
    assert configs_of(expected, "driver-config-values")["transformConfig"] == []


def test_the_builder_parses_each_example() -> None:
    for example in JOB_EXAMPLES:
        built = CdmJobDefinition.from_api(seed_job(example))
        assert (built.name, built.job_type, built.from_connector, built.to_connector) == (
            "es_css",
            "NORMAL_JOB",
            "elasticsearch-connector",
            "dis-connector",
        )
        assert built.from_config["columnList"] == "array_f1_int:long&array_f2_text:string&array_f3_object:nested"
        assert built.driver_config["throttlingConfig"]["submitToCluster"] == "false"
        assert built.driver_config["retryJobConfig"] == {"retryJobType": "NONE"}


def test_the_hooks_calls_accept_each_example_before_any_request() -> None:
    for example in JOB_EXAMPLES:
        body = seed_body(example)
        expected = as_loaded(seed_job(example))
        assert ops.create_job(CLUSTER_ID, body).body == {"jobs": [expected]}
        assert ops.create_job(CLUSTER_ID, seed_job(example)).body == {"jobs": [expected]}
        call = ops.create_and_start_job(body, [CLUSTER_ID, *RANDOM_CLUSTERS])
        assert call.body == {"jobs": [expected], "clusters": [CLUSTER_ID, *RANDOM_CLUSTERS]}
        assert ops.update_job(CLUSTER_ID, body).body == {"jobs": [expected]}


@pytest.fixture
def reference_cdm() -> Iterator[EmulatorThread]:
    """An emulator with the examples' project, clusters and links, so that each request is replayed as written."""
    clusters = [f"--cluster={cluster}=example-{n}" for n, cluster in enumerate((CLUSTER_ID, *RANDOM_CLUSTERS))]
    links = ["--link=css=elasticsearch-connector", "--link=dis=dis-connector", "--strict-links"]
    # The reference's own answer shapes (emulator/dialects.py's reference): the examples are its.
    with emulator_in_thread("--project-id", PROJECT_ID, *clusters, *links, "--dialect", "reference") as emulator:
        yield emulator


def replay(client: SignedClient, example: Example, body: bytes | None = None) -> Any:
    """Send the example's request line with its body's bytes as the reference writes them; the decoded answer."""
    response = client.call(
        example.method,
        example.path,
        seed_text(example).encode() if body is None else body,
        headers={"X-Language": "en-us"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_emulator_accepts_each_example_request_as_written(reference_cdm: EmulatorThread) -> None:
    client = SignedClient(reference_cdm)
    assert replay(client, IN_CLUSTER) == {"name": "es_css", "validation-result": []}
    shown = client.cdm("GET", f"/clusters/{CLUSTER_ID}/cdm/job/es_css").json()["jobs"][0]
    assert configs_of(shown, "driver-config-values")["jarConfig"] == []  # stored and read back as the loader has it
    assert Job.from_api(shown).matches(as_loaded(seed_job(IN_CLUSTER)))

    jdbc2hive = seed_text(IN_CLUSTER).replace('"es_css"', '"jdbc2hive"').encode()  # the job the start example names
    assert replay(client, IN_CLUSTER, jdbc2hive)["validation-result"] == []
    assert replay(client, START)["submissions"][0]["job-name"] == "jdbc2hive"

    client.cdm("DELETE", f"/clusters/{CLUSTER_ID}/cdm/job/es_css")
    started = replay(client, RANDOM_CLUSTER)["submissions"]
    assert [run["job-name"] for run in started] == ["es_css"]
