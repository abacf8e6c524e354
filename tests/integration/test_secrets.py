"""No credential ever leaves through a log record, an exception, an XCom value, a task result or a
template field: every kind of call the suite makes, in every auth mode, on success, failure and retry.

An emulator process runs with recognisable credentials (``--ak/--sk/--temp-ak/--temp-sk/--security-token
/--user/--password/--domain``). One workload (module-scoped) drives, for each of the four auth modes
(AK/SK, temporary AK/SK with a security token, IAM password, static IAM token): hook calls, the
operators (success, failed runs, a timeout that stops the run, retries under injected 5xx, a deferral
through the trigger), the sensor (poke and deferrable), ``test_connection`` with wrong credentials, a
401 with a revoked token, and settings errors. Logs are captured at DEBUG for every logger (stdlib,
urllib3, httpx/httpcore, ``airflow_provider_cdm``; on Airflow 3 also structlog, where task loggers
write), before any handler's secrets masker runs: what our code would print without Airflow's masking.

The AK: an identifier, not a secret (it travels in the signed ``Authorization`` header). Decision: it
does not appear in our logs either. The only place it is sent is that header, which is logged redacted
as a whole (``'Authorization': '***'``), and no message needs it, so the checks below treat it like a
secret. SK, passwords, security tokens and IAM tokens (every token the emulator issues starts with
``MIIemulator-``) must never appear anywhere.

TLS: verification is on by default; turning it off takes ``verify: false`` and logs a WARNING.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from airflow_provider_cdm.client.auth import TOKEN_CACHE
from airflow_provider_cdm.client.exceptions import CdmApiError, CdmAuthError, CdmConfigError
from airflow_provider_cdm.client.rate_limit import reset_shared_limiters
from airflow_provider_cdm.emulator.testing import EmulatorProcess, run_emulator
from airflow_provider_cdm.hooks.cdm import CdmHook
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmDeleteJobOperator,
    CdmJobFailedError,
    CdmJobTimeoutError,
    CdmStartJobOperator,
    CdmStopJobOperator,
)
from airflow_provider_cdm.sensors.cdm import CdmJobStatusSensor
from airflow_provider_cdm.triggers.cdm import CdmJobStatusTrigger
from tests.errors import error_text
from tests.jobs import job_definition
from tests.triggering import run_trigger
from tests.unit.operators.helpers import RecordingTI, task_context

pytestmark = pytest.mark.integration

AK = "AKSECRETSCAN00000001"
SK = "sk-SECRETSCAN-permanent-8d1e4b"
TEMP_AK = "TEMPAKSECRETSCAN0001"
TEMP_SK = "sk-SECRETSCAN-temporary-2f7a"
SECURITY_TOKEN = "sectoken-SECRETSCAN-9c3b71"
USER, PASSWORD, DOMAIN = "secretscan_user", "pw-SECRETSCAN-4e6d0a", "secretscan_domain"
TOKEN_PREFIX = "MIIemulator-"  # every IAM token the emulator issues
# Wrong credentials given to test_connection, and a proxy password: secrets just the same.
WRONG_SK, WRONG_PASSWORD = "sk-SECRETSCAN-wrong-77c1", "pw-SECRETSCAN-wrong-31f9"
WRONG_SECURITY_TOKEN, WRONG_TOKEN = "sectoken-SECRETSCAN-wrong-aa02", f"{TOKEN_PREFIX}SECRETSCAN-made-up"
PROXY_PASSWORD = "proxy-SECRETSCAN-5b5b"
SECRETS = (SK, TEMP_SK, SECURITY_TOKEN, PASSWORD, TOKEN_PREFIX, WRONG_SK, WRONG_PASSWORD, WRONG_SECURITY_TOKEN)
NOT_SECRET_BUT_NOT_LOGGED = (AK, TEMP_AK)
FORBIDDEN = (*SECRETS, PROXY_PASSWORD, *NOT_SECRET_BUT_NOT_LOGGED)

MODES = ("aksk", "temporary", "password", "token")
FAST = {"retry_policy": {"max_attempts": 4, "initial_backoff_s": 0.01, "max_backoff_s": 0.05}}
POLL = 0.05


# --- capturing ------------------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))  # the message with its arguments, plus any traceback


@contextmanager
def every_log_record() -> Iterator[tuple[_Records, list[dict[str, Any]]]]:
    """Every stdlib record at DEBUG, seen first (before a handler's masker), and every structlog event."""
    import httpcore  # noqa: F401 - create the httpx/httpcore loggers now, so that their levels are set
    import httpx  # noqa: F401
    import urllib3  # noqa: F401

    handler = _Records()
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(item for item in manager.loggerDict.values() if isinstance(item, logging.Logger))]
    saved = [(logger, logger.level, logger.disabled, list(logger.handlers)) for logger in loggers]
    events: list[dict[str, Any]] = []
    with ExitStack() as stack:
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if logger is logging.getLogger() or not logger.propagate:
                logger.handlers.insert(0, handler)
        try:
            import structlog.testing  # Airflow 3: task, hook and trigger loggers are structlog's
        except ImportError:
            pass
        else:
            events = stack.enter_context(structlog.testing.capture_logs())
        try:
            yield handler, events
        finally:
            for logger, level, disabled, handlers in saved:
                logger.setLevel(level)
                logger.disabled = disabled
                logger.handlers[:] = handlers


