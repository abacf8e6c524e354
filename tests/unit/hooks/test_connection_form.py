"""The connection form: provider-info fields (Airflow 3.2+), the hook's widgets and behaviour (before 3.2),
what Airflow registers from them, and what each form saves read back as settings."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import airflow
import pytest
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS

from airflow_provider_cdm.client.settings import EXTRA_KEYS, CdmSettings
from airflow_provider_cdm.get_provider_info import CONN_FIELDS, SECRET_FIELDS, UI_FIELD_BEHAVIOUR, get_provider_info
from airflow_provider_cdm.hooks import cdm as hook_module
from airflow_provider_cdm.hooks.cdm import CdmHook
from tests.unit.client.helpers import AK, PROJECT, SECURITY_TOKEN, SK
from tests.unit.hooks.conftest import SetConnection

FIELDS = [
    "region", "project_id", "auth_type", "domain", "cluster_id", "iam_endpoint", "security_token", "token", "verify",
    "console_url",
]  # fmt: skip
SECRETS = {"security_token", "token"}
LABELS = {
    "host": "CDM endpoint (optional)",
    "login": "Access key (AK) or IAM user",
    "password": "Secret key (SK) or password",
}
PREFIX = "extra__huaweicloud_cdm__"
AIRFLOW_SCHEMAS = Path(airflow.__file__).parent

try:
    import wtforms  # type: ignore[import-untyped,unused-ignore]  # noqa: F401

    HAS_WTFORMS = True
except ImportError:
    HAS_WTFORMS = False


def _connection_type() -> dict[str, Any]:
    (entry,) = get_provider_info()["connection-types"]
    return dict(entry)


@dataclass
class _Conn:
    extra_dejson: dict[str, Any]
    host: str | None = None
    port: int | None = None
    login: str | None = AK
    password: str | None = SK


def _settings(extra: dict[str, Any]) -> CdmSettings:
    return CdmSettings.from_connection(_Conn(extra))


# --- what the provider declares -----------------------------------------------------------------------


def test_provider_info_passes_the_installed_airflows_schemas() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(get_provider_info(), json.loads((AIRFLOW_SCHEMAS / "provider_info.schema.json").read_text()))
    behaviour_schema = json.loads((AIRFLOW_SCHEMAS / "customized_form_field_behaviours.schema.json").read_text())
    jsonschema.validate(CdmHook.get_ui_field_behaviour(), behaviour_schema)


def test_form_fields_are_the_extra_keys_the_settings_read() -> None:
    entry = _connection_type()
    assert (entry["connection-type"], entry["hook-name"]) == ("huaweicloud_cdm", "Huawei Cloud CDM")
    assert list(entry["conn-fields"]) == FIELDS
    assert set(FIELDS) <= EXTRA_KEYS


def test_only_the_tokens_are_secret_fields() -> None:
    secret = {name for name, spec in CONN_FIELDS.items() if spec["schema"].get("format") == "password"}
    assert secret == SECRETS == SECRET_FIELDS


def test_verify_is_text_so_an_empty_field_keeps_tls_verification_on() -> None:
    """A boolean widget would save false when left unchecked; text saves nothing, and "false" only when typed."""
    assert CONN_FIELDS["verify"]["schema"]["type"] == ["string", "null"]
    assert "default" not in CONN_FIELDS["verify"]["schema"]


def test_auth_type_offers_the_modes_the_settings_accept() -> None:
    from airflow_provider_cdm.client.settings import AUTH_TYPES

    schema = CONN_FIELDS["auth_type"]["schema"]
    assert (tuple(schema["enum"]), schema["default"]) == (AUTH_TYPES, "aksk")


def test_behaviour_hides_schema_and_port_and_relabels_the_credentials() -> None:
    behaviour = CdmHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema", "port"]
    assert behaviour["relabeling"] == LABELS
    assert _connection_type()["ui-field-behaviour"]["hidden-fields"] == ["schema", "port"]


def test_behaviour_is_a_fresh_copy_each_call() -> None:
    behaviour = CdmHook.get_ui_field_behaviour()
    behaviour["hidden_fields"].append("host")
    behaviour["relabeling"]["login"] = "changed"
    behaviour["placeholders"].clear()
    assert CdmHook.get_ui_field_behaviour()["hidden_fields"] == ["schema", "port"]
    assert CdmHook.get_ui_field_behaviour()["relabeling"]["login"] == LABELS["login"]
    assert UI_FIELD_BEHAVIOUR["placeholders"]


def test_hook_module_import_loads_no_form_library() -> None:
    """wtforms, flask_babel and flask_appbuilder load only when Airflow asks the hook for its widgets."""
    code = (
        "import sys; import airflow.providers.common.compat.sdk; before = set(sys.modules); "
        "import airflow_provider_cdm.hooks.cdm; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert not loaded & {"wtforms", "flask_babel", "flask_appbuilder", "flask"}
    assert "airflow_provider_cdm" in loaded


# --- the hook's WTForms widgets (Airflow before 3.2) ---------------------------------------------------


@pytest.mark.skipif(not HAS_WTFORMS, reason="WTForms is not installed (Airflow 3 without the FAB provider)")
def test_widgets_follow_the_provider_info() -> None:
    widgets = CdmHook.get_connection_form_widgets()
    assert list(widgets) == FIELDS
    for name, widget in widgets.items():
        assert str(widget.args[0]) == CONN_FIELDS[name]["label"]
        assert widget.kwargs["description"] == CONN_FIELDS[name]["description"]
    classes = {name: widget.field_class.__name__ for name, widget in widgets.items()}
    assert {name for name, cls in classes.items() if cls == "PasswordField"} == SECRETS
    assert set(classes.values()) == {"StringField", "PasswordField"}
    assert widgets["auth_type"].kwargs["default"] == "aksk"


@pytest.mark.skipif(not HAS_WTFORMS, reason="WTForms is not installed (Airflow 3 without the FAB provider)")
@pytest.mark.parametrize(("value", "valid"), [("", True), ("password", True), ("token", True), ("basic", False)])
def test_auth_type_widget_accepts_only_known_modes(value: str, valid: bool) -> None:
    from werkzeug.datastructures import MultiDict
    from wtforms import Form

    form_class = type("Form", (Form,), CdmHook.get_connection_form_widgets())
    form = form_class(formdata=MultiDict({"auth_type": value, "region": "cn-north-4"}))
    assert form.validate() is valid
    assert form.data["region"] == "cn-north-4"


@pytest.mark.skipif(HAS_WTFORMS, reason="WTForms is installed")
def test_no_widgets_without_wtforms() -> None:
    assert CdmHook.get_connection_form_widgets() == {}


# --- what Airflow registers ----------------------------------------------------------------------------


def test_airflow_registers_the_fields_under_their_extra_key_names() -> None:
    """3.x reads conn-fields from the provider info; 2.x calls the hook. Both must give the same fields."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()  # type: ignore[no-untyped-call,unused-ignore]
    ours = {key: info for key, info in manager.connection_form_widgets.items() if key.startswith(PREFIX)}
    assert list(ours) == [PREFIX + name for name in FIELDS]
    assert {key[len(PREFIX) :]: info.field_name for key, info in ours.items()} == {name: name for name in FIELDS}
    assert {info.field_name for info in ours.values() if info.is_sensitive} == SECRETS
    behaviour = manager.field_behaviours["huaweicloud_cdm"]
    assert (behaviour["hidden_fields"], behaviour["relabeling"]) == (["schema", "port"], LABELS)
    assert behaviour["placeholders"][PREFIX + "region"] == "cn-north-4"


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the React form's metadata endpoint is Airflow 3's")
def test_react_form_metadata() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "huaweicloud_cdm"]
    assert meta.hook_name == "Huawei Cloud CDM"
    standard = meta.standard_fields
    assert standard is not None and standard.port is not None and standard.url_schema is not None
    assert (standard.port.hidden, standard.url_schema.hidden) == (True, True)
    assert {name: getattr(standard, name).title for name in LABELS} == LABELS
    extra = meta.extra_fields or {}
    assert list(extra) == FIELDS
    assert {name: extra[name]["schema"]["title"] for name in FIELDS} == {n: s["label"] for n, s in CONN_FIELDS.items()}
    assert {name for name in FIELDS if extra[name]["schema"].get("format") == "password"} == SECRETS
    auth_type = extra["auth_type"]
    assert (auth_type["value"], auth_type["schema"]["enum"]) == ("aksk", ["aksk", "password", "token"])


