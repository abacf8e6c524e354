"""The job definition builder and loader: the raw shape CDM expects, conversions and refusals."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import os
import pickle
import subprocess
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.job_definition import (
    CdmJobDefinition,
    CdmJobDefinitionError,
    load_job_definition,
    load_job_definitions,
    to_config_value,
)
from tests.jobs import job_definition

ROOT = Path(__file__).resolve().parents[2]


def definition(**overrides: Any) -> CdmJobDefinition:
    fields: dict[str, Any] = {
        "name": "orders_daily",
        "from_connector": "generic-jdbc-connector",
        "from_link": "pg_link",
        "to_connector": "obs-connector",
        "to_link": "obs_link",
        "from_config": {"schemaName": "public", "tableName": "orders"},
        "to_config": {"bucketName": "warehouse", "outputDirectory": "/orders/"},
        "driver_config": {"throttlingConfig": {"numExtractors": 4, "recordDirtyData": False}},
    }
    fields.update(overrides)
    return CdmJobDefinition(**fields)


class Color(str, enum.Enum):
    RED = "red"


class Workers(enum.IntEnum):
    FOUR = 4


class Retry(enum.Enum):
    TRIPLE = "RETRY_TRIPLE"


# --- the builder renders the raw Job ----------------------------------------------------------------


def test_to_api_renders_the_exact_raw_job() -> None:
    expected = {
        "name": "orders_daily",
        "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector",
        "from-link-name": "pg_link",
        "from-config-values": {
            "configs": [
                {
                    "name": "fromJobConfig",
                    "inputs": [
                        {"name": "fromJobConfig.schemaName", "value": "public"},
                        {"name": "fromJobConfig.tableName", "value": "orders"},
                    ],
                }
            ]
        },
        "to-connector-name": "obs-connector",
        "to-link-name": "obs_link",
        "to-config-values": {
            "configs": [
                {
                    "name": "toJobConfig",
                    "inputs": [
                        {"name": "toJobConfig.bucketName", "value": "warehouse"},
                        {"name": "toJobConfig.outputDirectory", "value": "/orders/"},
                    ],
                }
            ]
        },
        "driver-config-values": {
            "configs": [
                {
                    "name": "throttlingConfig",
                    "inputs": [
                        {"name": "throttlingConfig.numExtractors", "value": "4"},
                        {"name": "throttlingConfig.recordDirtyData", "value": "false"},
                    ],
                }
            ]
        },
    }
    rendered = definition().to_api()
    assert rendered == expected
    # Deterministic text, not just equal dicts: key order is the documented one.
    assert json.dumps(rendered) == json.dumps(expected)


def test_builder_matches_the_projects_raw_example() -> None:
    built = definition(
        name="orders",
        from_config={"schemaName": "public", "tableName": "orders", "whereClause": "order_date = '${date}'"},
        driver_config={"throttlingConfig": {"numExtractors": 2, "numLoaders": 1}},
    )
    assert built.to_api() == job_definition("orders")


def test_job_type_is_rendered() -> None:
    assert definition(job_type="BATCH_JOB").to_api()["job_type"] == "BATCH_JOB"


def test_empty_driver_config_renders_no_groups() -> None:
    assert definition(driver_config={}).to_api()["driver-config-values"] == {"configs": []}


def test_prefixed_and_bare_input_names_render_alike_and_are_stored_bare() -> None:
    bare = definition(from_config={"tableName": "orders"}, to_config={"bucketName": "w"})
    prefixed = definition(from_config={"fromJobConfig.tableName": "orders"}, to_config={"toJobConfig.bucketName": "w"})
    assert prefixed.to_api() == bare.to_api()
    assert prefixed == bare
    assert prefixed.from_config == {"tableName": "orders"}
    assert prefixed.to_api()["from-config-values"]["configs"][0]["inputs"] == [
        {"name": "fromJobConfig.tableName", "value": "orders"}
    ]


def test_nested_and_dotted_driver_config_render_alike() -> None:
    nested = definition(
        driver_config={"throttlingConfig": {"numExtractors": 4}, "retryJobConfig": {"retryJobType": "RETRY_TRIPLE"}}
    )
    dotted = definition(
        driver_config={"throttlingConfig.numExtractors": 4, "retryJobConfig.retryJobType": "RETRY_TRIPLE"}
    )
    mixed = definition(
        driver_config={
            "throttlingConfig": {"throttlingConfig.numExtractors": 4},
            "retryJobConfig.retryJobType": "RETRY_TRIPLE",
        }
    )
    assert nested.to_api() == dotted.to_api() == mixed.to_api()
    assert dotted.driver_config == {
        "throttlingConfig": {"numExtractors": "4"},
        "retryJobConfig": {"retryJobType": "RETRY_TRIPLE"},
    }
    assert [c["name"] for c in dotted.to_api()["driver-config-values"]["configs"]] == [
        "throttlingConfig",
        "retryJobConfig",
    ]


def test_dotted_keys_join_their_nested_group() -> None:
    built = definition(driver_config={"throttlingConfig": {"numExtractors": 4}, "throttlingConfig.numLoaders": 2})
    assert built.to_api()["driver-config-values"] == {
        "configs": [
            {
                "name": "throttlingConfig",
                "inputs": [
                    {"name": "throttlingConfig.numExtractors", "value": "4"},
                    {"name": "throttlingConfig.numLoaders", "value": "2"},
                ],
            }
        ]
    }


def test_definition_is_frozen_and_replace_revalidates() -> None:
    built = definition()
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "other"  # type: ignore[misc]
    assert dataclasses.replace(built, name="orders_hourly").to_api()["name"] == "orders_hourly"
    with pytest.raises(CdmJobDefinitionError, match="'all'"):
        dataclasses.replace(built, name="all")


def test_the_callers_mappings_are_not_shared() -> None:
    source = {"tableName": "orders"}
    built = definition(from_config=source)
    source["tableName"] = "changed"
    assert built.to_api()["from-config-values"]["configs"][0]["inputs"][0]["value"] == "orders"


# --- value conversion --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("orders", "orders"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-7, "-7"),
        (10**20, "100000000000000000000"),
        (0.5, "0.5"),
        (0.1, "0.1"),
        (4.0, "4.0"),
        (1e20, "100000000000000000000"),
        (1e-7, "0.0000001"),
        (-2.5, "-2.5"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.10"), "0.10"),
        (Decimal("-3"), "-3"),
        (Color.RED, "red"),
        (Workers.FOUR, "4"),
        (Retry.TRIPLE, "RETRY_TRIPLE"),
    ],
)
def test_conversions(value: object, expected: str) -> None:
    converted = to_config_value("throttlingConfig.numExtractors", value)
    assert converted == expected
    assert type(converted) is str


def test_builder_and_loader_convert_values() -> None:
    built = definition(from_config={"tableName": "orders", "fetchSize": 1000, "ratio": 0.5, "useSql": False})
    assert [i["value"] for i in built.to_api()["from-config-values"]["configs"][0]["inputs"]] == [
        "orders",
        "1000",
        "0.5",
        "false",
    ]
    raw = job_definition("orders")
    raw["driver-config-values"]["configs"][0]["inputs"][0]["value"] = 4
    raw["driver-config-values"]["configs"][0]["inputs"][1]["value"] = Color.RED
    loaded = load_job_definition(raw)
    values = [i["value"] for i in loaded["driver-config-values"]["configs"][0]["inputs"]]
    assert values == ["4", "red"]
    assert all(type(v) is str for v in values)
    assert raw["driver-config-values"]["configs"][0]["inputs"][0]["value"] == 4  # the input is left alone


# --- refusals ----------------------------------------------------------------------------------------


def _raw_without(field: str) -> dict[str, Any]:
    raw = job_definition("orders")
    del raw[field]
    return raw


def _raw_with_value(value: object) -> dict[str, Any]:
    raw = job_definition("orders")
    raw["from-config-values"]["configs"][0]["inputs"][1]["value"] = value
    return raw


REFUSALS: list[tuple[str, Callable[[], object], list[str]]] = [
    ("empty name", lambda: definition(name=""), ["name ''", "1 to 240"]),
    ("overlong name", lambda: definition(name="x" * 241), ["'" + "x" * 241 + "'", "1 to 240"]),
    ("slash in name", lambda: definition(name="daily/orders"), ["'daily/orders'", "'/'"]),
    ("backslash in name", lambda: definition(name="daily\\orders"), ["'daily\\\\orders'"]),
    ("dot-dot name", lambda: definition(name=".."), ["'..'", "path segment"]),
    ("reserved name", lambda: definition(name="all"), ["'all'", "reserved"]),
    ("reserved name, other case", lambda: definition(name="ALL"), ["'ALL'", "reserved"]),
    ("leading whitespace", lambda: definition(name=" orders"), ["' orders'", "whitespace"]),
    ("trailing whitespace", lambda: definition(name="orders\t"), ["'orders\\t'", "whitespace"]),
    ("control character", lambda: definition(name="ord\x00ers"), ["'ord\\x00ers'", "control characters"]),
    ("empty connector", lambda: definition(from_connector=""), ["from-connector-name ''", "non-empty string"]),
    ("unknown job type", lambda: definition(job_type="FAST_JOB"), ["'FAST_JOB'", "BATCH_JOB"]),
    ("empty link", lambda: definition(to_link=""), ["to-link-name ''", "non-empty"]),
    (
        "unknown driver group",
        lambda: definition(driver_config={"speedConfig": {"x": 1}}),
        ["'speedConfig'", "throttlingConfig"],
    ),
    (
        "unknown dotted group",
        lambda: definition(driver_config={"speedConfig.x": 1}),
        ["'speedConfig'", "groupJobConfig"],
    ),
    (
        "group without inputs",
        lambda: definition(driver_config={"throttlingConfig": 4}),
        ["'throttlingConfig'", "{input: value}"],
    ),
    (
        "None value",
        lambda: definition(from_config={"tableName": None}),
        ["'fromJobConfig.tableName' has value None", "NoneType", "expected a str"],
    ),
    (
        "list value",
        lambda: definition(to_config={"columns": ["a", "b"]}),
        ["'toJobConfig.columns'", "['a', 'b']", "list"],
    ),
    (
        "dict value",
        lambda: definition(driver_config={"throttlingConfig.numExtractors": {"n": 4}}),
        ["'throttlingConfig.numExtractors'", "dict"],
    ),
    ("bytes value", lambda: definition(from_config={"tableName": b"orders"}), ["b'orders'", "bytes"]),
    ("set value", lambda: definition(from_config={"tableName": {"a"}}), ["{'a'}", "set"]),
    (
        "datetime value",
        lambda: definition(from_config={"since": datetime.date(2024, 1, 2)}),
        ["'fromJobConfig.since'", "date"],
    ),
    ("nan value", lambda: definition(from_config={"ratio": float("nan")}), ["nan", "float", "finite"]),
    (
        "infinite Decimal",
        lambda: definition(from_config={"ratio": Decimal("Infinity")}),
        ["Decimal('Infinity')", "finite"],
    ),
    (
        "driver input in from_config",
        lambda: definition(from_config={"throttlingConfig.numExtractors": 4}),
        ["'throttlingConfig.numExtractors'", "config group 'throttlingConfig'"],
    ),
    ("bare prefix", lambda: definition(from_config={"fromJobConfig.": "x"}), ["'fromJobConfig.'", "no input name"]),
    (
        "input given twice",
        lambda: definition(from_config={"tableName": "a", "fromJobConfig.tableName": "b"}),
        ["'fromJobConfig.tableName' twice"],
    ),
    ("config not a mapping", lambda: definition(to_config=["bucketName"]), ["['bucketName']", "mapping"]),
    (
        "raw: missing field",
        lambda: load_job_definition(_raw_without("to-link-name")),
        ["missing required field 'to-link-name'"],
    ),
    (
        "raw: missing configs",
        lambda: load_job_definition(_raw_without("driver-config-values")),
        ["'driver-config-values'"],
    ),
    (
        "raw: None value",
        lambda: load_job_definition(_raw_with_value(None)),
        ["'fromJobConfig.tableName' has value None", "NoneType"],
    ),
    (
        "raw: list value",
        lambda: load_job_definition(_raw_with_value([1])),
        ["'fromJobConfig.tableName' has value [1]", "list"],
    ),
    (
        "invalid JSON",
        lambda: load_job_definition('{\n  "name": "orders",\n  oops\n}'),
        ["invalid JSON at line 3, column 3"],
    ),
    ("empty JSON text", lambda: load_job_definition(""), ["invalid JSON at line 1, column 1"]),
    ("file name as text", lambda: load_job_definition("dags/orders.json"), ["invalid JSON", "pathlib.Path"]),
    (
        "two jobs",
        lambda: load_job_definition({"jobs": [job_definition("a"), job_definition("b")]}),
        ["holds 2 jobs", "exactly one is expected"],
    ),
    ("no jobs", lambda: load_job_definition({"jobs": []}), ["holds 0 jobs", "exactly one"]),
    (
        "jobs not a list",
        lambda: load_job_definition({"jobs": {"name": "a"}}),
        ["'jobs' must be a list", "{'name': 'a'}"],
    ),
    ("JSON array", lambda: load_job_definition("[1, 2]"), ["expected a JSON object", "list [1, 2]"]),
    ("int source", lambda: load_job_definition(42), ["got int 42", "CdmJobDefinition"]),  # type: ignore[arg-type]
    ("bytes source", lambda: load_job_definition(b"{}"), ["got bytes b'{}'"]),  # type: ignore[arg-type]
    ("list source", lambda: load_job_definition([job_definition("a")]), ["got list"]),  # type: ignore[arg-type]
    ("job not an object", lambda: load_job_definitions({"jobs": ["orders"]}), ["jobs[0]", "got str 'orders'"]),
]


@pytest.mark.parametrize(("case", "make", "expected"), REFUSALS, ids=[case for case, _, _ in REFUSALS])
def test_refusals_name_the_bad_value(case: str, make: Callable[[], object], expected: list[str]) -> None:
    with pytest.raises(CdmJobDefinitionError) as caught:
        make()
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    for part in expected:
        assert part in message, f"{case}: {part!r} not in {message!r}"


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(CdmJobDefinitionError) as caught:
        definition(
            name="a/b",
            to_connector=" ",
            from_config={"tableName": None},
            driver_config={"speedConfig": {"x": 1}},
        )
    problems = caught.value.problems
    assert len(problems) == 4, problems
    message = str(caught.value)
    assert message.startswith("invalid CDM job definition 'a/b' (4 problems):")
    for part in ("'a/b'", "to-connector-name ' '", "'fromJobConfig.tableName' has value None", "'speedConfig'"):
        assert part in message


def test_a_refused_raw_value_is_reported_once() -> None:
    with pytest.raises(CdmJobDefinitionError) as caught:
        load_job_definition(_raw_with_value(None))
    assert caught.value.problems == (caught.value.problems[0],)
    assert "'fromJobConfig.tableName'" in caught.value.problems[0]


def test_error_survives_pickling() -> None:
    with pytest.raises(CdmJobDefinitionError) as caught:
        definition(name="all", job_type="FAST_JOB")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.problems == caught.value.problems
    assert str(copy) == str(caught.value)


# --- from_api ----------------------------------------------------------------------------------------


def test_round_trip_from_definition() -> None:
    built = definition(
        job_type="BATCH_JOB",
        driver_config={"throttlingConfig.numExtractors": 4, "schedulerConfig": {"disposableType": "NONE"}},
    )
    assert CdmJobDefinition.from_api(built.to_api()) == built


def test_round_trip_from_raw_keeps_read_back_values() -> None:
    raw = job_definition("orders", where="order_date%20%3D%20%27%24%7Bdate%7D%27")  # as CDM reads it back
    parsed = CdmJobDefinition.from_api(raw)
    assert parsed.from_config["whereClause"] == "order_date%20%3D%20%27%24%7Bdate%7D%27"
    assert parsed.driver_config == {"throttlingConfig": {"numExtractors": "2", "numLoaders": "1"}}
    assert parsed.to_api() == raw


def test_from_api_ignores_read_only_fields() -> None:
    raw = {**job_definition("orders"), "status": "NEW", "creation-date": 1700000000000, "id": 7}
    assert CdmJobDefinition.from_api(raw).to_api() == job_definition("orders")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda j: j["from-config-values"]["configs"][0].update(name="toJobConfig"), "config group 'toJobConfig'"),
        (
            lambda j: j["from-config-values"]["configs"][0]["inputs"][0].update(name="schemaName"),
            "'schemaName' of config group 'fromJobConfig' does not start with 'fromJobConfig.'",
        ),
        (
            lambda j: j["to-config-values"]["configs"][0]["inputs"].append(
                {"name": "toJobConfig.bucketName", "value": "x"}
            ),
            "'toJobConfig.bucketName' of config group 'toJobConfig' is given twice",
        ),
        (lambda j: j.update(name="all"), "'all'"),
    ],
)
def test_from_api_refuses_what_would_not_round_trip(change: Callable[[dict[str, Any]], None], expected: str) -> None:
    raw = job_definition("orders")
    change(raw)
    with pytest.raises(CdmJobDefinitionError) as caught:
        CdmJobDefinition.from_api(raw)
    assert expected in str(caught.value)


# --- load_job_definition(s) --------------------------------------------------------------------------


def test_load_accepts_a_definition() -> None:
    built = definition()
    assert load_job_definition(built) == built.to_api()
    assert load_job_definitions(built) == [built.to_api()]


def test_load_returns_a_deep_copy_of_a_raw_job() -> None:
    raw = job_definition("orders")
    loaded = load_job_definition(raw)
    assert loaded == raw
    loaded["from-config-values"]["configs"][0]["inputs"][0]["value"] = "changed"
    assert raw["from-config-values"]["configs"][0]["inputs"][0]["value"] == "public"


def test_load_keeps_extra_fields_of_a_console_export() -> None:
    exported = {**job_definition("orders"), "status": "NEW"}
    assert load_job_definition({"jobs": [exported]}) == exported


def test_load_reads_a_console_export_body() -> None:
    assert load_job_definition({"jobs": [job_definition("orders")]}) == job_definition("orders")


def test_load_reads_json_text_of_a_job_and_of_a_body() -> None:
    raw = job_definition("orders")
    raw["driver-config-values"]["configs"][0]["inputs"][0]["value"] = 4
    expected = job_definition("orders")
    expected["driver-config-values"]["configs"][0]["inputs"][0]["value"] = "4"
    assert load_job_definition(json.dumps(raw)) == expected
    assert load_job_definition(json.dumps({"jobs": [raw]}, indent=2)) == expected


def test_load_reads_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"jobs": [job_definition("orders")]}), encoding="utf-8")
    assert load_job_definition(path) == job_definition("orders")


def test_load_names_the_file_and_position_of_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text('{"name": "orders",\n "job_type": }', encoding="utf-8")
    with pytest.raises(CdmJobDefinitionError) as caught:
        load_job_definition(path)
    assert str(path) in str(caught.value)
    assert "line 2, column 14" in str(caught.value)


@pytest.mark.parametrize(
    ("filename", "expected"), [("orders.yaml", "must be a .json file"), ("missing.json", "cannot read")]
)
def test_load_refuses_unreadable_files(tmp_path: Path, filename: str, expected: str) -> None:
    path = tmp_path / filename
    if filename.endswith(".yaml"):
        path.write_text("name: orders", encoding="utf-8")
    with pytest.raises(CdmJobDefinitionError) as caught:
        load_job_definition(path)
    assert expected in str(caught.value)
    assert filename in str(caught.value)


def test_load_definitions_reads_every_job_of_a_body() -> None:
    body = {"jobs": [job_definition("a"), job_definition("b")]}
    assert [job["name"] for job in load_job_definitions(body)] == ["a", "b"]
    assert load_job_definitions(job_definition("a")) == [job_definition("a")]


def test_load_definitions_reports_every_job_by_position() -> None:
    bad = job_definition("b")
    bad["job_type"] = "FAST_JOB"
    body = {"jobs": [job_definition("a"), bad, job_definition("a"), {**job_definition("c"), "name": "x/y"}]}
    with pytest.raises(CdmJobDefinitionError) as caught:
        load_job_definitions(body)
    message = str(caught.value)
    assert "jobs[1] ('b'): job_type 'FAST_JOB'" in message
    assert "jobs[0] and jobs[2] are both named 'a'" in message
    assert "jobs[3] ('x/y'): name 'x/y'" in message
    assert len(caught.value.problems) == 3


def test_load_definitions_refuses_an_empty_body() -> None:
    with pytest.raises(CdmJobDefinitionError, match="empty; at least one job"):
        load_job_definitions({"jobs": []})


def test_importing_the_module_does_not_import_airflow() -> None:
    code = (
        "import sys, airflow_provider_cdm.job_definition; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'airflow', 'requests', 'httpx'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"


# --- what CDM accepts (the API reference's shapes; its own examples: tests/unit/test_seed_examples.py) ---------


def _raw(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    raw = job_definition("orders")
    change(raw)
    return raw


def _driver_group(raw: dict[str, Any], group: dict[str, Any]) -> None:
    raw["driver-config-values"]["configs"].append(group)


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (lambda j: _driver_group(j, {"name": "jarConfig", "inputs": {}}), "driver-config-values", []),
        (lambda j: j["to-config-values"]["configs"][0].update(inputs={}), "to-config-values", []),
        (lambda j: j["from-config-values"].update(configs={}), "from-config-values", None),
        (lambda j: j["driver-config-values"].pop("configs"), "driver-config-values", None),
    ],
    ids=["inputs {}", "destination inputs {}", "configs {}", "no configs"],
)
def test_empty_objects_and_missing_configs_load_as_empty_lists(
    change: Callable[[dict[str, Any]], object], field: str, expected: list[Any] | None
) -> None:
    loaded = load_job_definition(_raw(change))
    configs = loaded[field]["configs"]
    if expected is None:
        assert configs == []
    else:
        assert configs[-1]["inputs"] == expected


def test_job_type_defaults_to_normal_job_as_cdm_does() -> None:
    loaded = load_job_definition(_raw(lambda j: j.pop("job_type")))
    assert loaded["job_type"] == "NORMAL_JOB"
    assert CdmJobDefinition.from_api(_raw(lambda j: j.pop("job_type"))).job_type == "NORMAL_JOB"


@pytest.mark.parametrize("field", ["to-connector-name", "from-link-name"])
def test_fields_the_reference_marks_optional_may_be_left_out(field: str) -> None:
    raw = _raw(lambda j: j.pop(field))
    loaded = load_job_definition(raw)
    assert field not in loaded  # CDM fills it in (a link's connector) or goes without it
    assert CdmJobDefinition.from_api(raw).to_api() == loaded


def test_the_builder_leaves_out_the_optional_fields_it_is_not_given() -> None:
    raw = definition(to_connector=None, from_link=None).to_api()
    assert "to-connector-name" not in raw and "from-link-name" not in raw
    assert load_job_definition(raw) == raw


@pytest.mark.parametrize("connector", ["nas-connector", "opentsdb-connector", "thirdparty-obs-connector"])
def test_connectors_of_huaweis_sdk_are_known(connector: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        loaded = load_job_definition(_raw(lambda j: j.update({"from-connector-name": connector})))
        built = definition(to_connector=connector)
    assert loaded["from-connector-name"] == connector and built.to_connector == connector
    assert caplog.records == []


def test_an_unknown_connector_is_sent_as_given_with_one_warning_per_name(caplog: pytest.LogCaptureFixture) -> None:
    connector = f"tomorrow-{uuid.uuid4().hex}-connector"  # never warned about before, in this process
    with caplog.at_level("WARNING", logger="airflow_provider_cdm.job_definition"):
        for _ in range(3):
            loaded = load_job_definition(_raw(lambda j: j.update({"to-connector-name": connector})))
            assert loaded["to-connector-name"] == connector
            assert definition(from_connector=connector).to_api()["from-connector-name"] == connector
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1, warnings
    assert repr(connector) in warnings[0] and "obs-connector" in warnings[0]


STILL_REFUSED = [
    (
        "inputs: a non-empty object",
        lambda j: j["from-config-values"]["configs"][0].update(inputs={"tableName": "orders"}),
        ["from-config-values.fromJobConfig", "{'tableName': 'orders'}", "list"],
    ),
    (
        "inputs: a string",
        lambda j: j["to-config-values"]["configs"][0].update(inputs="bucketName=warehouse"),
        ["to-config-values.toJobConfig", "'bucketName=warehouse'", "list"],
    ),
    (
        "configs: a non-empty object",
        lambda j: j["driver-config-values"].update(configs={"throttlingConfig": {}}),
        ["driver-config-values: 'configs' {'throttlingConfig': {}}", "must be a list"],
    ),
    ("config values: a list", lambda j: j.update({"to-config-values": []}), ["to-config-values", "[]", "object"]),
    (
        "an input without a name",
        lambda j: j["from-config-values"]["configs"][0]["inputs"].append({"value": "x"}),
        ["from-config-values.fromJobConfig", "{'value': 'x'}", "string 'name'"],
    ),
    (
        "a config without a name",
        lambda j: j["driver-config-values"]["configs"].append({"inputs": []}),
        ["driver-config-values", "{'inputs': []}", "string 'name'"],
    ),
    (
        "a connector that is not a string",
        lambda j: j.update({"from-connector-name": 42}),
        ["from-connector-name 42", "non-empty string"],
    ),
    ("an empty connector", lambda j: j.update({"to-connector-name": ""}), ["to-connector-name ''", "non-empty"]),
    ("no name", lambda j: j.pop("name"), ["missing required field 'name'", "addresses a job by its name"]),
]


@pytest.mark.parametrize(("case", "change", "expected"), STILL_REFUSED, ids=[case for case, _, _ in STILL_REFUSED])
def test_shapes_that_cannot_be_right_are_still_refused_naming_the_value(
    case: str, change: Callable[[dict[str, Any]], object], expected: list[str]
) -> None:
    with pytest.raises(CdmJobDefinitionError) as caught:
        load_job_definition(_raw(change))
    message = str(caught.value)
    for part in expected:
        assert part in message, f"{case}: {part!r} not in {message!r}"