@dataclass
class Evidence:
    log_lines: list[str] = field(default_factory=list)
    log_records: list[logging.LogRecord] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    values: list[tuple[str, Any]] = field(default_factory=list)  # (where, value): results, XComs, fields
    kinds: set[str] = field(default_factory=set)  # what the workload did (so that its checks are not vacuous)

    def expect_error(self, kind: str, error_type: type[BaseException], call: Callable[[], Any]) -> BaseException:
        try:
            call()
        except error_type as err:
            self.errors.append(err)
            self.kinds.add(kind)
            return err
        raise AssertionError(f"{kind}: no {error_type.__name__} raised")

    def value(self, where: str, value: Any) -> Any:
        self.values.append((where, value))
        return value


def found(text: str, forbidden: tuple[str, ...] = FORBIDDEN) -> list[str]:
    return [secret for secret in forbidden if secret in text]


# --- the workload ---------------------------------------------------------------------------------------


def with_extra(conn: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**conn, "extra": {**conn["extra"], **extra}}


def connections(emulator: EmulatorProcess, static_token: str) -> dict[str, dict[str, Any]]:
    base = with_extra(json.loads(emulator.connection_json), retry=FAST["retry_policy"])
    anonymous = {key: value for key, value in base.items() if key not in ("login", "password")}
    return {
        "aksk": {**base, "login": AK, "password": SK},
        "temporary": with_extra({**base, "login": TEMP_AK, "password": TEMP_SK}, security_token=SECURITY_TOKEN),
        "password": with_extra({**base, "login": USER, "password": PASSWORD}, auth_type="password", domain=DOMAIN),
        "token": with_extra(anonymous, auth_type="token", token=static_token),
    }


def fetch_token(emulator: EmulatorProcess) -> str:
    user = {"name": USER, "password": PASSWORD, "domain": {"name": DOMAIN}}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": emulator.project_id}},
        }
    }
    session = requests.Session()
    session.trust_env = False
    answer = session.post(f"{emulator.url}/v3/auth/tokens", json=body, timeout=10)
    assert answer.status_code == 201
    return answer.headers["X-Subject-Token"]


def record_operator(evidence: Evidence, where: str, operator: Any, ti: RecordingTI, result: Any = None) -> None:
    evidence.value(f"{where}: result", result)
    evidence.value(f"{where}: xcom", dict(ti.xcom))
    for name in operator.template_fields:
        evidence.value(f"{where}: template field {name}", getattr(operator, name))
    evidence.value(f"{where}: hook_params", getattr(operator, "hook_params", None))


def render(operator: Any, conn: dict[str, Any]) -> None:
    """Render with a context that holds the connection (a template could name it: the user's choice)."""
    operator.render_template_fields({"ds": "2026-11-22", "params": {}, "conn": {operator.cdm_conn_id: conn}})


