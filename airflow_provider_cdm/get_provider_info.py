"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

Cheap on purpose: Airflow calls this in every CLI and server process, and a malformed dict breaks
every ``airflow`` command on 3.3.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_cdm import __version__

_INTEGRATION = "Huawei Cloud CDM"
_PACKAGE = "airflow_provider_cdm"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-cdm",
        "name": _INTEGRATION,
        "description": "Huawei Cloud CDM (Cloud Data Migration, DataArts Migration): create, start, "
        "watch, stop and delete CDM jobs from Airflow; with a local CDM emulator for tests.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://support.huaweicloud.com/intl/en-us/api-dataartsstudio/",
                "tags": ["huaweicloud"],
            }
        ],
        "operators": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.operators.cdm"]}],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.sensors.cdm"]}],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.hooks.cdm"]}],
        "triggers": [{"integration-name": _INTEGRATION, "python-modules": [f"{_PACKAGE}.triggers.cdm"]}],
        "connection-types": [
            {
                "connection-type": "huaweicloud_cdm",
                "hook-class-name": f"{_PACKAGE}.hooks.cdm.CdmHook",
                "hook-name": _INTEGRATION,
            }
        ],
    }
