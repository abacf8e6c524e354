"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

Cheap on purpose: Airflow calls this in every CLI and server process, and a malformed dict breaks
every ``airflow`` command on 3.3.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from airflow_provider_cdm import __version__

_INTEGRATION = "Huawei Cloud CDM"
_PACKAGE = "airflow_provider_cdm"
CONNECTION_TYPE = "huaweicloud_cdm"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


# The connection form's extra fields, each stored in the connection's extra under its own name (the keys
# client/settings.py reads). Airflow 3.2+ renders them from here; the hook turns them into WTForms fields
# for older versions.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "region": _text("Region", "Region id, e.g. cn-north-4; the default CDM and IAM endpoints derive from it"),
    "project_id": _text("Project ID", "The project of the region, in every CDM path (required)"),
    "auth_type": _text(
        "Auth type",
        "aksk: AK/SK (temporary ones with a security token); password: IAM user name and password; "
        "token: a ready IAM token (the Token field)",
        enum=["aksk", "password", "token"],
        default="aksk",
    ),
    "domain": _text("IAM account (domain)", "The IAM account (domain) name, for auth type password"),
    "cluster_id": _text("Default cluster ID", "Used when a task names no cluster"),
    "iam_endpoint": _text("IAM endpoint", "For auth type password; default https://iam.{region}.myhuaweicloud.com"),
    "security_token": _text("Security token", "The security token of temporary AK/SK", format="password"),
    "token": _text("Token", "An IAM token (X-Auth-Token), for auth type token", format="password"),
    "verify": _text("TLS verify", "true (default), false, or the path of a CA bundle"),
    "console_url": _text(
        "Console URL", "Base address of the Huawei Cloud console for task links; default [cdm] console_url"
    ),
}
SECRET_FIELDS = frozenset(name for name, field in CONN_FIELDS.items() if field["schema"].get("format") == "password")

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {
        "host": "CDM endpoint (optional)",
        "login": "Access key (AK) or IAM user",
        "password": "Secret key (SK) or password",
    },
    "placeholders": {
        "host": "https://cdm.{region}.myhuaweicloud.com (derived from the region when empty)",
        "extra": '{"retry": {"max_attempts": 5}, "timeout": 60, "proxies": {}}',
        "region": "cn-north-4",
    },
}


# airflow.cfg [cdm]: the defaults are the code's own (tests/unit/test_provider_config.py keeps them equal;
# importing those modules here would make every Airflow process pay for them).
CONFIG: dict[str, Any] = {
    "cdm": {
        "description": "Huawei Cloud CDM provider (airflow-provider-cdm).",
        "options": {
            "triggerer_quota_share": {
                "description": "Share of each documented per-user CDM API quota that one triggerer process "
                "allows itself for its shared pollers (0 < share <= 1). With two or more triggerers, or other "
                "clients on the same credentials, each process lowers its rate when CDM answers 429 and raises "
                "it again slowly, so they settle within the quota together.",
                "version_added": "0.2.0",
                "type": "float",
                "example": "0.8",
                "default": "0.6",
            },
            "worker_quota_share": {
                "description": "Share of each documented per-user CDM API quota that one worker process (a task, "
                "or a hook in any process) allows itself (0 < share <= 1); it adapts to 429s as the "
                "triggerer's does. A throttled call keeps trying (300 s by default) and a throttled wait keeps "
                "waiting: throttling costs a task time, never the task.",
                "version_added": "0.2.0",
                "type": "float",
                "example": "0.3",
                "default": "0.2",
            },
            "quota_share": {
                "description": "The former name of triggerer_quota_share, read when that option is not set.",
                "version_added": "0.1.0",
                "type": "float",
                "example": "0.5",
                "default": None,
            },
            "client_pacing": {
                "description": "Pace CDM calls within the quota shares (default true). Turn it off only for a CDM "
                "that enforces no quotas, such as the provider's emulator without --quotas.",
                "version_added": "0.2.0",
                "type": "boolean",
                "example": "False",
                "default": "True",
            },
            "progress_log_interval": {
                "description": "Seconds between progress lines at INFO while a wait's status does not change (a "
                "change is always logged at once; the lines in between go to DEBUG).",
                "version_added": "0.2.0",
                "type": "float",
                "example": "300",
                "default": "60",
            },
            "console_url": {
                "description": "Base address of the Huawei Cloud console for the tasks' CDM console links, "
                "when the connection does not set console_url (other Huawei Cloud sites have their own).",
                "version_added": "0.1.0",
                "type": "string",
                "example": "https://console-intl.huaweicloud.com",
                "default": "https://console.huaweicloud.com",
            },
            "console_job_url_template": {
                "description": "The console link's address; placeholders {console_url}, {region}, {project_id}, "
                "{cluster_id} and {job_name}. Empty: the built-in one.",
                "version_added": "0.1.0",
                "type": "string",
                "example": "{console_url}/cdm/?region={region}#/cdm/clusters/{cluster_id}/jobs?jobName={job_name}",
                "default": None,
            },
        },
    }
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-cdm",
        "name": _INTEGRATION,
        "description": "Huawei Cloud CDM (Cloud Data Migration, DataArts Migration): create, start, "
        "watch, stop and delete CDM jobs, start and stop CDM clusters, and turn CDM's own runs into asset "
        "events from Airflow; with a local CDM emulator for tests.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://support.huaweicloud.com/intl/en-us/api-dataartsstudio/",
                "tags": ["huaweicloud"],
            }
        ],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.operators.cdm", f"{_PACKAGE}.operators.cluster"],
            }
        ],
        "sensors": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [f"{_PACKAGE}.sensors.cdm", f"{_PACKAGE}.sensors.cluster"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.cdm"]}],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    f"{_PACKAGE}.triggers.cdm",
                    f"{_PACKAGE}.triggers.cluster",
                    f"{_PACKAGE}.triggers.events",
                ],
            }
        ],
        "extra-links": [f"{_PACKAGE}.console.CdmConsoleLink"],
        "config": deepcopy(CONFIG),
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": f"{_PACKAGE}.hooks.cdm.CdmHook",
                "hook-name": _INTEGRATION,
                "conn-fields": deepcopy(CONN_FIELDS),
                "ui-field-behaviour": deepcopy(UI_FIELD_BEHAVIOUR),
            }
        ],
    }
