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


def with_driver_inputs(definition: dict[str, Any], **inputs: str) -> dict[str, Any]:
    """``definition`` with driver inputs added, e.g. ``{"schedulerConfig.disposableType": "DELETE"}`` as
    ``with_driver_inputs(job, **{"schedulerConfig.disposableType": "DELETE"})``; each goes in its group."""
    configs = [dict(config, inputs=list(config["inputs"])) for config in definition["driver-config-values"]["configs"]]
    for name, value in inputs.items():
        group = name.split(".", 1)[0]
        config = next((c for c in configs if c["name"] == group), None)
        if config is None:
            config = {"name": group, "inputs": []}
            configs.append(config)
        config["inputs"].append({"name": name, "value": value})
    return {**definition, "driver-config-values": {"configs": configs}}