def run_operator(evidence: Evidence, where: str, operator: Any, conn: dict[str, Any]) -> Any:
    """Render and execute (through a deferral, if it defers); its XComs and fields are kept, failed or not."""
    ti, result = RecordingTI(), None
    try:
        render(operator, conn)
        try:
            result = operator.execute(task_context(ti))
        except TaskDeferred as deferred:
            result = finish_deferral(evidence, where, operator, deferred, ti)
        return result
    finally:
        record_operator(evidence, where, operator, ti, result)


def finish_deferral(evidence: Evidence, where: str, operator: Any, deferred: TaskDeferred, ti: RecordingTI) -> Any:
    """What the triggerer and the worker do: serialize the trigger, run it anew, resume the task."""
    evidence.kinds.add(f"deferred:{type(operator).__name__}")
    evidence.value(f"{where}: TaskDeferred", (str(deferred), repr(deferred), deferred.kwargs))
    classpath, kwargs = deferred.trigger.serialize()
    evidence.value(f"{where}: trigger kwargs (stored in the database)", (classpath, kwargs))
    trigger = CdmJobStatusTrigger(**kwargs)
    TOKEN_CACHE.clear()  # a triggerer is another process: the trigger fetches its own IAM token (async)

    event = asyncio.run(run_trigger(trigger))
    evidence.value(f"{where}: trigger event", event)
    return getattr(operator, deferred.method_name)(task_context(ti), event, **(deferred.kwargs or {}))


def mode_workload(evidence: Evidence, emulator: EmulatorProcess, mode: str, conn_id: str, conn: dict[str, Any]) -> None:
    name = f"secrets_{mode}"
    ops = {"cdm_conn_id": conn_id, "poll_interval": POLL}
    hook = CdmHook(conn_id)
    try:
        ok, message = hook.test_connection()
        assert ok, message
        evidence.value(f"{mode}: test_connection", message)
        evidence.value(f"{mode}: clusters", [c.id for c in hook.list_clusters()])
        evidence.value(f"{mode}: create", hook.create_job(job_definition(name)))
        evidence.value(f"{mode}: show", hook.get_job(name).definition())
        evidence.value(f"{mode}: update", hook.update_job(job_definition(name, table="orders_v2")))
        evidence.value(f"{mode}: list", [job.name for job in hook.list_jobs()])
        evidence.expect_error("job exists", CdmApiError, lambda: hook.create_job(job_definition(name)))
        evidence.expect_error("job not found", CdmApiError, lambda: hook.get_job("no_such_job"))
        evidence.kinds.add(f"hook:{mode}")

        # Operators: a run that succeeds (with retries under injected 5xx), one that fails, one that times out.
        emulator.set_faults(error_rate=0.3, error_statuses=[500, 502, 503], seed=11)
        result = run_operator(
            evidence,
            f"{mode}: start",
            CdmStartJobOperator(task_id="start", job_name=name, variables={"date": "{{ ds }}"}, **ops),
            conn,
        )
        emulator.clear_faults()
        assert result["status"] == "SUCCEEDED"
        evidence.kinds.add(f"operator:{mode}")
        emulator.script_job(name, "FAILED", duration_s=0.1, error_summary="Cdm.0037: link unreachable", count=1)
        evidence.expect_error(
            "failed run",
            CdmJobFailedError,
            lambda: run_operator(
                evidence, f"{mode}: failing start", CdmStartJobOperator(task_id="start", job_name=name, **ops), conn
            ),
        )
        emulator.script_job(name, "STUCK", count=1)
        evidence.expect_error(
            "timeout",
            CdmJobTimeoutError,
            lambda: run_operator(
                evidence,
                f"{mode}: timed out",
                CdmStartJobOperator(task_id="start", job_name=name, timeout=0.2, **ops),
                conn,
            ),
        )
        # Deferred to the trigger; then the sensor on a run started meanwhile, deferred too.
        emulator.script_job(name, "SUCCEEDED", duration_s=0.3, count=2)
        run_operator(
            evidence,
            f"{mode}: deferred start",
            CdmStartJobOperator(task_id="start", job_name=name, deferrable=True, **ops),
            conn,
        )
        hook.start_job(name)
        sensor_value = run_operator(
            evidence,
            f"{mode}: sensor",
            CdmJobStatusSensor(
                task_id="wait", job_name=name, cdm_conn_id=conn_id, poke_interval=POLL, timeout=30, deferrable=True
            ),
            conn,
        )
        assert sensor_value["status"] == "SUCCEEDED"
        evidence.kinds.add(f"sensor:{mode}")
        # Retries that give up: every request refused.
        emulator.set_faults(error_rate=1.0, error_statuses=[503])
        evidence.expect_error("retries exhausted", CdmApiError, lambda: hook.get_job_status(name))
        emulator.clear_faults()
        run_operator(
            evidence, f"{mode}: stop", CdmStopJobOperator(task_id="stop", job_name=name, cdm_conn_id=conn_id), conn
        )
        run_operator(
            evidence,
            f"{mode}: delete",
            CdmDeleteJobOperator(task_id="delete", job_name=name, cdm_conn_id=conn_id),
            conn,
        )
        once = f"{name}_once"
        emulator.script_job(once, "SUCCEEDED", duration_s=0.1, count=1)
        run_operator(
            evidence,
            f"{mode}: create and start",
            CdmCreateAndStartJobOperator(task_id="cas", job=job_definition(once), **ops),
            conn,
        )
        run_operator(
            evidence,
            f"{mode}: create (replace)",
            CdmCreateJobOperator(task_id="create", job=job_definition(once), if_exists="replace", cdm_conn_id=conn_id),
            conn,
        )
        evidence.expect_error(
            "if_exists=fail",
            AirflowException,
            lambda: run_operator(
                evidence,
                f"{mode}: create (fail)",
                CdmCreateJobOperator(task_id="create", job=job_definition(once), cdm_conn_id=conn_id),
                conn,
            ),
        )
        hook.delete_job(once)
    finally:
        hook.close()


