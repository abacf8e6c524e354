"""The reference docs against the code: examples are the example DAGs' code, every parameter is documented.

- Every region of ``example_dags/*.py`` between ``# [START name]`` and ``# [END name]`` appears, dedented,
  in ``docs/reference/`` as a fenced Python block (or part of one), and every Python block there that
  builds an operator or sensor is made of such regions only, so no example can drift from code that
  ``tests/integration/test_example_dags.py`` runs. The same holds for README's operator examples.
- Every constructor parameter of the public classes (from ``inspect.signature`` of each ``__init__``
  the provider defines, base classes of Airflow excluded) has a row in its class's parameter table,
  with the signature's default and, for operators and the sensor, whether it is templated.
- Every operator and the sensor has at least one example in its own section.
- The raw Job dict and the console export of ``docs/reference/job-definition.md`` are accepted by the
  loader as written, and created on the emulator; its list of connector names is the provider's.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.api.job_schema import CONNECTORS
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.job_definition import CdmJobDefinition, load_job_definition, load_job_definitions
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmDeleteJobOperator,
    CdmStartJobOperator,
    CdmStopJobOperator,
)
from airflow_provider_cdm.operators.cluster import (
    CdmRestartClusterOperator,
    CdmStartClusterOperator,
    CdmStopClusterOperator,
)
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from airflow_provider_cdm.sensors.cluster import CdmClusterStatusSensor
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from airflow_provider_cdm.triggers.cluster import CdmClusterStatusTrigger

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
REFERENCE = ROOT / "docs" / "reference"
README = ROOT / "README.md"

OPERATORS = (
    CdmCreateJobOperator,
    CdmStartJobOperator,
    CdmCreateAndStartJobOperator,
    CdmStopJobOperator,
    CdmDeleteJobOperator,
)
CLUSTER_OPERATORS = (CdmStartClusterOperator, CdmStopClusterOperator, CdmRestartClusterOperator)
SENSORS = (CdmJobStatusSensor, CdmClusterStatusSensor)
TASKS = (*OPERATORS, *CLUSTER_OPERATORS, *SENSORS)
# Each documented class, and the page holding its "## ClassName" section.
PAGES: dict[type, str] = {
    **dict.fromkeys(OPERATORS, "operators.md"),
    **dict.fromkeys((*CLUSTER_OPERATORS, CdmClusterStatusSensor, CdmClusterStatusTrigger), "clusters.md"),
    CdmJobStatusSensor: "sensor.md",
    CdmJobStatusTrigger: "trigger.md",
    CdmHook: "hook.md",
    CdmJobDefinition: "job-definition.md",
}
# BaseSensorOperator's parameters that change what this sensor does: documented in its table too.
SENSOR_BASE_PARAMETERS = ("poke_interval", "timeout", "mode", "soft_fail")

MARKER = re.compile(r"^\s*# \[(START|END) ([A-Za-z0-9_]+)\]\s*$")
FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
BUILDS_A_TASK = re.compile(r"\bCdm\w+(Operator|Sensor)(\.partial)?\(")


# --- example regions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    name: str
    path: Path
    text: str  # dedented, marker lines and surrounding blank lines dropped


def extract_regions(path: Path) -> list[Region]:
    """The marked regions of one file; markers must pair up, not nest, and not repeat."""
    regions: list[Region] = []
    open_name: str | None = None
    lines: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        marker = MARKER.match(line)
        if marker is None:
            if open_name is not None:
                lines.append(line)
            continue
        kind, name = marker.groups()
        if kind == "START":
            assert open_name is None, f"{path.name}:{number}: [START {name}] inside [START {open_name}]"
            open_name, lines = name, []
        else:
            assert open_name == name, f"{path.name}:{number}: [END {name}] closes [START {open_name}]"
            text = textwrap.dedent("\n".join(lines)).strip("\n")
            assert text.strip(), f"{path.name}:{number}: region {name} is empty"
            regions.append(Region(name, path, text))
            open_name = None
    assert open_name is None, f"{path.name}: [START {open_name}] is never closed"
    return regions


def all_regions() -> list[Region]:
    regions = [region for path in sorted(EXAMPLE_DAGS.glob("*.py")) for region in extract_regions(path)]
    names = [region.name for region in regions]
    assert len(names) == len(set(names)), f"region names repeat: {sorted(n for n in names if names.count(n) > 1)}"
    return regions


def python_blocks(text: str) -> list[str]:
    return [block.rstrip("\n") for block in FENCE.findall(text)]


def made_of_regions(block: str, regions: list[Region]) -> list[Region] | None:
    """The regions a code block consists of (each whole, separated by blank lines only), or None."""
    used: list[Region] = []
    rest = block
    for region in sorted(regions, key=lambda r: len(r.text), reverse=True):
        if region.text in rest:
            used.append(region)
            rest = rest.replace(region.text, "")
    return used if used and not rest.strip() else None


def reference_pages() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(REFERENCE.glob("*.md"))}


def test_every_example_region_is_in_the_reference_verbatim() -> None:
    regions = all_regions()
    assert len(regions) >= len(TASKS)
    blocks = [block for text in reference_pages().values() for block in python_blocks(text)]
    missing = [f"{r.path.name}: {r.name}" for r in regions if not any(r.text in block for block in blocks)]
    assert not missing, f"example regions not in docs/reference/ as a python block: {missing}"


@pytest.mark.parametrize("document", ["reference", "README"])
def test_every_example_in_the_docs_is_example_dag_code(document: str) -> None:
    """No hand-written operator example: each is the example DAGs' code, so it runs in the test suite."""
    texts = reference_pages() if document == "reference" else {README.name: README.read_text(encoding="utf-8")}
    regions = all_regions()
    checked = 0
    for name, text in texts.items():
        for block in python_blocks(text):
            if document == "README" and not BUILDS_A_TASK.search(block):
                continue  # README's hook and emulator snippets are not DAG code
            assert made_of_regions(block, regions), f"{name}: this block is not example DAG code:\n{block}"
            checked += 1
    assert checked