@pytest.mark.skipif(AIRFLOW_V_3_0_PLUS, reason="the Flask connection view is Airflow 2's")
def test_airflow_2_form_saves_what_the_settings_read() -> None:
    """Airflow 2.11's own form processing: custom fields land in extra under their bare names."""
    from airflow.www.views import ConnectionModelView

    view = types.SimpleNamespace()
    view._iter_extra_field_names_and_sensitivity = types.MethodType(
        ConnectionModelView._iter_extra_field_names_and_sensitivity, view
    )
    typed = {"region": "cn-north-4", "project_id": PROJECT, "auth_type": "aksk", "security_token": SECURITY_TOKEN}
    form = types.SimpleNamespace(
        data={
            "conn_id": "cdm_form",
            "conn_type": "huaweicloud_cdm",
            "extra": json.dumps({"timeout": 30}),
            **{PREFIX + name: typed.get(name, "") for name in FIELDS},
        },
        extra=types.SimpleNamespace(data=None),
    )
    ConnectionModelView.process_form(view, form, True)  # type: ignore[arg-type,no-untyped-call,unused-ignore]
    saved = json.loads(form.extra.data)
    assert saved == {"timeout": 30, **typed}
    settings = _settings(saved)
    assert (settings.security_token, settings.verify, settings.read_timeout_s) == (SECURITY_TOKEN, True, 30.0)