def wrong_credentials(evidence: Evidence, monkeypatch: pytest.MonkeyPatch, conns: dict[str, dict[str, Any]]) -> None:
    """test_connection with wrong credentials in each mode: False and a reason, no secret."""
    wrong = {
        "aksk": {**conns["aksk"], "password": WRONG_SK},
        "temporary": with_extra(conns["temporary"], security_token=WRONG_SECURITY_TOKEN),
        "password": {**conns["password"], "password": WRONG_PASSWORD},
        "token": with_extra(conns["token"], token=WRONG_TOKEN),
        "unknown ak": {**conns["aksk"], "login": "AKSECRETSCANUNKNOWN1"},
    }
    for mode, conn in wrong.items():
        conn_id = f"cdm_wrong_{mode.replace(' ', '_')}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        hook = CdmHook(conn_id)
        ok, message = hook.test_connection()
        assert not ok and "Authentication failed" in message, message
        evidence.value(f"test_connection with a wrong {mode}", message)
        evidence.expect_error(f"auth error ({mode})", CdmAuthError, hook.list_clusters)
        hook.close()


def settings_errors(evidence: Evidence, monkeypatch: pytest.MonkeyPatch, conns: dict[str, dict[str, Any]]) -> None:
    """Bad settings next to good secrets: the error names the setting, never the secret."""
    base = conns["aksk"]
    bad = {
        "credentials in the host": {**base, "host": f"https://{AK}:{SK}@cdm.example.org"},
        "bad timeout": with_extra(base, timeout=-1),
        "token with aksk": with_extra(base, token=WRONG_TOKEN),
        "proxy password in a bad proxy": with_extra(base, proxies={"https": f"ftp://u:{PROXY_PASSWORD}@p"}),
        "security token with password auth": with_extra(conns["password"], security_token=SECURITY_TOKEN),
    }
    for what, conn in bad.items():
        monkeypatch.setenv("AIRFLOW_CONN_CDM_BAD_SETTINGS", json.dumps(conn))
        ok, message = CdmHook("cdm_bad_settings").test_connection()
        assert not ok and message.startswith("Invalid connection settings"), message
        evidence.value(f"test_connection with {what}", message)
        evidence.expect_error(
            f"settings error ({what})", CdmConfigError, lambda: CdmHook("cdm_bad_settings").list_clusters()
        )
    # A proxy that holds a password and cannot be reached: the connection error must not repeat it.
    proxied = with_extra(
        base, proxies={"http": f"http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9"}, retry={"max_attempts": 1}
    )
    monkeypatch.setenv("AIRFLOW_CONN_CDM_PROXIED", json.dumps(proxied))
    evidence.expect_error("proxy unreachable", CdmApiError, lambda: CdmHook("cdm_proxied").list_clusters())


