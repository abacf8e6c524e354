"""The bad-input catalogue: malformed input at every door (hook methods, the job builder and loader,
operator ``__init__``, operator ``execute`` after templating, the sensor, the trigger, the connection),
each refused with an error that names the value and what is expected, before any HTTP request.

Every row runs end to end through the public API against a real emulator (on a thread of this
process). The proof that nothing was sent: no ``requests``/``httpx`` send was attempted, the emulator
counted no request and holds no job. No message (str, repr, chained causes) shows a credential.

Non-ASCII job names are valid in CDM: they are accepted and percent-escaped (tests at the end), while
control characters are refused (rows ``*control*``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from airflow.providers.common.compat.sdk import DAG, AirflowNotFoundException

from airflow_provider_cdm.client.auth import TOKEN_CACHE
from airflow_provider_cdm.client.exceptions import CdmConfigError
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters
from airflow_provider_cdm.emulator.testing import EmulatorThread, emulator_in_thread
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.job_definition import CdmJobDefinition, CdmJobDefinitionError, load_job_definition
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmDeleteJobOperator,
    CdmStartJobOperator,
    CdmStopJobOperator,
)
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.errors import error_text
from tests.jobs import job_definition
from tests.unit.operators.helpers import RecordingTI, task_context

# Recognisable credentials: none of them may show up in any message.
AK = "BADINPUTAK0000000001"
SK = "sk-badinput-SECRET-5e1f0c"
PASSWORD = "pw-badinput-SECRET-77aa"
SECURITY_TOKEN = "sectoken-badinput-SECRET-3c9d"
STATIC_TOKEN = "token-badinput-SECRET-19bf"
SECRETS = (SK, PASSWORD, SECURITY_TOKEN, STATIC_TOKEN)
CLUSTER_1 = "c0000000-0000-4000-8000-000000000001"

# Where a bad value enters.
HOOK = "hook method"
BUILDER = "job builder / loader"
OP_INIT = "operator __init__"
OP_EXECUTE = "operator execute (after templating)"
SENSOR = "sensor"
TRIGGER = "trigger"
CONNECTION = "connection"


class World:
    """What a row acts on: the emulator behind ``cdm_default``, extra connections, files, templating."""

    def __init__(self, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        self.emulator = emulator
        self.monkeypatch = monkeypatch
        self.tmp_path = tmp_path
        self.ti = RecordingTI()
        self.hooks: list[CdmHook] = []

    def hook(self, conn_id: str = "cdm_default", **overrides: Any) -> CdmHook:
        hook = CdmHook(conn_id, **overrides)
        self.hooks.append(hook)
        return hook

    def connection(self, *, extra: dict[str, Any] | None = None, conn_id: str = "cdm_bad", **fields: Any) -> str:
        """Define ``conn_id``: the emulator's connection with ``fields`` and ``extra`` changed (None removes)."""
        base = json.loads(self.emulator.connection_json)
        base.update(fields)
        base["extra"] = {**base["extra"], **(extra or {})}
        base = {key: value for key, value in base.items() if value is not None}
        base["extra"] = {key: value for key, value in base["extra"].items() if value is not None}
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(base))
        return conn_id

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def rendered(self, make: Callable[[], Any], params: dict[str, Any]) -> Any:
        """An operator made in a DAG (templates searched in tmp_path), its fields rendered with ``params``."""
        with DAG(
            "bad_input",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            template_searchpath=[str(self.tmp_path)],
        ):
            operator = make()
        operator.render_template_fields({"params": params, "ds": "2026-11-22", "ds_nodash": "20261122"})
        return operator

    def execute(self, make: Callable[[], Any], params: dict[str, Any]) -> Any:
        return self.rendered(make, params).execute(task_context(self.ti))


@dataclass(frozen=True)
class Row:
    id: str
    entry: str
    value: str  # the bad input, as a reader of the table sees it
    call: Callable[[World], object]
    error: type[BaseException]
    message: str  # a regex (re.search) naming the value and what is expected


def hook_call(method: str, *args: Any, **kwargs: Any) -> Callable[[World], object]:
    return lambda w: getattr(w.hook(), method)(*args, **kwargs)


def with_connection(*, extra: dict[str, Any] | None = None, **fields: Any) -> Callable[[World], object]:
    """A hook call (list clusters) through a connection with these changes."""
    return lambda w: w.hook(w.connection(extra=extra, **fields)).list_clusters()


def make(cls: type, **kwargs: Any) -> Callable[[World], object]:
    return lambda w: cls(task_id="bad", **kwargs)


def execute(cls: type, params: dict[str, Any], **kwargs: Any) -> Callable[[World], object]:
    return lambda w: w.execute(lambda: cls(task_id="bad", **kwargs), params)


def with_file(name: str, content: str | bytes, then: Callable[[World, Path], object]) -> Callable[[World], object]:
    return lambda w: then(w, w.file(name, content))


def definition(**changes: Any) -> CdmJobDefinition:
    values: dict[str, Any] = {
        "name": "orders",
        "from_connector": "generic-jdbc-connector",
        "from_link": "pg_link",
        "to_connector": "obs-connector",
        "to_link": "obs_link",
        "from_config": {"tableName": "orders"},
        "to_config": {"bucketName": "warehouse"},
    }
    values.update(changes)
    return CdmJobDefinition(**values)


def job(**changes: Any) -> dict[str, Any]:
    raw = job_definition("orders")
    raw.update(changes)
    return raw


def job_with_value(value: object) -> dict[str, Any]:
    raw = job_definition("orders")
    raw["from-config-values"]["configs"][0]["inputs"][1]["value"] = value
    return raw


def trigger(**changes: Any) -> Callable[[World], object]:
    run = {"job_name": "orders", "cluster_id": CLUSTER_1, "submission_id": 1, "not_before_ms": None}
    values: dict[str, Any] = {"run": run, "end_time": 2_000_000_000.0, "poll_interval": 5.0}
    values.update(changes)
    return lambda w: CdmJobStatusTrigger(**values)


