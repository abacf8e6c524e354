"""The huaweicloud_cdm connection form in Airflow 3's UI: fields shown, a connection saved through it, read back."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_cdm.client.settings import CdmSettings
from airflow_provider_cdm.get_provider_info import CONN_FIELDS
from tests.browser.conftest import AirflowUi

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.integration

CONN_ID = "cdm_from_form"
AK, SK = "AKFORM0000BROWSER001", "sk-browser-secret-5e4d3c2b1a"
SECURITY_TOKEN = "security-token-from-the-form-0f9e8d"
TYPED = {
    "region": "cn-north-4",
    "project_id": "0123456789abcdef0123456789abcdef",
    "cluster_id": "6ec9a0a4-76be-4262-8697-e7af1fac7920",
}
STANDARD_LABELS = ("CDM endpoint (optional)", "Access key (AK) or IAM user", "Secret key (SK) or password")


@dataclass
class StoredConnection:
    host: str | None
    port: int | None
    login: str | None
    password: str | None
    extra_dejson: dict[str, Any] = field(default_factory=dict)


def _choose(combobox: Locator, text: str) -> None:
    combobox.fill(text)
    combobox.press("Enter")


def _screenshot_path(tmp_path: Path) -> Path:
    """``CDM_FORM_SCREENSHOT`` (``make test-browser SCREENSHOT=docs/img/connection-form.png``) or a temp file."""
    return Path(os.environ.get("CDM_FORM_SCREENSHOT") or tmp_path / "connection-form.png")


def _open_form(page: Page) -> Locator:
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    _choose(dialog.get_by_role("combobox"), "Generic")
    # Baseline: a type without field behaviour shows schema and port, so their absence below means something.
    assert dialog.locator("input[name=port]").count() == 1
    assert dialog.locator("input[name=schema]").count() == 1
    _choose(dialog.get_by_role("combobox").first, "Huawei Cloud CDM")
    return dialog


def test_connection_saved_through_the_form_is_what_the_provider_reads(
    page: Page, airflow_ui: AirflowUi, tmp_path: Path
) -> None:
    dialog = _open_form(page)

    for label in STANDARD_LABELS:
        assert dialog.get_by_text(label, exact=True).is_visible(), label
    assert dialog.locator("input[name=port]").count() == 0
    assert dialog.locator("input[name=schema]").count() == 0
    assert dialog.locator("input[name=password]").get_attribute("type") == "password"
    dialog.locator("input[name=login]").fill(AK)
    dialog.locator("input[name=password]").fill(SK)

    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for name, spec in CONN_FIELDS.items():
        assert dialog.locator(f"#element_{name}").count() == 1, name
        assert dialog.locator("label", has_text=spec["label"]).first.is_visible(), spec["label"]
    assert dialog.locator("#element_security_token").get_attribute("type") == "password"
    auth_type = dialog.locator("#element_auth_type").get_by_role("combobox")
    auth_type.click()
    assert page.get_by_role("option").all_inner_texts() == ["aksk", "password", "token"]
    page.get_by_role("option", name="aksk", exact=True).click()
    for name, value in TYPED.items():
        dialog.locator(f"#element_{name}").fill(value)
    dialog.locator("#element_security_token").fill(SECURITY_TOKEN)

    screenshot = _screenshot_path(tmp_path)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    dialog.screenshot(path=str(screenshot))

    # A key without a field of its own, typed into the JSON editor, is saved beside the fields (Airflow 3.3
    # saves the number as a string; the settings read both).
    dialog.get_by_role("button", name="Extra Fields JSON", exact=True).click()
    dialog.locator(".monaco-editor .view-lines").click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("End")
    page.keyboard.insert_text('"timeout": 30,')
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    assert dialog.locator("#element_security_token").input_value() == SECURITY_TOKEN
    dialog.get_by_role("button", name="Save").click()
    page.get_by_role("dialog").wait_for(state="detached")

    shown = airflow_ui.api(f"/connections/{CONN_ID}")
    assert (shown["conn_type"], shown["login"], shown["password"]) == ("huaweicloud_cdm", AK, "***")
    extra = json.loads(shown["extra"])
    assert {name: extra[name] for name in TYPED} == TYPED
    assert (extra["auth_type"], extra["security_token"]) == ("aksk", "***")
    assert extra.get("verify") in (None, "")  # left empty: verification stays on, never a saved false

    stored = json.loads(airflow_ui.cli("connections", "get", CONN_ID, "--output", "json"))[0]
    settings = CdmSettings.from_connection(
        StoredConnection(stored["host"], stored["port"], stored["login"], stored["password"], stored["extra_dejson"])
    )
    assert (settings.login, settings.password, settings.security_token) == (AK, SK, SECURITY_TOKEN)
    assert (settings.endpoint, settings.project_id, settings.cluster_id) == (
        "https://cdm.cn-north-4.myhuaweicloud.com",
        TYPED["project_id"],
        TYPED["cluster_id"],
    )
    assert (settings.auth_type, settings.verify, settings.timeout) == ("aksk", True, (30.0, 30.0))

    server_log = airflow_ui.log.read_text(errors="replace")
    for secret in (SK, SECURITY_TOKEN):
        assert secret not in server_log