# --- parameters -------------------------------------------------------------------------------------


def own_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """Constructor parameters of every ``__init__`` the provider defines in ``cls``'s MRO (no Airflow base's)."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not klass.__module__.startswith("airflow_provider_cdm"):
            continue
        for name, parameter in inspect.signature(init).parameters.items():
            if name == "self" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                continue
            found.setdefault(name, parameter)
    return found


def section(cls: type) -> str:
    """The ``## ClassName`` section of the class's page, up to the next ``## `` heading."""
    text = (REFERENCE / PAGES[cls]).read_text(encoding="utf-8")
    match = re.search(rf"^## `?{cls.__name__}`?\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{PAGES[cls]} has no '## {cls.__name__}' section"
    return match.group(1)


def parameter_rows(text: str) -> Iterator[dict[str, str]]:
    """Rows of the section's parameter tables (header starting with ``| parameter |``), keyed by column."""
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells and cells[0] == "parameter":
            header = cells
        elif header is not None and not set(cells[0]) <= {"-", ":"}:
            yield dict(zip(header, cells, strict=False))


def documented(cls: type) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for row in parameter_rows(section(cls)):
        name = row["parameter"].strip("`")
        assert name not in rows, f"{cls.__name__}: parameter {name} has two rows"
        rows[name] = row
    return rows


def default_forms(value: Any) -> set[str]:
    """How a default may be written in the table: Python's repr, JSON for strings, 300 for 300.0."""
    forms = {repr(value)}
    if isinstance(value, str):
        forms.add(json.dumps(value))
    if isinstance(value, float) and value.is_integer():
        forms.add(str(int(value)))
    return forms


@pytest.mark.parametrize("cls", list(PAGES), ids=lambda cls: cls.__name__)
def test_every_constructor_parameter_is_documented_with_its_default(cls: type) -> None:
    parameters = own_parameters(cls)
    assert parameters, cls
    rows = documented(cls)
    missing = sorted(set(parameters) - set(rows))
    assert not missing, f"{cls.__name__}: parameters missing from {PAGES[cls]}: {missing}"
    for name, parameter in parameters.items():
        cell = rows[name].get("default", "")
        if parameter.default is inspect.Parameter.empty:
            assert "required" in cell, f"{cls.__name__}.{name}: default column should say required, says {cell!r}"
        elif isinstance(parameter.default, (str, int, float, bool, type(None))):
            forms = default_forms(parameter.default)
            assert any(f"`{form}`" in cell for form in forms), (
                f"{cls.__name__}.{name}: default column {cell!r} does not show the default {parameter.default!r}"
            )


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.__name__)
def test_the_templated_column_matches_template_fields(cls: Any) -> None:
    rows = documented(cls)
    for name, row in rows.items():
        assert row.get("templated") in ("yes", "no"), f"{cls.__name__}.{name}: templated column must be yes or no"
        expected = "yes" if name in cls.template_fields else "no"
        assert row["templated"] == expected, f"{cls.__name__}.{name}: templated is {expected!r} in the code"
    assert set(cls.template_fields) <= set(rows), f"{cls.__name__}: templated fields not documented"


