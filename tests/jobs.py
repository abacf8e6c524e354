"""CDM job definitions for tests: the raw API shape, as CDM documents it."""

from __future__ import annotations

from typing import Any


def job_definition(name: str, table: str = "orders", where: str = "order_date = '${date}'") -> dict[str, Any]:
    """A JDBC-to-OBS job; the where clause holds characters that CDM percent-encodes on read-back."""

    def configs(group: str, **inputs: str) -> dict[str, Any]:
        return {
            "configs": [{"name": group, "inputs": [{"name": f"{group}.{k}", "value": v} for k, v in inputs.items()]}]
        }

    return {
        "name": name,
        "job_type": "NORMAL_JOB",
        "from-connector-name": "generic-jdbc-connector",
        "from-link-name": "pg_link",
        "from-config-values": configs("fromJobConfig", schemaName="public", tableName=table, whereClause=where),
        "to-connector-name": "obs-connector",
        "to-link-name": "obs_link",
        "to-config-values": configs("toJobConfig", bucketName="warehouse", outputDirectory=f"/{table}/"),
        "driver-config-values": configs("throttlingConfig", numExtractors="2", numLoaders="1"),
    }