def revoked_tokens(evidence: Evidence, emulator: EmulatorProcess) -> None:
    """A 401 to a revoked token: the static one fails (hook, and the trigger's error event), the
    password-fetched one is replaced transparently."""
    password_hook = CdmHook("cdm_password")
    password_hook.list_clusters()  # a cached token, about to be revoked
    assert emulator.revoke_tokens() >= 1
    evidence.value("password mode after revocation", [c.id for c in password_hook.list_clusters()])
    password_hook.close()
    evidence.kinds.add("token refreshed")
    token_hook = CdmHook("cdm_token")
    evidence.expect_error("revoked static token", CdmAuthError, token_hook.list_clusters)
    token_hook.close()
    run = {"job_name": "secrets_revoked", "cluster_id": emulator.cluster_id, "submission_id": 1}
    trigger = CdmJobStatusTrigger(run=run, end_time=time.time() + 30, poll_interval=POLL, cdm_conn_id="cdm_token")

    event = evidence.value("trigger event with a revoked token", asyncio.run(run_trigger(trigger)))
    assert event["status"] == "error" and re.search(r"APIG\.(1002|0301)", event["message"]), event  # row 11
    evidence.kinds.add("trigger error event")


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with run_emulator(
        "--job-duration", "0.2",
        "--ak", AK, "--sk", SK,
        "--temp-ak", TEMP_AK, "--temp-sk", TEMP_SK, "--security-token", SECURITY_TOKEN,
        "--user", USER, "--password", PASSWORD, "--domain", DOMAIN,
    ) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="module")
def evidence(emulator: EmulatorProcess) -> Evidence:
    """Run the whole workload once, capturing every log record, error and value."""
    found_evidence = Evidence()
    TOKEN_CACHE.clear()
    reset_shared_limiters()
    with pytest.MonkeyPatch.context() as monkeypatch, every_log_record() as (records, events):
        conns = connections(emulator, fetch_token(emulator))
        for mode, conn in conns.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_CDM_{mode.upper()}", json.dumps(conn))
        for mode, conn in conns.items():
            mode_workload(found_evidence, emulator, mode, f"cdm_{mode}", conn)
        wrong_credentials(found_evidence, monkeypatch, conns)
        settings_errors(found_evidence, monkeypatch, conns)
        revoked_tokens(found_evidence, emulator)
        found_evidence.log_records = list(records.records)
        found_evidence.log_lines = list(records.lines) + [repr(event) for event in events]
    TOKEN_CACHE.clear()
    return found_evidence


# --- the checks -------------------------------------------------------------------------------------------


def test_the_workload_made_every_kind_of_call(evidence: Evidence) -> None:
    expected = {f"{part}:{mode}" for part in ("hook", "operator", "sensor") for mode in MODES}
    expected |= {
        "deferred:CdmStartJobOperator",
        "deferred:CdmJobStatusSensor",
        "failed run",
        "timeout",
        "retries exhausted",
        "job exists",
        "job not found",
        "if_exists=fail",
        "token refreshed",
        "revoked static token",
        "trigger error event",
        "proxy unreachable",
        "auth error (aksk)",
        "auth error (temporary)",
        "auth error (password)",
        "auth error (token)",
        "auth error (unknown ak)",
        "settings error (credentials in the host)",
    }
    assert expected <= evidence.kinds, expected - evidence.kinds
    text = "\n".join(evidence.log_lines)
    # The logs are there to be searched: requests, retries, the token refresh, the operators' own lines.
    assert "headers=" in text and "retrying in" in text and "fetching a new one" in text
    assert " SUCCEEDED in " in text and "ended with status FAILED" in text  # the final lines, both ways
    assert any(record.name.startswith("urllib3") for record in evidence.log_records)
    assert any(record.name.startswith(("httpx", "httpcore")) for record in evidence.log_records)