def templated_job_file(w: World, text: str, params: dict[str, Any]) -> object:
    w.file("orders.json", text)
    return w.execute(lambda: CdmCreateJobOperator(task_id="bad", job="orders.json"), params)


JOB_TYPES = r"\['BATCH_JOB', 'NORMAL_JOB', 'SCENARIO_JOB'\]"
NAME = r".*; expected a non-empty name without '/', '\\', control characters"  # what a job name must be
SEGMENT = r".*; expected a non-empty (name|id) without '/', '\\' or control characters"  # a cluster or project id
VALUE = r"; expected a str, bool, int, finite float or Decimal"
STATUSES = r"; expected any of \['NEW', 'PENDING', 'BOOTING', 'RUNNING', 'SUCCEEDED'"
CONNECTOR = r" must be a non-empty string naming a connector, e.g. one of \['dis-connector', 'dli-connector'"
URL_EXPECTED = r"expected an http\(s\) URL such as https://cdm\.cn-north-4\.myhuaweicloud\.com"
SECONDS = r"expected a positive number of seconds"
VERIFY_EXPECTED = r"expected true, false or the path of a CA bundle"

ROWS: list[Row] = [
    # --- job names: empty, overlong, path-breaking, control characters, wrong type --------------------
    Row(
        "name-empty",
        HOOK,
        "''",
        hook_call("start_job", ""),
        CdmConfigError,
        r"^job_name: job_name must not be empty; expected a non-empty name",
    ),
    Row(
        "name-overlong",
        HOOK,
        "'x' * 241",
        hook_call("get_job_status", "x" * 241),
        CdmConfigError,
        r"^job_name: is 241 characters long; expected at most 240",
    ),
    Row(
        "name-slash",
        HOOK,
        "'daily/orders'",
        hook_call("delete_job", "daily/orders"),
        CdmConfigError,
        r"job_name 'daily/orders' must not contain '/'.*; expected a non-empty name",
    ),
    Row(
        "name-backslash",
        HOOK,
        "'daily\\orders'",
        hook_call("get_job", "daily\\orders"),
        CdmConfigError,
        r"job_name 'daily\\\\orders' must not contain '/' or '\\'" + NAME,
    ),
    Row(
        "name-dotdot",
        HOOK,
        "'..'",
        hook_call("stop_job", ".."),
        CdmConfigError,
        r"job_name '\.\.' is not a usable path segment; expected a non-empty name",
    ),
    Row(
        "name-dot",
        HOOK,
        "'.'",
        hook_call("list_submissions", "."),
        CdmConfigError,
        r"job_name '\.' is not a usable path segment" + NAME,
    ),
    Row(
        "name-control-nul",
        HOOK,
        "'ord\\x00ers'",
        hook_call("start_job", "ord\x00ers"),
        CdmConfigError,
        r"^job_name: job_name 'ord\\x00ers' must not contain control characters; expected a non-empty name",
    ),
    Row(
        "name-control-newline",
        HOOK,
        "'daily\\norders'",
        hook_call("list_submissions", "daily\norders"),
        CdmConfigError,
        r"job_name 'daily\\norders' must not contain control characters" + NAME,
    ),
    Row(
        "name-control-del",
        HOOK,
        "'orders\\x7f'",
        hook_call("get_job_status", "orders\x7f"),
        CdmConfigError,
        r"job_name 'orders\\x7f' must not contain control characters" + NAME,
    ),
    Row(
        "name-not-a-string",
        HOOK,
        "42",
        hook_call("start_job", 42),
        CdmConfigError,
        r"^job_name: got a int \(42\); expected a string",
    ),
    Row(
        "job.name-control",
        HOOK,
        "job name 'a\\tb'",
        hook_call("create_job", job(name="a\tb")),
        CdmConfigError,
        r"^job\.name: job\.name 'a\\tb' must not contain control characters" + NAME,
    ),
    Row(
        "cluster-slash",
        HOOK,
        "cluster_id 'a/b'",
        hook_call("start_job", "orders", "a/b"),
        CdmConfigError,
        r"^cluster_id: cluster_id 'a/b' must not contain '/'" + SEGMENT,
    ),
    Row(
        "cluster-dotdot",
        HOOK,
        "cluster_id '..'",
        hook_call("get_cluster", ".."),
        CdmConfigError,
        r"^cluster_id: cluster_id '\.\.' is not a usable path segment" + SEGMENT,
    ),
    Row(
        "cluster-control",
        HOOK,
        "cluster_id 'c1\\n'",
        hook_call("get_job_status", "orders", "c1\n"),
        CdmConfigError,
        r"^cluster_id: cluster_id 'c1\\n' must not contain control characters" + SEGMENT,
    ),
    # --- variables of the wrong type -----------------------------------------------------------------
    Row(
        "variables-list-value",
        HOOK,
        "{'date': ['2026']}",
        hook_call("start_job", "orders", variables={"date": ["2026"]}),
        CdmConfigError,
        r"^variables\['date'\]: list has no CDM string form.*; expected a string, number or boolean",
    ),
    Row(
        "variables-none-value",
        HOOK,
        "{'date': None}",
        hook_call("start_job", "orders", variables={"date": None}),
        CdmConfigError,
        r"^variables\['date'\]: NoneType has no CDM string form" + VALUE,
    ),
    Row(
        "variables-nan-value",
        HOOK,
        "{'ratio': nan}",
        hook_call("start_job", "orders", variables={"ratio": math.nan}),
        CdmConfigError,
        r"^variables\['ratio'\]: float has no CDM string form; expected .*finite float",
    ),
    Row(
        "variables-dict-value",
        HOOK,
        "{'cfg': {'a': 1}}",
        hook_call("start_job", "orders", variables={"cfg": {"a": 1}}),
        CdmConfigError,
        r"^variables\['cfg'\]: dict has no CDM string form" + VALUE,
    ),
    Row(
        "variables-not-a-mapping",
        HOOK,
        "'date=2026'",
        hook_call("start_job", "orders", variables="date=2026"),
        CdmConfigError,
        r"^variables: got a str; expected a mapping of names to values",
    ),
    Row(
        "variables-int-key",
        HOOK,
        "{1: 'x'}",
        hook_call("start_job", "orders", variables={1: "x"}),
        CdmConfigError,
        r"^variables: key 1 is not a non-empty string; expected string keys",
    ),
    # --- job definitions through the hook: malformed, unknown connector or job type -------------------
    Row(
        "job-missing-fields",
        HOOK,
        "{'name': 'orders'}",
        hook_call("create_job", {"name": "orders"}),
        CdmConfigError,
        r"(?s)^job: invalid CDM job definition 'orders' \(5 problems\):.*"
        r"missing required field 'from-connector-name'.*missing required field 'to-link-name'",
    ),
    Row(
        "job-connector-not-a-string",
        HOOK,
        "from-connector-name 42",
        hook_call("create_job", job(**{"from-connector-name": 42})),
        CdmConfigError,
        r"from-connector-name 42" + CONNECTOR,
    ),
    Row(
        "job-unknown-type",
        HOOK,
        "job_type 'FAST_JOB'",
        hook_call("update_job", job(job_type="FAST_JOB")),
        CdmConfigError,
        rf"job_type 'FAST_JOB' is not one of {JOB_TYPES}",
    ),
    Row(
        "job-none-value",
        HOOK,
        "config value None",
        hook_call("create_and_start_job", job_with_value(None)),
        CdmConfigError,
        r"'fromJobConfig\.tableName' has value None of type NoneType; expected a str",
    ),
    Row(
        "job-not-a-mapping",
        HOOK,
        "['orders']",
        hook_call("create_job", ["orders"]),
        CdmConfigError,
        r"^job: got a list; expected a job definition \(a mapping\)",
    ),
    Row(
        "job-body-two-jobs",
        HOOK,
        "{'jobs': [a, b]}",
        hook_call("create_job", {"jobs": [job_definition("a"), job_definition("b")]}),
        CdmConfigError,
        r"^job: the 'jobs' list must hold exactly one job; expected one job per call",
    ),
    Row(
        "clusters-empty",
        HOOK,
        "clusters=[]",
        hook_call("create_and_start_job", job_definition("orders"), []),
        CdmConfigError,
        r"^clusters: got \[\]; expected a non-empty list of cluster ids",
    ),
    Row(
        "clusters-string",
        HOOK,
        "clusters='c1'",
        hook_call("create_and_start_job", job_definition("orders"), "c1"),
        CdmConfigError,
        r"^clusters: got 'c1'; expected a non-empty list of cluster ids",
    ),
    Row(
        "page-size",
        HOOK,
        "page_size=5",
        hook_call("list_jobs", page_size=5),
        CdmConfigError,
        r"^page_size: got 5; expected an integer from 10 to 100",
    ),
    Row(
        "list-job-type",
        HOOK,
        "job_type='NIGHTLY'",
        hook_call("list_jobs", job_type="NIGHTLY"),
        CdmConfigError,
        r"^job_type: got 'NIGHTLY'; expected one of NORMAL_JOB, BATCH_JOB, SCENARIO_JOB",
    ),
    # --- the builder and the loader: connectors, job types, names, JSON text and files ------------------
    Row(
        "builder-empty-connector",
        BUILDER,
        "from_connector=''",
        lambda w: definition(from_connector=""),
        CdmJobDefinitionError,
        r"from-connector-name ''" + CONNECTOR,
    ),
    Row(
        "builder-unknown-job-type",
        BUILDER,
        "job_type='NIGHTLY'",
        lambda w: definition(job_type="NIGHTLY"),
        CdmJobDefinitionError,
        rf"job_type 'NIGHTLY' is not one of {JOB_TYPES}",
    ),
    Row(
        "builder-name-slash",
        BUILDER,
        "name='daily/orders'",
        lambda w: definition(name="daily/orders"),
        CdmJobDefinitionError,
        r"name 'daily/orders' must not contain '/'",
    ),
    Row(
        "builder-name-control",
        BUILDER,
        "name='ord\\x1bers'",
        lambda w: definition(name="ord\x1bers"),
        CdmJobDefinitionError,
        r"name 'ord\\x1bers' must not contain control characters",
    ),
    Row(
        "builder-name-overlong",
        BUILDER,
        "name='x' * 241",
        lambda w: definition(name="x" * 241),
        CdmJobDefinitionError,
        r"name 'x{241}' must be a string of 1 to 240 characters",
    ),
    Row(
        "builder-unknown-driver-group",
        BUILDER,
        "driver_config={'speedConfig': ...}",
        lambda w: definition(driver_config={"speedConfig": {"x": 1}}),
        CdmJobDefinitionError,
        r"'speedConfig' is not a driver config group; expected one of \['groupJobConfig'",
    ),
    Row(
        "builder-bytes-value",
        BUILDER,
        "from_config={'tableName': b'orders'}",
        lambda w: definition(from_config={"tableName": b"orders"}),
        CdmJobDefinitionError,
        r"'fromJobConfig\.tableName' has value b'orders' of type bytes; expected a str",
    ),
    Row(
        "loader-json-text",
        BUILDER,
        '\'{"name": "orders",\'',
        lambda w: load_job_definition('{"name": "orders",'),
        CdmJobDefinitionError,
        r"invalid JSON at line 1, column 19: Expecting property name",
    ),
    Row(
        "loader-json-file",
        BUILDER,
        "bad.json holding '{oops}'",
        with_file("bad.json", "{oops}", lambda w, path: load_job_definition(path)),
        CdmJobDefinitionError,
        r"'[^']*bad\.json': invalid JSON at line 1, column 2",
    ),
    Row(
        "loader-not-json-file",
        BUILDER,
        "Path('job.yaml')",
        with_file("job.yaml", "name: orders", lambda w, path: load_job_definition(path)),
        CdmJobDefinitionError,
        r"job definition file '[^']*job\.yaml' must be a \.json file",
    ),
    Row(
        "loader-missing-file",
        BUILDER,
        "Path('missing.json')",
        lambda w: load_job_definition(w.tmp_path / "missing.json"),
        CdmJobDefinitionError,
        r"cannot read job definition file '[^']*missing\.json': .*No such file",
    ),
    Row(
        "loader-non-utf8-file",
        BUILDER,
        "latin-1 bytes in a .json file",
        with_file("latin.json", b'{"name": "caf\xe9"}', lambda w, path: load_job_definition(path)),
        CdmJobDefinitionError,
        r"cannot read job definition file '[^']*latin\.json': 'utf-8' codec can't decode",
    ),
    Row(
        "loader-two-jobs",
        BUILDER,
        "{'jobs': [a, b]}",
        lambda w: load_job_definition({"jobs": [job_definition("a"), job_definition("b")]}),
        CdmJobDefinitionError,
        r"the body holds 2 jobs; exactly one is expected",
    ),
    # --- operator __init__ (DAG parse): choices, intervals, timeouts, statuses, definitions -----------
    Row(
        "if-exists",
        OP_INIT,
        "if_exists='overwrite'",
        make(CdmCreateJobOperator, job=job_definition("o"), if_exists="overwrite"),
        ValueError,
        r"^if_exists='overwrite' is not valid; expected one of 'fail', 'skip', 'update', 'replace'",
    ),
    Row(
        "if-running",
        OP_INIT,
        "if_running='ignore'",
        make(CdmStartJobOperator, job_name="o", if_running="ignore"),
        ValueError,
        r"^if_running='ignore' is not valid; expected one of 'wait', 'fail', 'restart'",
    ),
    Row(
        "poll-interval-zero",
        OP_INIT,
        "poll_interval=0",
        make(CdmStartJobOperator, job_name="o", poll_interval=0),
        ValueError,
        rf"^poll_interval=0 is not valid; {SECONDS}",
    ),
    Row(
        "poll-interval-negative",
        OP_INIT,
        "poll_interval=-5",
        make(CdmCreateAndStartJobOperator, job=job_definition("o"), poll_interval=-5),
        ValueError,
        rf"^poll_interval=-5 is not valid; {SECONDS}",
    ),
    Row(
        "poll-interval-nan",
        OP_INIT,
        "poll_interval=nan",
        make(CdmStartJobOperator, job_name="o", poll_interval=math.nan),
        ValueError,
        rf"^poll_interval=nan is not valid; {SECONDS}",
    ),
    Row(
        "timeout-zero",
        OP_INIT,
        "timeout=0",
        make(CdmStartJobOperator, job_name="o", timeout=0),
        ValueError,
        rf"^timeout=0 is not valid; {SECONDS} or None \(no limit\)",
    ),
    Row(
        "timeout-negative",
        OP_INIT,
        "timeout=-1.5",
        make(CdmStartJobOperator, job_name="o", timeout=-1.5),
        ValueError,
        rf"^timeout=-1\.5 is not valid; {SECONDS} or None \(no limit\)",
    ),
    Row(
        "stop-timeout-negative",
        OP_INIT,
        "stop_timeout=-3",
        make(CdmDeleteJobOperator, job_name="o", stop_timeout=-3),
        ValueError,
        rf"^stop_timeout=-3 is not valid; {SECONDS}",
    ),
    Row(
        "stop-timeout-zero",
        OP_INIT,
        "stop_timeout=0",
        make(CdmStopJobOperator, job_name="o", stop_timeout=0),
        ValueError,
        rf"^stop_timeout=0 is not valid; {SECONDS}",
    ),
    Row(
        "status-names",
        OP_INIT,
        "success_statuses=['DONE', 'FINISHED']",
        make(CdmStartJobOperator, job_name="o", success_statuses=["DONE", "FINISHED"]),
        ValueError,
        r"^success_statuses has unknown CDM status\(es\) 'DONE', 'FINISHED'; expected any of \['NEW'",
    ),
    Row(
        "failure-status-name",
        OP_INIT,
        "failure_statuses=['EXPLODED']",
        make(CdmCreateAndStartJobOperator, job=job_definition("o"), failure_statuses=["EXPLODED"]),
        ValueError,
        r"^failure_statuses has unknown CDM status\(es\) 'EXPLODED'; expected any of",
    ),
    Row(
        "hook-params-unknown-key",
        OP_INIT,
        "hook_params={'regoin': ...}",
        make(CdmStartJobOperator, job_name="o", hook_params={"regoin": "cn-north-4"}),
        TypeError,
        r"^hook_params has unknown key\(s\) \['regoin'\]; expected any of \[.*'region'",
    ),
    Row(
        "static-job-connector",
        OP_INIT,
        "job with to-connector-name ['nfs']",
        make(CdmCreateJobOperator, job=job(**{"to-connector-name": ["nfs"]})),
        CdmJobDefinitionError,
        r"to-connector-name \['nfs'\]" + CONNECTOR,
    ),
    Row(
        "static-job-missing-fields",
        OP_INIT,
        "job={'name': 'orders'}",
        make(CdmCreateAndStartJobOperator, job={"name": "orders"}),
        CdmJobDefinitionError,
        r"(?s)missing required field 'from-connector-name'",
    ),
    # --- operator execute, after the templates rendered -------------------------------------------------
    Row(
        "rendered-name-slash",
        OP_EXECUTE,
        "job_name -> 'daily/orders'",
        execute(CdmStartJobOperator, {"job": "daily/orders"}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"^job_name: job_name 'daily/orders' must not contain '/'" + NAME,
    ),
    Row(
        "rendered-name-dotdot",
        OP_EXECUTE,
        "job_name -> '..'",
        execute(CdmStopJobOperator, {"job": ".."}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"job_name '\.\.' is not a usable path segment" + NAME,
    ),
    Row(
        "rendered-name-empty",
        OP_EXECUTE,
        "job_name -> ''",
        execute(CdmDeleteJobOperator, {"job": ""}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"^job_name: job_name must not be empty" + NAME,
    ),
    Row(
        "rendered-name-control",
        OP_EXECUTE,
        "job_name -> 'daily\\torders'",
        execute(CdmStartJobOperator, {"job": "daily\torders"}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"job_name 'daily\\torders' must not contain control characters" + NAME,
    ),
    Row(
        "rendered-name-overlong",
        OP_EXECUTE,
        "job_name -> 'x' * 300",
        execute(CdmStartJobOperator, {"job": "x" * 300}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"^job_name: is 300 characters long; expected at most 240",
    ),
    Row(
        "rendered-variables",
        OP_EXECUTE,
        "variables -> \"{'date': '2026'}\" (text)",
        execute(CdmStartJobOperator, {"vars": {"date": "2026"}}, job_name="o", variables="{{ params.vars }}"),
        CdmConfigError,
        r"^variables: got a str; expected a mapping of names to values",
    ),
    Row(
        "rendered-cluster",
        OP_EXECUTE,
        "cluster_id -> '../c1'",
        execute(CdmStartJobOperator, {"c": "../c1"}, job_name="o", cluster_id="{{ params.c }}"),
        CdmConfigError,
        r"^cluster_id: cluster_id '\.\./c1' must not contain '/'" + SEGMENT,
    ),
    Row(
        "rendered-clusters",
        OP_EXECUTE,
        "clusters -> 'c1' (text)",
        execute(CdmCreateAndStartJobOperator, {"c": "c1"}, job=job_definition("o"), clusters="{{ params.c }}"),
        CdmConfigError,
        r"^clusters: got 'c1'; expected a non-empty list of cluster ids, or None",
    ),
    Row(
        "rendered-job-json",
        OP_EXECUTE,
        'job -> \'{"name": "orders",\'',
        execute(CdmCreateJobOperator, {"job": '{"name": "orders",'}, job="{{ params.job }}"),
        CdmConfigError,
        r"^job: invalid CDM job definition: invalid JSON at line 1, column 19",
    ),
    Row(
        "rendered-job-file",
        OP_EXECUTE,
        "orders.json rendering to broken JSON",
        lambda w: templated_job_file(
            w, '{\n  "name": "{{ params.name }}"\n  "job_type": "NORMAL_JOB"\n}', {"name": "orders"}
        ),
        CdmConfigError,
        r"^job: invalid CDM job definition: invalid JSON at line 3, column 3: Expecting ','",
    ),
    Row(
        "rendered-job-file-connector",
        OP_EXECUTE,
        "orders.json with from-connector-name -> ''",
        lambda w: templated_job_file(
            w, json.dumps(job(**{"from-connector-name": "{{ params.connector }}"})), {"connector": ""}
        ),
        CdmConfigError,
        r"from-connector-name ''" + CONNECTOR,
    ),
    Row(
        "rendered-job-reserved-name",
        OP_EXECUTE,
        "job name -> 'all'",
        execute(CdmCreateJobOperator, {"name": "all"}, job=job(name="{{ params.name }}")),
        CdmConfigError,
        r"name 'all' is reserved",
    ),
    Row(
        "operator-bad-connection",
        OP_EXECUTE,
        "connection timeout -1",
        lambda w: w.execute(
            lambda: CdmStartJobOperator(task_id="bad", job_name="o", cdm_conn_id=w.connection(extra={"timeout": -1})),
            {},
        ),
        CdmConfigError,
        rf"^timeout: got -1; {SECONDS}",
    ),
    # --- the sensor -------------------------------------------------------------------------------------
    Row(
        "sensor-name-slash",
        SENSOR,
        "job_name -> 'a/b'",
        execute(CdmJobStatusSensor, {"job": "a/b"}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"^job_name: job_name 'a/b' must not contain '/'" + NAME,
    ),
    Row(
        "sensor-name-control",
        SENSOR,
        "job_name -> 'orders\\r'",
        execute(CdmJobStatusSensor, {"job": "orders\r"}, job_name="{{ params.job }}"),
        CdmConfigError,
        r"job_name 'orders\\r' must not contain control characters" + NAME,
    ),
    Row(
        "sensor-submission-id",
        SENSOR,
        "submission_id -> 'latest'",
        execute(CdmJobStatusSensor, {"run": "latest"}, job_name="o", submission_id="{{ params.run }}"),
        CdmConfigError,
        r"^submission_id: got 'latest'; expected a CDM submission id \(an integer\) or None",
    ),
    Row(
        "sensor-status-name",
        SENSOR,
        "failure_statuses=['BROKEN']",
        make(CdmJobStatusSensor, job_name="o", failure_statuses=["BROKEN"]),
        ValueError,
        r"^failure_statuses has unknown CDM status\(es\) 'BROKEN'" + STATUSES,
    ),
    Row(
        "sensor-hook-params",
        SENSOR,
        "hook_params='cn-north-4'",
        make(CdmJobStatusSensor, job_name="o", hook_params="cn-north-4"),
        TypeError,
        r"^hook_params='cn-north-4' is not valid; expected a dict of CdmHook keyword arguments or None",
    ),
    Row(
        "sensor-no-cluster",
        SENSOR,
        "connection without cluster_id",
        lambda w: w.execute(
            lambda: CdmJobStatusSensor(
                task_id="bad", job_name="o", cdm_conn_id=w.connection(extra={"cluster_id": None})
            ),
            {},
        ),
        CdmConfigError,
        r"^cluster_id: not given, and connection 'cdm_bad' has no cluster_id extra; expected",
    ),
    # --- the trigger (built when a task defers) ----------------------------------------------------------
    Row(
        "trigger-poll-interval",
        TRIGGER,
        "poll_interval=0",
        trigger(poll_interval=0),
        CdmConfigError,
        r"^poll_interval: got 0; expected a number of seconds > 0",
    ),
    Row(
        "trigger-run-name",
        TRIGGER,
        "run.job_name 'a/b'",
        trigger(run={"job_name": "a/b", "cluster_id": CLUSTER_1}),
        CdmConfigError,
        r"^job_name: job_name 'a/b' must not contain '/'" + NAME,
    ),
    Row(
        "trigger-hook-params-secret",
        TRIGGER,
        "hook_params={'password': ...}",
        trigger(hook_params={"password": SK}),
        CdmConfigError,
        r"^hook_params: unknown keys \['password'\]; expected any of \['auth_type'",
    ),
    Row(
        "trigger-rules",
        TRIGGER,
        "rules={'success': ['DONE']}",
        trigger(rules={"success": ["DONE"]}),
        CdmConfigError,
        r"^rules: success_statuses has unknown CDM status\(es\) 'DONE'" + STATUSES,
    ),
    # --- the connection: project, region, credentials, auth type, URLs, timeouts, verify, proxies, retry --
    Row(
        "conn-unknown-id",
        CONNECTION,
        "cdm_conn_id='cdm_nope'",
        lambda w: w.hook("cdm_nope").list_clusters(),
        AirflowNotFoundException,
        r"cdm_nope",
    ),
    Row(
        "conn-no-project",
        CONNECTION,
        "project_id missing",
        with_connection(extra={"project_id": None}),
        CdmConfigError,
        r"^project_id: missing; expected the Huawei Cloud project id of the region",
    ),
    Row(
        "conn-project-dotdot",
        CONNECTION,
        "project_id '..'",
        with_connection(extra={"project_id": ".."}),
        CdmConfigError,
        r"^project_id: project_id '\.\.' is not a usable path segment" + SEGMENT,
    ),
    Row(
        "conn-no-region-no-host",
        CONNECTION,
        "no region, no host",
        with_connection(host=None, extra={"region": None}),
        CdmConfigError,
        r"^region: missing and the connection has no host; expected a region such as 'cn-north-4'",
    ),
    Row(
        "conn-region",
        CONNECTION,
        "region 'CN North 4'",
        with_connection(extra={"region": "CN North 4"}),
        CdmConfigError,
        r"^region: got 'CN North 4'; expected a region id such as 'cn-north-4'",
    ),
    Row(
        "conn-no-ak",
        CONNECTION,
        "login (AK) missing",
        with_connection(login=None),
        CdmConfigError,
        r"^login: missing; expected the access key \(AK\) for auth_type 'aksk'",
    ),
    Row(
        "conn-no-sk",
        CONNECTION,
        "password (SK) empty",
        with_connection(password=""),
        CdmConfigError,
        r"^password: missing; expected the secret key \(SK\) for auth_type 'aksk'",
    ),
    Row(
        "conn-password-no-domain",
        CONNECTION,
        "auth_type password without domain",
        with_connection(login="etl_user", password=PASSWORD, extra={"auth_type": "password", "domain": None}),
        CdmConfigError,
        r"^domain: missing; expected the IAM account \(domain\) name for auth_type 'password'",
    ),
    Row(
        "conn-token-missing",
        CONNECTION,
        "auth_type token without token",
        with_connection(extra={"auth_type": "token"}),
        CdmConfigError,
        r"^token: missing; expected an IAM token for auth_type 'token'",
    ),
    Row(
        "conn-token-with-aksk",
        CONNECTION,
        "token set with auth_type aksk",
        with_connection(extra={"token": STATIC_TOKEN}),
        CdmConfigError,
        r"^token: is set but auth_type is 'aksk'; expected auth_type 'token', or no token",
    ),
    Row(
        "conn-security-token-with-password",
        CONNECTION,
        "security_token with auth_type password",
        with_connection(extra={"auth_type": "password", "domain": "d", "security_token": SECURITY_TOKEN}),
        CdmConfigError,
        r"^security_token: is set but auth_type is 'password'; expected auth_type 'aksk'",
    ),
    Row(
        "conn-auth-type",
        CONNECTION,
        "auth_type 'oauth'",
        with_connection(extra={"auth_type": "oauth"}),
        CdmConfigError,
        r"^auth_type: got 'oauth'; expected one of aksk, password, token",
    ),
    Row(
        "conn-auth-type-int",
        CONNECTION,
        "auth_type 5",
        with_connection(extra={"auth_type": 5}),
        CdmConfigError,
        r"^auth_type: got a int \(5\); expected a string",
    ),
    Row(
        "conn-host-scheme",
        CONNECTION,
        "host 'ftp://cdm.example.org'",
        with_connection(host="ftp://cdm.example.org"),
        CdmConfigError,
        rf"^host: got 'ftp://cdm\.example\.org'; {URL_EXPECTED}",
    ),
    Row(
        "conn-host-no-scheme",
        CONNECTION,
        "host 'cdm.example.org'",
        with_connection(host="cdm.example.org"),
        CdmConfigError,
        rf"^host: got 'cdm\.example\.org'; {URL_EXPECTED}",
    ),
    Row(
        "conn-host-credentials",
        CONNECTION,
        "host 'https://AK:SK@cdm.example.org'",
        with_connection(host=f"https://{AK}:{SK}@cdm.example.org"),
        CdmConfigError,
        rf"^host: the URL holds credentials; {URL_EXPECTED} without user or password",
    ),
    Row(
        "conn-host-port",
        CONNECTION,
        "host 'https://cdm.example.org:99999'",
        with_connection(host="https://cdm.example.org:99999"),
        CdmConfigError,
        r"^host: 'https://cdm\.example\.org:99999' has an invalid port; expected an http\(s\) URL",
    ),
    Row(
        "conn-port-contradiction",
        CONNECTION,
        "port 9443 with host ':8443'",
        with_connection(host="https://cdm.example.org:8443", port=9443),
        CdmConfigError,
        r"^port: 9443 contradicts the host URL's port 8443; expected one port, in the host URL",
    ),
    Row(
        "hook-endpoint",
        CONNECTION,
        "endpoint='not a url'",
        lambda w: w.hook(endpoint="not a url").list_clusters(),
        CdmConfigError,
        rf"^endpoint: got 'not a url'; {URL_EXPECTED}",
    ),
    Row(
        "conn-iam-endpoint",
        CONNECTION,
        "iam_endpoint 'iam.example.org'",
        with_connection(
            login="u",
            password=PASSWORD,
            extra={"auth_type": "password", "domain": "d", "iam_endpoint": "iam.example.org"},
        ),
        CdmConfigError,
        r"^iam_endpoint: got 'iam\.example\.org'; expected an http\(s\) URL",
    ),
    Row(
        "conn-timeout-zero",
        CONNECTION,
        "timeout 0",
        with_connection(extra={"timeout": 0}),
        CdmConfigError,
        rf"^timeout: got 0; {SECONDS}",
    ),
    Row(
        "conn-timeout-negative",
        CONNECTION,
        "timeout '-5'",
        with_connection(extra={"timeout": "-5"}),
        CdmConfigError,
        rf"^timeout: got '-5'; {SECONDS}",
    ),
    Row(
        "conn-timeout-text",
        CONNECTION,
        "timeout 'soon'",
        with_connection(extra={"timeout": "soon"}),
        CdmConfigError,
        r"^timeout: got 'soon'; expected a finite number",
    ),
    Row(
        "conn-timeout-nan",
        CONNECTION,
        "timeout 'nan'",
        with_connection(extra={"timeout": "nan"}),
        CdmConfigError,
        r"^timeout: got 'nan'; expected a finite number",
    ),
    Row(
        "conn-timeout-inf",
        CONNECTION,
        "timeout [5, 'inf']",
        with_connection(extra={"timeout": [5, "inf"]}),
        CdmConfigError,
        r"^timeout: got 'inf'; expected a finite number",
    ),
    Row(
        "conn-timeout-triple",
        CONNECTION,
        "timeout [1, 2, 3]",
        with_connection(extra={"timeout": [1, 2, 3]}),
        CdmConfigError,
        r"^timeout: got \[1, 2, 3\]; expected seconds, or \[connect seconds, read seconds\]",
    ),
    Row(
        "hook-timeout",
        CONNECTION,
        "timeout=(5, 0)",
        lambda w: w.hook(timeout=(5, 0)).list_clusters(),
        CdmConfigError,
        rf"^timeout: got \(5, 0\); {SECONDS}",
    ),
    Row(
        "conn-verify-int",
        CONNECTION,
        "verify 3",
        with_connection(extra={"verify": 3}),
        CdmConfigError,
        rf"^verify: got a int \(3\); {VERIFY_EXPECTED}",
    ),
    Row(
        "conn-verify-missing-bundle",
        CONNECTION,
        "verify '/nonexistent/ca.pem'",
        with_connection(extra={"verify": "/nonexistent/ca.pem"}),
        CdmConfigError,
        rf"^verify: CA bundle '/nonexistent/ca\.pem' does not exist; {VERIFY_EXPECTED}",
    ),
    Row(
        "conn-verify-word",
        CONNECTION,
        "verify 'maybe'",
        with_connection(extra={"verify": "maybe"}),
        CdmConfigError,
        rf"^verify: CA bundle 'maybe' does not exist; {VERIFY_EXPECTED}",
    ),
    Row(
        "conn-proxies-text",
        CONNECTION,
        "proxies 'http://proxy:3128'",
        with_connection(extra={"proxies": "http://proxy:3128"}),
        CdmConfigError,
        r"^proxies: got a str; expected a JSON object like \{\"https\": \"http://proxy:3128\"\}",
    ),
    Row(
        "conn-proxies-port-number",
        CONNECTION,
        "proxies {'https': 3128}",
        with_connection(extra={"proxies": {"https": 3128}}),
        CdmConfigError,
        r"^proxies: not a mapping of strings; expected a JSON object like",
    ),
    Row(
        "conn-proxies-no-url",
        CONNECTION,
        "proxies {'https': 'not a url'} (with credentials elsewhere)",
        with_connection(extra={"proxies": {"https": f"proxy host {SK}"}}),
        CdmConfigError,
        r"^proxies: the value of 'https' is not a proxy URL; expected a URL such as http://proxy:3128",
    ),
    Row(
        "conn-proxies-scheme",
        CONNECTION,
        "proxies {'https': 'ftp://proxy:21'}",
        with_connection(extra={"proxies": {"https": f"ftp://user:{SK}@proxy:21"}}),
        CdmConfigError,
        r"^proxies: the value of 'https' has scheme 'ftp'; expected a URL such as http://proxy:3128",
    ),
    Row(
        "conn-proxies-key",
        CONNECTION,
        "proxies {'htps': ...}",
        with_connection(extra={"proxies": {"htps": "http://proxy:3128"}}),
        CdmConfigError,
        r"^proxies: key 'htps' is not a scheme; expected 'http', 'https', 'all' or 'scheme://host'",
    ),
    Row(
        "conn-retry-text",
        CONNECTION,
        "retry 'fast'",
        with_connection(extra={"retry": "fast"}),
        CdmConfigError,
        r"^retry: got a str; expected a JSON object of retry settings",
    ),
    Row(
        "conn-retry-zero-attempts",
        CONNECTION,
        "retry {'max_attempts': 0}",
        with_connection(extra={"retry": {"max_attempts": 0}}),
        CdmConfigError,
        r"^retry\.max_attempts: got 0; expected an integer >= 1",
    ),
    Row(
        "conn-retry-unknown",
        CONNECTION,
        "retry {'bogus': 1}",
        with_connection(extra={"retry": {"bogus": 1}}),
        CdmConfigError,
        r"^retry\.bogus: is not a retry setting; expected one of max_retries, max_attempts",
    ),
    Row(
        "conn-max-retries",
        CONNECTION,
        "max_retries -1",
        with_connection(extra={"max_retries": -1}),
        CdmConfigError,
        r"^max_retries: got -1; expected a whole number >= 0",
    ),
    Row(
        "conn-retry-backoff-inf",
        CONNECTION,
        "retry {'max_backoff_s': 'inf'}",
        with_connection(extra={"retry": {"max_backoff_s": "inf"}}),
        CdmConfigError,
        r"^retry\.max_backoff_s: got 'inf'; expected a finite number",
    ),
    Row(
        "hook-retry-jitter",
        CONNECTION,
        "retry_policy={'jitter': 'maybe'}",
        lambda w: w.hook(retry_policy={"jitter": "maybe"}).list_clusters(),
        CdmConfigError,
        r"^retry_policy\.jitter: got 'maybe'; expected true or false",
    ),
    Row(
        "conn-cluster-slash",
        CONNECTION,
        "cluster_id extra 'a/b'",
        with_connection(extra={"cluster_id": "a/b"}),
        CdmConfigError,
        r"^cluster_id: cluster_id 'a/b' must not contain '/'" + SEGMENT,
    ),
]


def secrets_in(err: BaseException) -> list[str]:
    """The credentials found in an error's text: str, repr and traceback of it and of every chained cause."""
    text = error_text(err)
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorThread]:
    with emulator_in_thread("--ak", AK, "--sk", SK, "--password", PASSWORD) as running:
        yield running


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request the provider's transports try to send (sent on, so the emulator counts it)."""
    import httpx

    attempts: list[str] = []
    send, asend = requests.Session.send, httpx.AsyncClient.send

    def record(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        attempts.append(f"{request.method} {request.url}")
        return send(session, request, **kwargs)

    async def arecord(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> Any:
        attempts.append(f"{request.method} {request.url}")
        return await asend(client, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", record)
    monkeypatch.setattr(httpx.AsyncClient, "send", arecord)
    return attempts


@pytest.fixture
def world(emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    emulator.reset()
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", emulator.connection_json)
    TOKEN_CACHE.clear()
    reset_shared_limiters()
    made = World(emulator, monkeypatch, tmp_path)
    yield made
    for hook in made.hooks:
        hook.close()


def no_jobs(emulator: EmulatorThread) -> bool:
    return all(cluster["jobs"] == [] for cluster in emulator.state()["clusters"])


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_is_refused_before_any_request(row: Row, world: World, sends: list[str]) -> None:
    with pytest.raises(row.error, match=row.message) as caught:
        row.call(world)

    assert sends == [], f"{row.id}: a request was sent before the input was refused"
    assert world.emulator.stats()["requests"] == {}
    assert no_jobs(world.emulator)
    assert world.ti.xcom == {}  # an operator that refuses its input pushes nothing either
    assert secrets_in(caught.value) == []


def test_the_catalogue_covers_every_entry_point() -> None:
    assert len(ROWS) >= 40
    assert len({row.id for row in ROWS}) == len(ROWS)
    assert {row.entry for row in ROWS} == {HOOK, BUILDER, OP_INIT, OP_EXECUTE, SENSOR, TRIGGER, CONNECTION}
    for row in ROWS:
        assert row.value and row.message and issubclass(row.error, BaseException)


# --- non-ASCII job names: valid in CDM, so accepted and percent-escaped -----------------------------------

NON_ASCII = "订单 ✓ täglich"


def test_non_ascii_job_names_are_accepted_and_escaped_by_the_hook(world: World, sends: list[str]) -> None:
    hook = world.hook()
    assert hook.create_job(job_definition(NON_ASCII)).name == NON_ASCII
    run = hook.start_job(NON_ASCII, variables={"date": "2026-11-22"})
    assert run.job_name == NON_ASCII
    assert hook.get_job(NON_ASCII).name == NON_ASCII
    assert hook.get_job_status(NON_ASCII) is not None
    assert [item.job_name for item in hook.list_submissions(NON_ASCII)] == [NON_ASCII]

    escaped = quote(NON_ASCII, safe="")
    assert escaped == "%E8%AE%A2%E5%8D%95%20%E2%9C%93%20t%C3%A4glich"
    assert len(sends) == 5
    assert all(attempt.isascii() for attempt in sends), sends  # every URL went out percent-encoded
    assert all(escaped in attempt for attempt in sends[1:])  # the create names the job in its body only
    paths = [urlsplit(attempt.split(" ", 1)[1]).path for attempt in sends]
    assert paths[1].endswith(f"/cdm/job/{escaped}/start")
    # The emulator (like CDM) decoded it back: one job under exactly that name, started once.
    assert world.emulator.stats()["starts"] == {NON_ASCII: 1}
    assert [job["name"] for job in world.emulator.state()["clusters"][0]["jobs"]] == [NON_ASCII]


def test_a_non_ascii_job_name_renders_and_is_started_by_the_operator(world: World, sends: list[str]) -> None:
    world.hook().create_job(job_definition(NON_ASCII))
    result = world.execute(
        lambda: CdmStartJobOperator(task_id="start", job_name="{{ params.job }}", wait_for_completion=False),
        {"job": NON_ASCII},
    )
    assert result["job_name"] == NON_ASCII
    assert world.ti.xcom["cdm_run"]["job_name"] == NON_ASCII
    assert world.emulator.stats()["starts"] == {NON_ASCII: 1}
    assert all(attempt.isascii() for attempt in sends)


def test_a_non_ascii_name_is_valid_in_the_builder_but_a_control_character_is_not() -> None:
    assert definition(name=NON_ASCII).to_api()["name"] == NON_ASCII
    assert load_job_definition(job_definition("注文-ü"))["name"] == "注文-ü"
    with pytest.raises(CdmJobDefinitionError, match=r"'注文\\x85' must not contain control characters"):
        definition(name="注文\x85")  # NEL: a C1 control character, not whitespace to strip
