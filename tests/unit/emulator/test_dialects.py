"""The emulator's dialects (``emulator/dialects.py``): each switch through the app layer, without sockets,
plus their parsing from the command line and the admin API.

Requests go straight to :meth:`EmulatorApp.handle` with an IAM token (so signatures and the real clock
stay out of it) on a :class:`FakeClock`; each test sets the switch it is about on top of ``reference``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_cdm.api import endpoints
from airflow_provider_cdm.api.errors import known_error
from airflow_provider_cdm.emulator import dialects
from airflow_provider_cdm.emulator.admin import handle_admin
from airflow_provider_cdm.emulator.app import EmulatorApp, Request
from airflow_provider_cdm.emulator.config import parse_args
from airflow_provider_cdm.emulator.dialects import OBSERVED, PRESETS, REFERENCE, SPARSE, Dialect
from airflow_provider_cdm.emulator.links import LinkSpec

from .helpers import RUNNING_1, STOPPED, FakeClock, job_definition

JOB_DURATION_S = 10.0  # boots for 1 s, then runs for 9 s


class AppClient:
    """Requests to an :class:`EmulatorApp` without a socket: routed, token-authenticated, JSON decoded."""

    def __init__(self, *args: str) -> None:
        self.clock = FakeClock()
        self.config = parse_args(["--job-duration", str(JOB_DURATION_S), *args])
        self.app = EmulatorApp(self.config, clock=self.clock)
        self.project = self.config.project_id
        status, self.headers, _ = self.raw("POST", "/v3/auth/tokens", self.token_request())
        assert status == 201
        self.token = self.headers[endpoints.SUBJECT_TOKEN_HEADER]

    def token_request(self) -> dict[str, Any]:
        user = {"name": self.config.user, "password": self.config.password, "domain": {"name": self.config.domain}}
        identity = {"methods": ["password"], "password": {"user": user}}
        return {"auth": {"identity": identity, "scope": {"project": {"name": self.config.region}}}}

    def set(self, **switches: object) -> None:
        self.app.dialect = REFERENCE.changed(**switches)

    def raw(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        path, _, query = path.partition("?")
        found = endpoints.route(method, path)
        assert found is not None, path
        data = b"" if body is None else json.dumps(body).encode()
        response = self.app.handle(Request(method, path, query, headers or {}, data, "req-1"), *found)
        return response.status, response.headers, json.loads(response.body) if response.body else None

    def cdm(
        self, method: str, suffix: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        sent = {endpoints.AUTH_TOKEN_HEADER: self.token, **(headers or {})}
        status, _, answer = self.raw(method, f"/v1.1/{self.project}{suffix}", body, sent)
        return status, answer

    def job_path(self, name: str, suffix: str = "", cluster: str = RUNNING_1) -> str:
        return f"/clusters/{cluster}/cdm/job/{quote(name, safe='')}{suffix}"

    def create(self, name: str, **overrides: Any) -> None:
        job = {**job_definition(name), **overrides}
        status, answer = self.cdm("POST", f"/clusters/{RUNNING_1}/cdm/job", {"jobs": [job]})
        assert status == 200, answer

    def start(self, name: str) -> tuple[int, Any]:
        return self.cdm("PUT", self.job_path(name, "/start"), {"variables": {}})

    def status(self, name: str) -> Any:
        status, answer = self.cdm("GET", self.job_path(name, "/status"))
        assert status == 200, answer
        return answer["submissions"]


@pytest.fixture
def client() -> AppClient:
    return AppClient("--dialect", "reference")


# -- presets and parsing ------------------------------------------------------------------------------


def test_reference_is_every_switchs_default_and_observed_is_the_command_lines_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(dialects.DIALECT_ENV_VAR, raising=False)
    assert Dialect() == REFERENCE
    assert parse_args([]).dialect == OBSERVED
    assert {name: d.label for name, d in PRESETS.items()} == {name: name for name in PRESETS}


def test_each_switch_cites_its_row_and_source_and_each_preset_differs_from_reference() -> None:
    for name in dialects.SWITCHES:
        spec = dialects._SPECS[name]
        assert 1 <= spec.metadata["row"] <= 21 and spec.metadata["source"], name
        assert spec.metadata["row"] not in dialects.STATEFUL_ROWS, name
    assert set(SPARSE.differences(REFERENCE)) >= set(OBSERVED.differences(REFERENCE)) - {"expired_token_error"}


def test_the_command_line_takes_a_preset_and_switches_on_top(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dialects.DIALECT_ENV_VAR, raising=False)
    config = parse_args(
        ["--dialect", "sparse", "--dialect-set", "progress=percent", "--dialect-set", "history-page-size=20"]
    )
    assert config.dialect == SPARSE.changed(progress="percent", history_page_size=20)
    assert config.dialect.label == "sparse(history_page_size=20,progress=percent)"
    assert parse_args(["--dialect-set", "show_job_total_zero=no"]).dialect.show_job_total_zero is False
    assert parse_args(["--dialect", "REFERENCE", "--dialect-set", "history_page_size=none"]).dialect == REFERENCE


def test_the_environment_gives_the_command_lines_default_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dialects.DIALECT_ENV_VAR, "sparse")
    assert parse_args([]).dialect == SPARSE
    assert parse_args(["--dialect", "reference"]).dialect == REFERENCE
    monkeypatch.setenv(dialects.DIALECT_ENV_VAR, "chatty")
    with pytest.raises(SystemExit):
        parse_args([])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dialect", "chatty"], "unknown dialect preset 'chatty'"),
        (["--dialect-set", "progress"], "expected NAME=VALUE, got 'progress'"),
        (["--dialect-set", "colour=red"], "unknown dialect switch 'colour'"),
        (["--dialect-set", "progress=percentish"], "dialect switch progress: 'percentish' is not one of"),
        (["--dialect-set", "show_job_total_zero=maybe"], "dialect switch show_job_total_zero: expected true or false"),
        (["--dialect-set", "history_page_size=5"], "dialect switch history_page_size: expected none or an integer"),
    ],
)
def test_a_bad_dialect_on_the_command_line_is_a_usage_error_naming_the_value(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_every_switch_with_its_row() -> None:
    from airflow_provider_cdm.emulator.config import build_parser

    text = build_parser().format_help()
    assert "--dialect PRESET" in text and "--dialect-set NAME=VALUE" in text
    for name in dialects.SWITCHES:
        assert f"  {name}=" in text


def admin(app: EmulatorApp, method: str, path: str, body: object = None) -> tuple[int, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    response = handle_admin(app, Request(method, f"/_emulator/{path}", "", {}, data, "admin-1"), "127.0.0.1")
    return response.status, json.loads(response.body)


def test_the_admin_api_shows_and_changes_the_dialect_and_a_reset_restores_the_command_lines() -> None:
    client = AppClient("--dialect", "observed", "--dialect-set", "progress=percent")
    app = client.app
    status, view = admin(app, "GET", "dialect")
    assert status == 200
    assert view["dialect"] == view["configured"] == "observed(progress=percent)"
    assert view["switches"] == OBSERVED.changed(progress="percent").to_json()
    assert view["presets"] == ["reference", "observed", "sparse"]

    status, view = admin(app, "POST", "dialect", {"preset": "sparse", "switches": {"delete_answer": "empty_200"}})
    assert (status, view["dialect"]) == (200, "sparse(delete_answer=empty_200)")
    status, view = admin(app, "POST", "dialect", {"switches": {"history_page_size": 50}})  # on top of the active
    assert app.dialect == SPARSE.changed(delete_answer="empty_200", history_page_size=50)
    assert admin(app, "GET", "state")[1]["dialect"] == app.dialect.label

    assert admin(app, "POST", "reset")[0] == 200
    assert app.dialect == OBSERVED.changed(progress="percent")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the dialect must be a JSON object"),
        ({"preset": "chatty"}, "unknown dialect preset 'chatty'"),
        ({"preset": 3}, "preset must be a string, got 3"),
        ({"switches": {"progress": 3}}, "dialect switch progress: 3 is not one of"),
        ({"switches": {"colour": "red"}}, "unknown dialect switch 'colour'"),
        ({"switches": ["progress"]}, "switches must be an object"),
        ({"presets": "sparse"}, "unknown dialect fields: ['presets']"),
    ],
)
def test_a_bad_dialect_through_the_admin_api_answers_400_naming_the_value(body: object, message: str) -> None:
    app = AppClient("--dialect", "observed").app
    status, answer = admin(app, "POST", "dialect", body)
    assert status == 400
    assert message in answer["error_msg"]
    assert app.dialect == OBSERVED


# -- answers, switch by switch ------------------------------------------------------------------------


def test_never_run_status(client: AppClient) -> None:  # row 1
    client.create("never_ran")
    assert client.status("never_ran") == []
    client.set(never_run_status="never_executed")
    (never,) = client.status("never_ran")
    now_ms = int(client.clock.now * 1000)
    assert never == {
        "job-name": "never_ran",
        "status": "NEVER_EXECUTED",
        "creation-date": now_ms,
        "last-update-date": now_ms,
        "progress": -1,
    }
    assert client.cdm("GET", client.job_path("never_ran"))[1]["jobs"][0]["status"] == "NEW"  # the job says NEW
    client.start("never_ran")
    assert [s["status"] for s in client.status("never_ran")] == ["BOOTING"]


def test_history_and_run_dates(client: AppClient) -> None:  # row 2
    client.create("dated")
    started_ms = int(client.clock.now * 1000)
    client.start("dated")
    history = f"/clusters/{RUNNING_1}/cdm/submissions?jname=dated"
    assert client.cdm("GET", history)[1]["submissions"][0]["creation-date"] == str(started_ms)
    assert client.status("dated")[0]["creation-date"] == started_ms
    client.set(history_dates="epoch_ms", run_dates="text")
    assert client.cdm("GET", history)[1]["submissions"][0]["creation-date"] == started_ms
    (run,) = client.status("dated")
    assert run["creation-date"] == run["execute-date"] == str(started_ms)


def test_history_page_size(client: AppClient) -> None:  # row 3
    client.create("paged")
    for _ in range(12):
        client.start("paged")
        client.clock.advance(JOB_DURATION_S)
    page = f"/clusters/{RUNNING_1}/cdm/submissions?jname=paged&page_size=20"
    answer = client.cdm("GET", page)[1]
    assert (len(answer["submissions"]), answer["page_size"], answer["total"]) == (12, 20, 12)
    client.set(history_page_size=10)
    answer = client.cdm("GET", page)[1]
    assert (len(answer["submissions"]), answer["page_size"], answer["total"]) == (10, 10, 12)
    second = client.cdm("GET", page + "&page_no=2")[1]
    assert [s["submission-id"] for s in second["submissions"]] == [2, 1]  # newest first: the two oldest
    assert client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/submissions?jname=paged&page_size=5")[0] == 200


def test_show_job_total_zero(client: AppClient) -> None:  # row 4
    client.create("shown")
    assert client.cdm("GET", client.job_path("shown"))[1]["total"] == 1
    client.set(show_job_total_zero=True)
    answer = client.cdm("GET", client.job_path("shown"))[1]
    assert (answer["total"], len(answer["jobs"])) == (0, 1)
    assert client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/job/all")[1]["total"] == 1  # list jobs keeps its total


def test_validation_result(client: AppClient) -> None:  # row 5
    create = f"/clusters/{RUNNING_1}/cdm/job"
    bad = {**job_definition("refused"), "from-link-name": ""}
    assert client.cdm("POST", create, {"jobs": [job_definition("flat")]})[1]["validation-result"] == []
    refusal = client.cdm("POST", create, {"jobs": [bad]})[1]["validation-result"]
    assert refusal == [{"message": "from-link-name '' must be a non-empty string", "status": "ERROR"}]
    client.set(validation_result="sqoop")
    assert client.cdm("POST", create, {"jobs": [job_definition("sqoop")]})[1]["validation-result"] == [{}, {}, {}]
    refusal = client.cdm("POST", create, {"jobs": [bad]})[1]["validation-result"]
    assert refusal == [
        {"from-link-name": [{"status": "ERROR", "message": "from-link-name '' must be a non-empty string"}]},
        {},
        {},
    ]
    update = client.cdm("PUT", client.job_path("sqoop"), {"jobs": [job_definition("sqoop")]})[1]
    assert update == {"validation-result": [{}, {}, {}]}
    to_side = client.cdm("PUT", client.job_path("sqoop"), {"jobs": [{**job_definition("sqoop"), "to-link-name": ""}]})
    assert list(to_side[1]["validation-result"][1]) == ["to-link-name"]


def test_update_missing_job_error(client: AppClient) -> None:  # row 6
    body = {"jobs": [job_definition("ghost")]}
    assert client.cdm("PUT", client.job_path("ghost"), body) == (
        400,
        {
            "code": "Cdm.0319",
            "errCode": "Cdm.0319",
            "message": "Job[ghost] cannot be updated because it does not exist.",
            "externalMessage": "Job[ghost] cannot be updated because it does not exist.",
        },
    )
    client.set(update_missing_job_error="Cdm.0095")
    status, answer = client.cdm("PUT", client.job_path("ghost"), body)
    assert (status, answer["code"], answer["errCode"]) == (400, "Cdm.0095", "Cdm.00095")
    assert answer["message"] == "A job with the name ghost does not exist."
    assert known_error(answer["errCode"]) is known_error("Cdm.0095")


def test_cdm_errors_http_500(client: AppClient) -> None:  # row 8
    missing_delete = ("DELETE", client.job_path("ghost"))
    missing_start = ("PUT", client.job_path("ghost", "/start"))
    missing_show = ("GET", client.job_path("ghost"))
    assert [client.cdm(*call)[0] for call in (missing_delete, missing_start, missing_show)] == [400, 400, 400]
    client.set(cdm_errors_http_500="delete")
    assert [client.cdm(*call)[0] for call in (missing_delete, missing_start, missing_show)] == [500, 400, 400]
    client.set(cdm_errors_http_500="writes")
    assert [client.cdm(*call)[0] for call in (missing_delete, missing_start, missing_show)] == [500, 500, 400]
    assert client.cdm(*missing_delete)[1]["errCode"] == "Cdm.0100"


@pytest.mark.parametrize(
    ("switches", "body"),
    [
        (
            {},
            {
                "code": "Cdm.0100",
                "errCode": "Cdm.0100",
                "message": "Job[ghost] does not exist.",
                "externalMessage": "Job[ghost] does not exist.",
            },
        ),
        ({"cdm_error_body": "two_keys"}, {"errCode": "Cdm.0100", "externalMessage": "Job[ghost] does not exist."}),
        (
            {"cdm_error_body": "two_keys_misspelt"},
            {"errCode": "Cdm.0100", "ternalMessage": "Job[ghost] does not exist."},
        ),
        (
            {"err_code_padded": True},
            {
                "code": "Cdm.0100",
                "errCode": "Cdm.00100",
                "message": "Job[ghost] does not exist.",
                "externalMessage": "Job[ghost] does not exist.",
            },
        ),
        (
            {"job_not_found_code": "Cdm.0054", "cdm_error_body": "two_keys"},
            {"errCode": "Cdm.0054", "externalMessage": "Job[ghost] does not exist."},
        ),
    ],
)
def test_cdm_error_body_err_code_padded_and_job_not_found_code(
    client: AppClient, switches: dict[str, object], body: dict[str, str]
) -> None:  # rows 9, 10
    client.set(**switches)
    assert client.cdm("GET", client.job_path("ghost", "/status")) == (400, body)


def test_gateway_prefix(client: AppClient) -> None:  # row 11
    no_page = f"/clusters/{RUNNING_1}/cdm/job/all?page_size=5"
    assert client.cdm("GET", no_page)[1]["error_code"] == "APIG.0201"
    client.set(gateway_prefix="APIGW")
    status, answer = client.cdm("GET", no_page)
    assert (status, answer["error_code"], answer["request_id"]) == (400, "APIGW.0201", "req-1")
    assert "page_size must be between 10 and 100" in answer["error_msg"]
    assert client.cdm("GET", "/clusters/nowhere/cdm/job/x/status")[1]["errCode"] == "Cdm.0001"  # Cdm codes stay


def test_bad_token_error(client: AppClient) -> None:  # row 11
    headers = {endpoints.AUTH_TOKEN_HEADER: "MIIunknown"}
    path = f"/v1.1/{client.project}/clusters"
    assert client.raw("GET", path, headers=headers)[2]["error_code"] == "APIG.1002"
    client.set(bad_token_error="0301_decrypt_token_fail", gateway_prefix="APIGW")
    status, _, answer = client.raw("GET", path, headers=headers)
    assert (status, answer["error_code"]) == (401, "APIGW.0301")
    assert answer["error_msg"] == "Incorrect IAM authentication information: decrypt token fail"


@pytest.mark.parametrize(
    ("value", "status", "code", "message"),
    [
        ("0301_token_has_expired", 401, "APIG.0301", "Incorrect IAM authentication information: the token has expired"),
        ("0301_token_expires", 401, "APIG.0301", "Incorrect IAM authentication information: token expires"),
        ("0307_token_must_be_updated", 401, "APIG.0307", "The token must be updated."),
    ],
)
def test_expired_token_error(client: AppClient, value: str, status: int, code: str, message: str) -> None:  # row 11
    client.set(expired_token_error=value)
    client.clock.advance(2 * 86_400)
    answer = client.cdm("GET", "/clusters")
    assert (answer[0], answer[1]["error_code"], answer[1]["error_msg"]) == (status, code, message)


def test_sparse_run_answers(client: AppClient) -> None:  # row 12
    client.create("sparse")
    full = client.start("sparse")[1]["submissions"][0]
    assert {"submission-id", "external-id", "last-update-date"} <= set(full)
    client.clock.advance(JOB_DURATION_S)
    client.set(sparse_run_answers=True)
    (started,) = client.start("sparse")[1]["submissions"]
    assert set(started) == {"job-name", "creation-user", "creation-date", "progress", "status"}
    (booting,) = client.status("sparse")
    assert set(booting) == set(started) and booting["status"] == "BOOTING"
    client.clock.advance(2.0)
    (running,) = client.status("sparse")
    assert running["status"] == "RUNNING" and "submission-id" in running and "external-id" in running


@pytest.mark.parametrize(
    ("value", "running", "succeeded", "failed"),
    [("percent", 50.0, 100.0, -1.0), ("percent_integer", 50, 100, -1), ("sqoop_fraction", 0.5, -1, -1)],
)
def test_progress(client: AppClient, value: str, running: float, succeeded: float, failed: float) -> None:  # row 14
    client.set(progress=value)
    client.create("progress")
    client.start("progress")
    client.clock.advance(1.0 + 0.5 * 9.0)  # half way through running
    assert client.status("progress")[0]["progress"] == running
    client.clock.advance(JOB_DURATION_S)
    assert client.status("progress")[0]["progress"] == succeeded
    client.start("progress")
    client.clock.advance(2.0)
    client.cdm("PUT", client.job_path("progress", "/stop"))
    assert client.status("progress")[0]["progress"] == failed


def test_stop_answer(client: AppClient) -> None:  # row 15
    client.create("stopped")
    client.start("stopped")
    assert client.cdm("PUT", client.job_path("stopped", "/stop")) == (200, {"validation-result": []})
    client.clock.advance(JOB_DURATION_S)
    client.set(stop_answer="empty_object")
    client.start("stopped")
    assert client.cdm("PUT", client.job_path("stopped", "/stop")) == (200, {})
    assert client.cdm("PUT", client.job_path("stopped", "/stop"))[1]["errCode"] == "Cdm.0053"


@pytest.mark.parametrize(
    ("value", "status", "body"), [("empty_200", 200, None), ("empty_object", 200, {}), ("204", 204, None)]
)
def test_delete_answer(client: AppClient, value: str, status: int, body: object) -> None:  # row 16
    client.set(delete_answer=value)
    client.create("deleted")
    assert client.cdm("DELETE", client.job_path("deleted")) == (status, body)


def test_cluster_fields_and_actions(client: AppClient) -> None:  # row 17
    listed = client.cdm("GET", "/clusters")[1]["clusters"]
    assert listed[0]["flavor"] == {"id": "emulator-flavor", "name": "cdm.medium"} and listed[0]["actions"] == []
    client.set(cluster_fields="sdk", cluster_actions_as_string=True)
    listed = client.cdm("GET", "/clusters")[1]["clusters"]
    assert "flavor" not in listed[0]
    assert {"azName", "flavorName", "isAutoOff", "recentEvent", "customerConfig", "instances"} <= set(listed[0])
    assert {"role", "manageIp", "trafficIp"} <= set(listed[0]["instances"][0])
    assert listed[0]["flavorName"] == "cdm.medium" and listed[0]["actions"] == ""
    assert "vpcId" not in listed[0]
    detail = client.cdm("GET", f"/clusters/{STOPPED}")[1]
    assert {"vpcId", "subnetId", "securityGroupId", "maintainWindow"} <= set(detail)
    assert detail["status"] == "900"


def test_actions_of_a_restarting_cluster_as_a_string() -> None:  # row 17
    client = AppClient("--dialect", "reference", "--cluster", "c-1=restarting:500")
    client.set(cluster_actions_as_string=True)
    assert client.cdm("GET", "/clusters/c-1")[1]["actions"] == "REBOOTING"


def test_create_and_execute_answer(client: AppClient) -> None:  # row 18
    def create_and_execute(name: str) -> Any:
        body = {"jobs": [job_definition(name)], "clusters": [RUNNING_1]}
        status, answer = client.cdm("POST", "/clusters/job", body, {endpoints.LANGUAGE_HEADER: "en-us"})
        assert status == 200, answer
        return answer

    (booting,) = create_and_execute("now")["submissions"]
    assert booting["status"] == "BOOTING" and "external-id" in booting
    client.set(create_and_execute_answer="pending")
    (pending,) = create_and_execute("pending")["submissions"]
    assert (pending["status"], pending["progress"], "external-id" in pending) == ("PENDING", 0, False)
    assert isinstance(pending["submission-id"], int)
    assert "external-id" in client.status("pending")[0]  # only the answer is PENDING: the run is the backend's
    client.set(create_and_execute_answer="name_validation")
    assert create_and_execute("old_docs") == {"name": "old_docs", "validation-result": []}


def test_language_header_required(client: AppClient) -> None:  # row 19
    client.create("polyglot")
    assert client.cdm("GET", client.job_path("polyglot", "/status"))[0] == 200
    client.set(language_header_required="every_job_call")
    status, answer = client.cdm("GET", client.job_path("polyglot", "/status"))
    assert (status, answer["error_code"]) == (400, "APIG.0201")
    assert "X-Language header is mandatory" in answer["error_msg"]
    assert client.cdm("GET", client.job_path("polyglot", "/status"), headers={"X-Language": "en-us"})[0] == 200
    assert client.cdm("GET", "/clusters")[0] == 200  # not a job call


def test_config_values_percent_encoded_and_empty_inputs_as_object(client: AppClient) -> None:  # row 20
    driver = {"configs": [{"name": "throttlingConfig", "inputs": []}]}
    client.create("encoded", **{"driver-config-values": driver})

    def read_back() -> dict[str, Any]:
        job: dict[str, Any] = client.cdm("GET", client.job_path("encoded"))[1]["jobs"][0]
        return job

    where = "order_date = '${date}'"
    inputs = read_back()["from-config-values"]["configs"][0]["inputs"]
    assert {i["name"]: i["value"] for i in inputs}["fromJobConfig.whereClause"] == quote(where, safe="")
    assert read_back()["driver-config-values"]["configs"][0]["inputs"] == []
    client.set(config_values_percent_encoded=False, empty_config_inputs_as_object=True)
    inputs = read_back()["from-config-values"]["configs"][0]["inputs"]
    assert {i["name"]: i["value"] for i in inputs}["fromJobConfig.whereClause"] == where
    assert read_back()["driver-config-values"]["configs"][0]["inputs"] == {}
    listed = client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/job/all")[1]["jobs"][0]
    assert listed["driver-config-values"]["configs"][0]["inputs"] == {}


def test_link_config_values_as_sent() -> None:  # row 20
    client = AppClient("--dialect", "reference", "--link", "obs_link=obs-connector")
    client.app.backend.links.define(
        [LinkSpec("pg_link", "generic-jdbc-connector", (("linkConfig.host", "db.example:5432/sales"),))]
    )
    shown = client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/link/pg_link")[1]["links"][0]
    assert shown["link-config-values"]["configs"][0]["inputs"][0]["value"] == quote("db.example:5432/sales", safe="")
    client.set(config_values_percent_encoded=False)
    shown = client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/link/pg_link")[1]["links"][0]
    assert shown["link-config-values"]["configs"][0]["inputs"][0]["value"] == "db.example:5432/sales"


@pytest.mark.parametrize(
    ("value", "keys"),
    [
        ("last-udpate-user", {"last-udpate-user"}),
        ("last-update-user", {"last-update-user"}),
        ("both", {"last-udpate-user", "last-update-user"}),
    ],
)
def test_last_update_user_key(client: AppClient, value: str, keys: set[str]) -> None:  # row 21
    client.set(last_update_user_key=value)
    client.create("spelt")
    client.start("spelt")
    client.clock.advance(2.0)
    (run,) = client.status("spelt")
    assert {key for key in run if key.startswith("last-u") and key.endswith("-user")} == keys
    history = client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/submissions?jname=spelt")[1]["submissions"][0]
    assert {key for key in history if key.startswith("last-u") and key.endswith("-user")} == keys


def test_observed_and_sparse_answers_end_to_end() -> None:
    """The presets together: a job's life as a client meets it under each."""
    for name in ("observed", "sparse"):
        client = AppClient("--dialect", name)
        client.create("life")
        (never,) = client.status("life")
        assert never["status"] == "NEVER_EXECUTED"
        (started,) = client.start("life")[1]["submissions"]
        assert "submission-id" not in started
        client.clock.advance(JOB_DURATION_S)
        (done,) = client.status("life")
        assert done["status"] == "SUCCEEDED"
        assert done["progress"] == (100 if name == "observed" else -1)
        status, answer = client.cdm("GET", client.job_path("ghost"))
        assert (status, set(answer)) == (400, {"errCode", "externalMessage"})
        assert client.cdm("DELETE", client.job_path("life"))[0] == (200 if name == "observed" else 204)
