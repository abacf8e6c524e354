"""The [cdm] options declared to Airflow carry the code's own defaults, and the code reads those options."""

from __future__ import annotations

import pytest

from airflow_provider_cdm import console
from airflow_provider_cdm.client.rate_limit import DEFAULT_QUOTA_SHARE
from airflow_provider_cdm.get_provider_info import CONFIG, get_provider_info
from airflow_provider_cdm.triggers import _shared_poller

OPTIONS = CONFIG["cdm"]["options"]


def test_declared_defaults_are_the_codes_defaults() -> None:
    assert float(OPTIONS["quota_share"]["default"]) == DEFAULT_QUOTA_SHARE
    assert OPTIONS["console_url"]["default"] == console.DEFAULT_CONSOLE_URL
    assert OPTIONS["console_job_url_template"]["example"] == console.DEFAULT_JOB_URL_TEMPLATE
    assert get_provider_info()["config"] == CONFIG
    assert (console.CONFIG_SECTION, *_shared_poller.QUOTA_SHARE_SETTING) == ("cdm", "cdm", "quota_share")


def test_every_placeholder_the_template_may_use_is_documented() -> None:
    described = OPTIONS["console_job_url_template"]["description"]
    assert all("{" + name + "}" in described for name in console.PLACEHOLDERS)


def test_the_declared_options_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CDM__QUOTA_SHARE", "0.25")
    monkeypatch.setenv("AIRFLOW__CDM__CONSOLE_URL", "https://console.example.org")
    assert _shared_poller.configured_quota_share() == 0.25
    assert console.configured("console_url") == "https://console.example.org"
