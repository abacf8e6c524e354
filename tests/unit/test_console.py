"""The "CDM Console" extra link: its URL, where its base address comes from, the XCom it is read from."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from airflow_provider_cdm import console
from airflow_provider_cdm.console import (
    DEFAULT_CONSOLE_URL,
    XCOM_KEY,
    CdmConsoleLink,
    ConsoleUrlError,
    console_job_url,
    job_url_for,
    persist,
)
from airflow_provider_cdm.get_provider_info import get_provider_info
from airflow_provider_cdm.operators.cdm import (
    CdmCreateAndStartJobOperator,
    CdmCreateJobOperator,
    CdmStartJobOperator,
)
from tests.unit.client.conftest import make_settings
from tests.unit.operators.helpers import RecordingTI, task_context

CLUSTER = "6ec9a0a4-76be-4262-8697-e7af1fac7920"


def test_the_default_url_is_the_public_consoles_cdm_page_for_the_region_cluster_and_job() -> None:
    url = console_job_url(region="cn-north-4", cluster_id=CLUSTER, job_name="orders_daily")
    assert url == (f"{DEFAULT_CONSOLE_URL}/cdm/?region=cn-north-4#/cdm/clusters/{CLUSTER}/jobs?jobName=orders_daily")


def test_values_are_percent_encoded_so_a_job_name_cannot_change_the_url() -> None:
    url = console_job_url(region="ap-southeast-1", cluster_id="c 1", job_name="订单 a&b=c#d/e")
    assert url.endswith("#/cdm/clusters/c%201/jobs?jobName=%E8%AE%A2%E5%8D%95%20a%26b%3Dc%23d%2Fe")
    assert url.count("#") == 1


def test_another_site_and_template() -> None:
    url = console_job_url(
        region="la-south-2",
        cluster_id="c1",
        job_name="j",
        project_id="p1",
        console_url="https://console-intl.huaweicloud.com/",
        template="{console_url}/cdm/?region={region}&project={project_id}#/jobs/{cluster_id}/{job_name}",
    )
    assert url == "https://console-intl.huaweicloud.com/cdm/?region=la-south-2&project=p1#/jobs/c1/j"


@pytest.mark.parametrize(
    ("base", "problem"),
    [
        ("console.huaweicloud.com", "http"),
        ("ftp://console.example.com", "http"),
        ("https://user:pw@console.example.com", "credentials"),
        ("https://user:pw@console.example.com/?q=1", "credentials"),
        ("https://console.example.com/?x=1", "http"),
        ("https://console.example.com:port", "invalid port"),
    ],
)
def test_a_console_address_that_cannot_be_a_base_url_is_refused(base: str, problem: str) -> None:
    with pytest.raises(ConsoleUrlError, match=problem) as raised:
        console_job_url(region="r", cluster_id="c", job_name="j", console_url=base)
    assert "pw@" not in str(raised.value)


def test_a_template_with_an_unknown_placeholder_names_the_ones_it_may_use() -> None:
    with pytest.raises(ConsoleUrlError, match="may use console_url, region, project_id, cluster_id, job_name"):
        console_job_url(region="r", cluster_id="c", job_name="j", template="{console_url}/{job}")


def test_the_connection_extra_wins_over_airflow_config_which_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(region="cn-north-4")
    assert job_url_for(settings, "c", "j").startswith(DEFAULT_CONSOLE_URL + "/cdm/")  # type: ignore[union-attr]
    monkeypatch.setenv("AIRFLOW__CDM__CONSOLE_URL", "https://console.example.org")
    assert job_url_for(settings, "c", "j").startswith("https://console.example.org/cdm/")  # type: ignore[union-attr]
    with_extra = make_settings(region="cn-north-4", console_url="https://console-intl.huaweicloud.com")
    assert job_url_for(with_extra, "c", "j").startswith("https://console-intl.huaweicloud.com/cdm/")  # type: ignore[union-attr]
    monkeypatch.setenv("AIRFLOW__CDM__CONSOLE_JOB_URL_TEMPLATE", "{console_url}/x/{region}/{job_name}")
    assert job_url_for(with_extra, "c", "j") == "https://console-intl.huaweicloud.com/x/cn-north-4/j"


def test_the_connection_extra_console_url_is_read_and_a_bad_one_costs_only_the_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_cdm.client.settings import CdmSettings

    class Conn:
        host, port, login, password = "https://cdm.example.com", None, "AK", "SK"

        def __init__(self, extra: dict[str, Any]) -> None:
            self.extra_dejson = extra

    base = {"region": "cn-north-4", "project_id": "p"}
    read = CdmSettings.from_connection(Conn({**base, "console_url": "https://console-intl.huaweicloud.com/"}))
    assert job_url_for(read, CLUSTER, "j") == (
        f"https://console-intl.huaweicloud.com/cdm/?region=cn-north-4#/cdm/clusters/{CLUSTER}/jobs?jobName=j"
    )
    assert CdmSettings.from_connection(Conn(base)).console_url is None
    typo = CdmSettings.from_connection(Conn({**base, "console_url": "console-intl.huaweicloud.com"}))  # no scheme
    ti = RecordingTI()
    assert persist(task_context(ti), typo, CLUSTER, "j") is None and ti.xcom == {}
    assert "console_url: got 'console-intl.huaweicloud.com'; expected an http(s) URL" in caplog.text


def test_a_template_that_cannot_format_costs_only_the_link(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for template in ("{region.x}", "{job_name[x]}", "{console_url}/{job}"):
        monkeypatch.setenv("AIRFLOW__CDM__CONSOLE_JOB_URL_TEMPLATE", template)
        ti = RecordingTI()
        assert persist(task_context(ti), make_settings(region="cn-north-4"), CLUSTER, "j") is None
        assert ti.xcom == {}
    assert caplog.text.count("No CDM console link for this task") == 3


def test_persist_pushes_the_url_under_the_links_xcom_key() -> None:
    ti = RecordingTI()
    url = persist(task_context(ti), make_settings(region="cn-north-4"), CLUSTER, "orders_daily")
    assert ti.xcom == {XCOM_KEY: url}
    assert url is not None and url.endswith(f"/clusters/{CLUSTER}/jobs?jobName=orders_daily")
    json.dumps(ti.xcom)


def test_persist_never_fails_a_task_and_pushes_nothing_when_no_link_can_be_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ti = RecordingTI()
    assert persist(task_context(ti), make_settings(region=None), CLUSTER, "j") is None  # an endpoint override
    monkeypatch.setenv("AIRFLOW__CDM__CONSOLE_JOB_URL_TEMPLATE", "{nope}")
    assert persist(task_context(ti), make_settings(region="cn-north-4"), CLUSTER, "j") is None
    assert ti.xcom == {}


def test_the_link_reads_its_url_from_the_tasks_xcom(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[dict[str, Any]] = []

    def get_value(**kwargs: Any) -> Any:
        asked.append(kwargs)
        return "https://console.example.org/cdm/?region=r#/x" if kwargs["key"] == XCOM_KEY else None

    monkeypatch.setattr(console.XCom, "get_value", get_value)
    link = CdmConsoleLink()
    assert link.get_link(None, ti_key="the-ti-key") == "https://console.example.org/cdm/?region=r#/x"  # type: ignore[arg-type]
    assert asked == [{"ti_key": "the-ti-key", "key": XCOM_KEY}]
    monkeypatch.setattr(console.XCom, "get_value", lambda **_: None)
    assert link.get_link(None, ti_key="other") == ""  # type: ignore[arg-type]


def test_a_task_that_failed_before_cdm_knew_its_run_asks_no_xcom(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow 3 resolves each link as the task ends; a missing XCom is an error line in the task's log."""

    def get_value(**kwargs: Any) -> Any:
        raise AssertionError("the link read an XCom")

    monkeypatch.setattr(console.XCom, "get_value", get_value)
    operator = CdmStartJobOperator(task_id="start", job_name="orders")
    console.no_link_yet(operator)  # what execute does before it asks CDM for anything
    assert CdmConsoleLink().get_link(operator, ti_key="the-ti-key") == ""  # type: ignore[arg-type]
    context = task_context(RecordingTI())
    context["task"] = operator
    url = console.persist(context, make_settings(region="r"), "c-1", "orders")
    assert url is not None and CdmConsoleLink().get_link(operator, ti_key="k") == url  # type: ignore[arg-type]


def test_the_link_is_named_and_keyed_for_airflow_3s_api_server() -> None:
    link = CdmConsoleLink()
    assert (link.name, link.xcom_key) == ("CDM Console", XCOM_KEY)


def test_the_start_operators_carry_the_link_and_the_create_operator_does_not() -> None:
    for operator in (CdmStartJobOperator, CdmCreateAndStartJobOperator):
        assert [type(link) for link in operator.operator_extra_links] == [CdmConsoleLink]
    assert not CdmCreateJobOperator.operator_extra_links


def test_the_link_is_registered_in_the_provider_info_by_an_importable_path() -> None:
    (path,) = get_provider_info()["extra-links"]
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is CdmConsoleLink
