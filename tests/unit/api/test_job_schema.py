"""The Job object's documented shape, as both the builder and the emulator check it."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cdm.api.job_schema import (
    definition_problems,
    job_name_problems,
    normalized_job,
    unknown_connectors,
)
from tests.jobs import job_definition
from tests.seeds import IN_CLUSTER, seed_job


def test_a_documented_job_has_no_problems() -> None:
    assert definition_problems(job_definition("ok")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda j: j.pop("to-link-name"), "missing required field 'to-link-name'"),
        (lambda j: j.update(name=""), "1 to 240 characters"),
        (lambda j: j.update(name="x" * 241), "1 to 240 characters"),
        (lambda j: j.update(job_type="FAST_JOB"), "job_type 'FAST_JOB' is not one of"),
        (lambda j: j.update({"from-connector-name": 7}), "from-connector-name 7 must be a non-empty string"),
        (lambda j: j.pop("name"), "missing required field 'name' (CDM addresses a job by its name)"),
        (lambda j: j.update({"to-config-values": []}), "must be an object with a 'configs' list"),
        (
            lambda j: j["driver-config-values"]["configs"][0]["inputs"][0].update(value=2),
            "'throttlingConfig.numExtractors' has value 2; every value must be a string",
        ),
    ],
)
def test_problems_name_the_field_and_what_is_expected(change: Any, expected: str) -> None:
    job = job_definition("j")
    change(job)
    problems = definition_problems(job)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "1 to 240 characters"),
        ("x" * 241, "1 to 240 characters"),
        (42, "must be a string"),
        ("daily/orders", "must not contain '/'"),
        ("..", "not a usable path segment"),
        ("ord\x00ers", "control characters"),
        (" orders", "whitespace"),
        ("orders\t", "control characters"),
        ("all", "reserved"),
        ("All", "reserved"),
    ],
)
def test_job_name_problems_name_the_value_and_the_rule(name: object, expected: str) -> None:
    problems = job_name_problems(name, "job.name")
    assert problems and all(problem.startswith("job.name ") for problem in problems), problems
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("name", ["a", "x" * 240, "orders to obs ✓ 订单", "a.b", "...", "all_orders", "call"])
def test_usable_job_names_have_no_problems(name: str) -> None:
    assert job_name_problems(name) == []
    assert definition_problems(job_definition(name)) == []


def test_the_references_example_is_valid_as_written_and_normalised_to_the_documented_types() -> None:
    job = seed_job(IN_CLUSTER)  # its empty configs are written "inputs" : { }
    assert definition_problems(job) == []
    normalized = normalized_job(job)
    assert {c["name"]: c["inputs"] for c in normalized["driver-config-values"]["configs"]}["jarConfig"] == []
    assert normalized_job(normalized) == normalized
    assert job["driver-config-values"]["configs"][1]["inputs"] == {}  # the caller's job is left alone


def test_optional_fields_take_cdms_defaults_or_stay_out() -> None:
    job = job_definition("j")
    for field in ("job_type", "to-connector-name", "from-link-name"):
        del job[field]
    job["to-config-values"] = {}  # no configs at all
    assert definition_problems(job) == []
    normalized = normalized_job(job)
    assert normalized["job_type"] == "NORMAL_JOB" and normalized["to-config-values"] == {"configs": []}
    assert "to-connector-name" not in normalized and "from-link-name" not in normalized


def test_unknown_connectors_are_only_listed() -> None:
    job = {**job_definition("j"), "from-connector-name": "nas-connector", "to-connector-name": "new-connector"}
    assert definition_problems(job) == []
    assert unknown_connectors(job) == ["new-connector"]
