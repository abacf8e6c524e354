"""The [cdm] options declared to Airflow carry the code's own defaults, and the code reads those options."""

from __future__ import annotations

import pytest

from airflow_provider_cdm import console, options
from airflow_provider_cdm.get_provider_info import CONFIG, get_provider_info
from airflow_provider_cdm.triggers import _shared_poller

OPTIONS = CONFIG["cdm"]["options"]


def test_declared_defaults_are_the_codes_defaults() -> None:
    assert float(OPTIONS["triggerer_quota_share"]["default"]) == options.DEFAULT_TRIGGERER_QUOTA_SHARE
    assert float(OPTIONS["worker_quota_share"]["default"]) == options.DEFAULT_WORKER_QUOTA_SHARE
    assert float(OPTIONS["progress_log_interval"]["default"]) == options.DEFAULT_PROGRESS_LOG_INTERVAL_S
    assert OPTIONS["client_pacing"]["default"] == "True"
    assert OPTIONS["quota_share"]["default"] is None  # the former name: read only when set
    assert OPTIONS["console_url"]["default"] == console.DEFAULT_CONSOLE_URL
    assert OPTIONS["console_job_url_template"]["example"] == console.DEFAULT_JOB_URL_TEMPLATE
    assert get_provider_info()["config"] == CONFIG
    assert console.CONFIG_SECTION == options.SECTION == "cdm"
    declared = {options.TRIGGERER_QUOTA_SHARE, options.WORKER_QUOTA_SHARE, options.LEGACY_TRIGGERER_QUOTA_SHARE}
    assert declared | {options.CLIENT_PACING, options.PROGRESS_LOG_INTERVAL} <= set(OPTIONS)


def test_the_quota_shares_and_their_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (options.triggerer_quota_share(), options.worker_quota_share()) == (0.6, 0.2)
    monkeypatch.setenv("AIRFLOW__CDM__QUOTA_SHARE", "0.4")  # the former name still counts...
    assert options.triggerer_quota_share() == 0.4
    monkeypatch.setenv("AIRFLOW__CDM__TRIGGERER_QUOTA_SHARE", "0.7")  # ...until the new one is set
    assert options.triggerer_quota_share() == 0.7
    monkeypatch.setenv("AIRFLOW__CDM__WORKER_QUOTA_SHARE", "1.5")  # out of range: the default, and a warning
    assert options.worker_quota_share() == options.DEFAULT_WORKER_QUOTA_SHARE
    monkeypatch.setenv("AIRFLOW__CDM__PROGRESS_LOG_INTERVAL", "-3")
    assert options.progress_log_interval() == options.DEFAULT_PROGRESS_LOG_INTERVAL_S
    monkeypatch.setenv("AIRFLOW__CDM__PROGRESS_LOG_INTERVAL", "300")
    assert options.progress_log_interval() == 300.0
    monkeypatch.setenv("AIRFLOW__CDM__CLIENT_PACING", "maybe")
    assert options.client_pacing() is True
    monkeypatch.setenv("AIRFLOW__CDM__CLIENT_PACING", "off")
    assert options.client_pacing() is False


def test_every_placeholder_the_template_may_use_is_documented() -> None:
    described = OPTIONS["console_job_url_template"]["description"]
    assert all("{" + name + "}" in described for name in console.PLACEHOLDERS)


def test_the_declared_options_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CDM__TRIGGERER_QUOTA_SHARE", "0.25")
    monkeypatch.setenv("AIRFLOW__CDM__CONSOLE_URL", "https://console.example.org")
    assert _shared_poller.configured_quota_share() == 0.25
    assert console.configured("console_url") == "https://console.example.org"


# The public classes of each module the provider info lists (design.md's names).
LISTED_CLASSES = {
    "operators": {
        "operators.cdm": ["CdmCreateJobOperator", "CdmStartJobOperator", "CdmCreateAndStartJobOperator"],
        "operators.cluster": ["CdmStartClusterOperator", "CdmStopClusterOperator", "CdmRestartClusterOperator"],
    },
    "sensors": {"sensors.cdm": ["CdmJobStatusSensor"], "sensors.cluster": ["CdmClusterStatusSensor"]},
    "triggers": {
        "triggers.cdm": ["CdmJobStatusTrigger"],
        "triggers.cluster": ["CdmClusterStatusTrigger"],
        "triggers.events": ["CdmJobRunEventTrigger"],
    },
}


@pytest.mark.parametrize("kind", sorted(LISTED_CLASSES))
def test_the_provider_info_lists_every_module_and_each_holds_its_classes(kind: str) -> None:
    import importlib

    listed = [module for entry in get_provider_info()[kind] for module in entry["python-modules"]]
    expected = {f"airflow_provider_cdm.{module}": names for module, names in LISTED_CLASSES[kind].items()}

    assert sorted(listed) == sorted(expected)
    for module, names in expected.items():
        imported = importlib.import_module(module)
        assert all(isinstance(getattr(imported, name, None), type) for name in names), (module, names)
