"""The API reference's example requests, end to end against an emulator process: loaded, sent by the hook
and by the create operator, then read back (show job) with the definition's fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cdm.emulator.testing import EmulatorProcess
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.job_definition import load_job_definition
from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator
from tests.seeds import IN_CLUSTER, JOB_EXAMPLES, RANDOM_CLUSTER, START, seed_body
from tests.unit.operators.helpers import task_context

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(emulator: EmulatorProcess) -> Iterator[CdmHook]:
    cdm = CdmHook()
    yield cdm
    cdm.close()


def inputs(job: dict[str, Any]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Each config-values field's configs by name, with their (input name, value) pairs."""
    return {
        field: {config["name"]: [(i["name"], i["value"]) for i in config["inputs"]] for config in job[field]["configs"]}
        for field in ("from-config-values", "to-config-values", "driver-config-values")
    }


def assert_holds(hook: CdmHook, definition: dict[str, Any], cluster_id: str | None = None) -> None:
    """The job CDM shows has the definition's fields and inputs (empty configs included)."""
    job = hook.get_job(definition["name"], cluster_id)
    shown = job.definition()
    for field in ("name", "job_type", "from-connector-name", "from-link-name", "to-connector-name", "to-link-name"):
        assert shown[field] == definition[field], field
    assert inputs(shown) == inputs(definition)
    assert inputs(shown)["driver-config-values"]["jarConfig"] == []


def test_the_hook_sends_each_example_end_to_end(hook: CdmHook, emulator: EmulatorProcess) -> None:
    definition = load_job_definition(seed_body(IN_CLUSTER))
    assert hook.create_job(definition).name == "es_css"
    assert_holds(hook, definition)
    emulator.script_job("es_css", "STUCK", count=1)  # running until stopped
    assert hook.start_job("es_css", variables=seed_body(START)["variables"]).job_name == "es_css"
    hook.stop_job("es_css")
    hook.delete_job("es_css")

    definition = load_job_definition(seed_body(RANDOM_CLUSTER))
    cluster, runs = hook.create_and_start_job(definition, [str(emulator.cluster_id)])
    assert cluster == emulator.cluster_id
    assert [run.job_name for run in runs] == ["es_css"]
    assert_holds(hook, definition)


def test_the_create_operator_creates_each_example(hook: CdmHook) -> None:
    for example in JOB_EXAMPLES:
        body = seed_body(example)
        assert CdmCreateJobOperator(task_id="create", job=body).execute(task_context()) == "es_css"
        assert_holds(hook, load_job_definition(body))
        hook.delete_job("es_css")