# --- what the forms save, read back --------------------------------------------------------------------


def test_react_form_nulls_for_empty_fields_mean_defaults() -> None:
    """Airflow 3's form saves every field, null when left empty."""
    saved = dict.fromkeys(FIELDS) | {"region": "cn-north-4", "project_id": PROJECT, "auth_type": "aksk"}
    settings = _settings(saved)
    assert (settings.verify, settings.security_token, settings.domain) == (True, None, None)
    assert settings.iam_endpoint == "https://iam.cn-north-4.myhuaweicloud.com"


@pytest.mark.parametrize(("typed", "verify"), [("false", False), ("true", True), ("", True), (None, True)])
def test_verify_as_typed_in_the_form(typed: str | None, verify: bool) -> None:
    assert _settings({"region": "cn-north-4", "project_id": PROJECT, "verify": typed}).verify is verify


def test_prefixed_form_keys_are_read(caplog: pytest.LogCaptureFixture) -> None:
    extra = {
        PREFIX + "region": "ap-southeast-1",
        PREFIX + "project_id": PROJECT,
        PREFIX + "cluster_id": "c-1",
        PREFIX + "security_token": SECURITY_TOKEN,
        PREFIX + "verify": "false",
    }
    with caplog.at_level(logging.WARNING):
        settings = _settings(extra)
    assert settings.endpoint == "https://cdm.ap-southeast-1.myhuaweicloud.com"
    assert (settings.project_id, settings.cluster_id, settings.security_token) == (PROJECT, "c-1", SECURITY_TOKEN)
    assert settings.verify is False
    assert "unknown keys" not in caplog.text


def test_once_a_form_saved_the_connection_stale_prefixed_keys_are_ignored() -> None:
    # Airflow 2's form dropped the bare token and verify keys when the user cleared those fields
    saved = {"region": "cn-north-4", "project_id": PROJECT, "auth_type": "aksk"}
    stale = {PREFIX + "token": "old-token", PREFIX + "verify": "false", PREFIX + "region": "ap-southeast-1"}
    settings = _settings({**saved, **stale})
    assert (settings.region, settings.token, settings.verify, settings.auth_type) == ("cn-north-4", None, True, "aksk")


def test_security_token_from_a_prefixed_key_is_masked(
    set_connection: SetConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    masked: list[str] = []
    monkeypatch.setattr(hook_module, "mask_secret", masked.append)
    legacy = {"region": None, "project_id": None, "cluster_id": None}  # every form field prefixed, as before 2.3
    legacy |= {
        PREFIX + "region": "cn-north-4",
        PREFIX + "project_id": PROJECT,
        PREFIX + "security_token": SECURITY_TOKEN,
    }
    set_connection("cdm_form", extra=legacy)
    assert CdmHook("cdm_form").settings.security_token == SECURITY_TOKEN
    assert SECURITY_TOKEN in masked and SK in masked