def test_no_log_record_holds_a_credential(evidence: Evidence) -> None:
    leaks = [(found(line), line[:300]) for line in evidence.log_lines if found(line)]
    assert leaks == []


def test_the_authorization_header_is_logged_only_redacted(evidence: Evidence) -> None:
    sent = [line for line in evidence.log_lines if "headers=" in line and " /v1.1/" in line]  # CDM, not IAM
    assert sent and all("'Authorization': '***'" in line or "'X-Auth-Token': '***'" in line for line in sent)
    assert any("'Authorization': '***'" in line for line in sent)  # AK/SK signatures (the AK inside)
    assert any("'X-Auth-Token': '***'" in line for line in sent)  # IAM tokens
    assert any("'X-Security-Token': '***'" in line for line in sent)  # temporary credentials


def test_no_exception_holds_a_credential(evidence: Evidence) -> None:
    assert len(evidence.errors) >= 30
    leaks = [(type(err).__name__, found(error_text(err))) for err in evidence.errors if found(error_text(err))]
    assert leaks == []


def test_no_result_xcom_template_field_or_trigger_kwarg_holds_a_credential(evidence: Evidence) -> None:
    wheres = {where.rsplit(": ", 1)[-1] for where, _ in evidence.values}
    assert {"result", "xcom", "template field job_name", "trigger kwargs (stored in the database)"} <= wheres
    leaks = [(where, found(repr(value))) for where, value in evidence.values if found(repr(value))]
    assert leaks == []


def test_a_wrong_password_never_borrows_a_token_cached_for_the_right_one(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    TOKEN_CACHE.clear()
    right = connections(emulator, "unused")["password"]
    monkeypatch.setenv("AIRFLOW_CONN_CDM_RIGHT", json.dumps(right))
    monkeypatch.setenv("AIRFLOW_CONN_CDM_WRONG", json.dumps({**right, "password": WRONG_PASSWORD}))
    CdmHook("cdm_right").list_clusters()  # a token for this user is cached now
    ok, message = CdmHook("cdm_wrong").test_connection()
    assert not ok and "username or password is wrong" in message, message
    with pytest.raises(CdmAuthError):
        CdmHook("cdm_wrong").list_clusters()
    assert CdmHook("cdm_right").test_connection()[0] is True  # and the right one still works
    TOKEN_CACHE.clear()


def test_tls_verification_is_on_by_default_and_turning_it_off_warns(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[Any] = []
    send = requests.Session.request

    def spy(session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        sent.append(kwargs.get("verify"))  # what the transport asks for (requests may add a CA bundle path)
        return send(session, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    connection = json.loads(emulator.connection_json)
    monkeypatch.setenv("AIRFLOW_CONN_CDM_DEFAULT", json.dumps(connection))
    off = {**connection, "extra": {**connection["extra"], "verify": "false"}}
    monkeypatch.setenv("AIRFLOW_CONN_CDM_INSECURE", json.dumps(off))
    settings_logger = "airflow_provider_cdm.client.settings"
    with caplog.at_level(logging.DEBUG, logger=settings_logger):
        default = CdmHook()
        assert default.settings.verify is True
        default.list_clusters()
        assert not [r for r in caplog.records if r.name == settings_logger and r.levelno >= logging.WARNING]
        insecure = CdmHook("cdm_insecure")
        assert insecure.settings.verify is False
        insecure.list_clusters()
    assert sent == [True, False]
    warnings = [r for r in caplog.records if r.name == settings_logger and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message == f"TLS certificate verification is off for CDM endpoint {emulator.url}"
    assert not found(message)
    default.close()
    insecure.close()
