"""The Job object's documented shape, as both the builder and the emulator check it."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cdm.api.job_schema import definition_problems, job_name_problems
from tests.jobs import job_definition


def test_a_documented_job_has_no_problems() -> None:
    assert definition_problems(job_definition("ok")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda j: j.pop("to-link-name"), "missing required field 'to-link-name'"),
        (lambda j: j.update(name=""), "1 to 240 characters"),
        (lambda j: j.update(name="x" * 241), "1 to 240 characters"),
        (lambda j: j.update(job_type="FAST_JOB"), "job_type 'FAST_JOB' is not one of"),
        (lambda j: j.update({"from-connector-name": "oracle-magic"}), "'oracle-magic' is not a known CDM connector"),
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
