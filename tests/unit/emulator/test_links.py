"""The emulator's links: defined from the command line or the admin API, answered as show link documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cdm.emulator.config import parse_args
from airflow_provider_cdm.emulator.dialects import DIALECT_ENV_VAR
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.links import LinkSpec, LinkStore, link_specs
from airflow_provider_cdm.emulator.testing import EmulatorError, emulator_in_thread

from .helpers import RUNNING_1, FakeClock, SignedClient


@pytest.fixture(autouse=True)
def reference_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests assert the API reference's own answer shapes (emulator/dialects.py's ``reference``)."""
    monkeypatch.setenv(DIALECT_ENV_VAR, "reference")


PASSWORD = "db-password-0001"


def cdm_link(name: str = "pg_link", connector: str = "generic-jdbc-connector", **inputs: Any) -> dict[str, Any]:
    items = [{"name": f"linkConfig.{key}", "value": value} for key, value in inputs.items()]
    return {
        "name": name,
        "connector-name": connector,
        "link-config-values": {"configs": [{"name": "linkConfig", "inputs": items}]},
    }


PG = cdm_link(
    databaseType="POSTGRESQL", host="10.0.0.5", port=5432, database="sales", username="etl", password=PASSWORD
)


def test_a_link_reads_back_in_the_documented_shape_without_its_password() -> None:
    store = LinkStore(link_specs({"links": [PG]}), clock=FakeClock(1_516_674_482.64))
    (link,) = store.show("pg_link")["links"]
    assert link["connector-name"] == "generic-jdbc-connector" and link["enabled"] is True
    assert link["creation-date"] == 1_516_674_482_640 and link["creation-user"] == "cdm"
    (config,) = link["link-config-values"]["configs"]
    by_name = {item["name"]: item for item in config["inputs"]}
    assert by_name["linkConfig.host"]["value"] == "10.0.0.5" and by_name["linkConfig.port"]["value"] == "5432"
    assert by_name["linkConfig.password"] == {"name": "linkConfig.password", "type": "STRING", "sensitive": True}
    assert PASSWORD not in json.dumps(link)


def test_values_read_back_are_percent_encoded_as_job_values_are() -> None:
    store = LinkStore([LinkSpec("u", "generic-jdbc-connector", (("linkConfig.url", "jdbc:mysql://h:3306/db"),))])
    (item,) = store.show("u")["links"][0]["link-config-values"]["configs"][0]["inputs"]
    assert item["value"] == "jdbc%3Amysql%3A%2F%2Fh%3A3306%2Fdb"


def test_an_unknown_link_is_cdm_0101_and_all_lists_every_link() -> None:
    store = LinkStore({"obs_link": "obs-connector"})
    with pytest.raises(ApiError) as raised:
        store.show("ghost")
    assert raised.value.error.code == "Cdm.0101" and raised.value.http_status == 400
    store.define(link_specs({"links": [PG]}))
    assert [link["name"] for link in store.show("all")["links"]] == ["obs_link", "pg_link"]


def test_reset_goes_back_to_the_configured_links() -> None:
    store = LinkStore({"obs_link": "obs-connector"})
    store.define(link_specs({"links": [PG]}))
    assert store.connector("pg_link") == "generic-jdbc-connector"
    store.reset()
    assert (store.connector("pg_link"), store.connector("obs_link")) == (None, "obs-connector")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "at least one link"),
        ({"links": [cdm_link("all")]}, "reserved"),
        ({"links": [cdm_link("a/b")]}, "without '/'"),
        ({"links": [cdm_link(connector="nope-connector")]}, "connector-name 'nope-connector'"),
        ({"links": [cdm_link(), cdm_link()]}, "unique"),
        (
            {
                "links": [
                    {
                        "name": "x",
                        "connector-name": "obs-connector",
                        "link-config-values": {"configs": [{"inputs": [{"name": "host", "value": "h"}]}]},
                    }
                ]
            },
            "must start with 'linkConfig.'",
        ),
        ({"links": [cdm_link(password=None)]}, "input linkConfig.password needs a string value"),
    ],
)
def test_malformed_links_are_refused_saying_what_is_wrong(body: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        link_specs(body)


def test_links_file_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    path.write_text(json.dumps({"links": [PG]}))
    config = parse_args(["--links-file", str(path), "--link", "obs_link=obs-connector"])
    assert [spec.name for spec in config.link_definitions] == ["pg_link"]
    assert config.links == (("obs_link", "obs-connector"),)
    path.write_text("{}")
    with pytest.raises(SystemExit):
        parse_args(["--links-file", str(path)])


def test_show_link_over_http_through_the_admin_api_and_reset(tmp_path: Path) -> None:
    path = tmp_path / "links.json"
    path.write_text(
        json.dumps({"links": [cdm_link("obs_link", "obs-connector", storageType="OBS", server="obs.example.com")]})
    )
    with emulator_in_thread("--links-file", str(path), "--quotas") as emulator:
        client = SignedClient(emulator)
        assert emulator.define_link("pg_link", "generic-jdbc-connector", host="10.0.0.5", password=PASSWORD) == {
            "links": ["obs_link", "pg_link"]
        }
        answer = client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/link/pg_link")
        assert answer.status_code == 200 and PASSWORD not in answer.text
        assert answer.json()["links"][0]["name"] == "pg_link"
        missing = client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/link/ghost")
        assert (missing.status_code, missing.json()["errCode"]) == (400, "Cdm.0101")
        no_cluster = client.cdm("GET", "/clusters/nope/cdm/link/pg_link")
        assert (no_cluster.status_code, no_cluster.json()["errCode"]) == (400, "Cdm.0001")
        state = emulator.state()["links"]
        assert [link["name"] for link in state] == ["obs_link", "pg_link"] and PASSWORD not in json.dumps(state)
        assert emulator.stats()["requests"]["show_link"] == {"200": 1, "400": 2}
        with pytest.raises(EmulatorError, match=r"APIG\.0201"):
            emulator.define_link("bad", "no-such-connector")
        emulator.reset()
        assert client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/link/pg_link").json()["errCode"] == "Cdm.0101"
        assert client.cdm("GET", f"/clusters/{RUNNING_1}/cdm/link/obs_link").status_code == 200


def test_show_link_has_the_documented_quota_of_120_a_minute() -> None:
    with emulator_in_thread("--quotas", "--link", "obs_link=obs-connector") as emulator:
        client = SignedClient(emulator)
        path = f"/clusters/{RUNNING_1}/cdm/link/obs_link"
        assert all(client.cdm("GET", path).status_code == 200 for _ in range(120))
        assert client.cdm("GET", path).json()["error_code"] == "APIG.0308"


def test_strict_links_use_the_defined_links_connector() -> None:
    with emulator_in_thread("--strict-links") as emulator:
        backend = emulator.server.app.backend
        job = {"name": "j", "from-link-name": "pg_link", "from-connector-name": "obs-connector"}
        assert any("link does not exist" in problem for problem in backend.problems(job))
        emulator.define_link("pg_link", "generic-jdbc-connector")
        assert any("is a generic-jdbc-connector link, not 'obs-connector'" in p for p in backend.problems(job))