@pytest.mark.parametrize("cls", SENSORS, ids=lambda cls: cls.__name__)
def test_the_sensors_document_the_base_parameters_they_rely_on(cls: Any) -> None:
    rows = documented(cls)
    missing = [name for name in SENSOR_BASE_PARAMETERS if name not in rows]
    assert not missing, f"{cls.__name__}: base sensor parameters missing: {missing}"


def test_no_documented_parameter_is_unknown_to_the_code() -> None:
    for cls, page in PAGES.items():
        known = set(own_parameters(cls)) | (set(SENSOR_BASE_PARAMETERS) if cls in SENSORS else set())
        extra = sorted(set(documented(cls)) - known)
        assert not extra, f"{cls.__name__}: {page} documents parameters the code does not take: {extra}"


# --- one example per operator -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", TASKS, ids=lambda cls: cls.__name__)
def test_every_operator_has_an_example_from_the_example_dags(cls: type) -> None:
    regions = all_regions()
    usage = re.compile(rf"\b{cls.__name__}(\.partial)?\(")
    examples = [
        block
        for block in python_blocks(section(cls))
        if usage.search(block) and made_of_regions(block, regions) is not None
    ]
    assert examples, f"{cls.__name__}: its section in {PAGES[cls]} has no example DAG code that builds it"


# --- raw Job dicts and console exports --------------------------------------------------------------

JOB_EXAMPLE = re.compile(r"^<!-- job-example: ([a-z-]+) -->\n```json\n(.*?)^```$", re.DOTALL | re.MULTILINE)
CONNECTOR_NAMES = re.compile(r"^<!-- connector-names -->\n(.*?)^<!-- /connector-names -->$", re.DOTALL | re.MULTILINE)


def job_examples() -> dict[str, Any]:
    """The JSON examples of job-definition.md, by their marker's name."""
    text = (REFERENCE / "job-definition.md").read_text(encoding="utf-8")
    examples = {name: json.loads(body) for name, body in JOB_EXAMPLE.findall(text)}
    assert set(examples) == {"raw", "console-export"}, sorted(examples)
    return examples


def test_the_raw_job_and_the_console_export_are_accepted_as_written() -> None:
    examples = job_examples()
    raw = load_job_definition(examples["raw"])
    assert raw == examples["raw"]  # complete and in CDM's shape already: nothing to fill in or convert
    assert CdmJobDefinition.from_api(raw).to_api() == raw  # what the builder writes, field for field
    exported = examples["console-export"]
    (job,) = load_job_definitions(exported)
    assert load_job_definition(exported) == job and job["name"] == "customers_to_obs"
    assert job["status"] == "NEW"  # the fields CDM sets are kept as given
    assert {config["name"]: config["inputs"] for config in job["driver-config-values"]["configs"]}["jarConfig"] == []


def test_the_documented_connector_names_are_the_providers() -> None:
    (listed,) = CONNECTOR_NAMES.findall((REFERENCE / "job-definition.md").read_text(encoding="utf-8"))
    assert set(re.findall(r"`([a-z-]+-connector)`", listed)) == CONNECTORS


@pytest.mark.integration
@pytest.mark.parametrize("name", ["raw", "console-export"])
def test_the_job_examples_are_created_on_the_emulator_through_the_operator(name: str, emulator: Any) -> None:
    from airflow_provider_cdm.operators.cdm import CdmCreateJobOperator
    from tests.unit.operators.helpers import task_context

    example = job_examples()[name]
    expected = load_job_definition(example)
    created = CdmCreateJobOperator(task_id="create_job", job=example).execute(task_context())
    assert created == expected["name"]
    hook = CdmHook()
    try:
        shown = hook.get_job(created).definition()
    finally:
        hook.close()
    for field in ("name", "job_type", "from-connector-name", "from-link-name", "to-connector-name", "to-link-name"):
        assert shown[field] == expected[field], field
    for field in ("from-config-values", "to-config-values", "driver-config-values"):
        assert [c["name"] for c in shown[field]["configs"]] == [c["name"] for c in expected[field]["configs"]]
