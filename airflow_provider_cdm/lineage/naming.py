"""Which datasets a CDM job reads and writes, named after OpenLineage's dataset naming conventions.

Pure data, no OpenLineage import. A side of a job (source ``from``, destination ``to``) is its
connector, its link and its ``fromJobConfig.*`` / ``toJobConfig.*`` inputs. The namespace comes from
where the data lives: the link's address for databases, HDFS and FTP/SFTP servers (resolved through
the show-link API), the bucket for OBS. When neither the link nor the connector tells the address,
the namespace is the link itself, ``cdm://{cluster_id}/{link_name}``: stable, if not shared with
other tools. Names come from the job's inputs (schema and table, database and table, bucket paths,
directories, topics). Nothing here reads a credential: links arrive without them
(:class:`~airflow_provider_cdm.client.links.Link`) and only addresses are taken from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_cdm.api.job_schema import FROM_CONFIG_GROUP, TO_CONFIG_GROUP
from airflow_provider_cdm.api.link_schema import scrub
from airflow_provider_cdm.client.links import Link

SOURCE, DESTINATION = "from", "to"
JDBC = "generic-jdbc-connector"
FALLBACK_SCHEME = "cdm"
PATH_SEPARATOR = "|"  # CDM's separator of several source paths in one input

# CDM's linkConfig.databaseType (and JDBC URL sub-protocols) -> OpenLineage scheme and default port.
_DATABASES: dict[str, tuple[str, int | None]] = {
    "postgresql": ("postgres", 5432),
    "postgres": ("postgres", 5432),
    "mysql": ("mysql", 3306),
    "sqlserver": ("sqlserver", 1433),
    "oracle": ("oracle", 1521),
    "db2": ("db2", 50000),
    "dws": ("dws", 8000),
    "saphana": ("hana", 30015),
    "sap": ("hana", 30015),
}
# Databases whose tables are named database.table (CDM's schemaName is the database there).
_TWO_PART = frozenset({"mysql"})
_SCHEME_CHARS = re.compile(r"[^a-z0-9+.-]")

# Connectors whose namespace comes from the link (the others need no show-link call).
LINK_ADDRESSED = frozenset({JDBC, "hdfs-connector", "ftp-connector", "sftp-connector"})


@dataclass(frozen=True)
class DatasetName:
    """One dataset as OpenLineage names it."""

    namespace: str
    name: str


@dataclass(frozen=True)
class Side:
    """One end of a job: its connector, link and job inputs (short names, values as CDM would use them)."""

    connector: str | None
    link_name: str
    inputs: Mapping[str, str]


def job_side(definition: Mapping[str, Any], side: str) -> Side:
    """The ``from`` or ``to`` end of a raw Job (config values already decoded and variables applied)."""
    group = FROM_CONFIG_GROUP if side == SOURCE else TO_CONFIG_GROUP
    inputs: dict[str, str] = {}
    values = definition.get(f"{side}-config-values")
    configs = values.get("configs") if isinstance(values, Mapping) else None
    for config in configs if isinstance(configs, list) else ():
        items = config.get("inputs") if isinstance(config, Mapping) else None
        for item in items if isinstance(items, list) else ():
            name, value = (item.get("name"), item.get("value")) if isinstance(item, Mapping) else (None, None)
            if isinstance(name, str) and name.startswith(f"{group}.") and isinstance(value, str) and value.strip():
                inputs[name[len(group) + 1 :]] = value.strip()
    connector = definition.get(f"{side}-connector-name")
    return Side(
        connector=connector if isinstance(connector, str) else None,
        link_name=str(definition.get(f"{side}-link-name") or ""),
        inputs=inputs,
    )


def needs_link(side: Side) -> bool:
    """Whether the namespace of this side can only come from its link's configuration."""
    return side.connector in LINK_ADDRESSED


def datasets(side: Side, which: str, link: Link | None, cluster_id: str) -> list[DatasetName]:
    """The datasets of one side (``which`` is SOURCE or DESTINATION); empty when the job names no object."""
    names = [safe_name(name) for name in _object_names(side, which)]
    if not names:
        return []
    connector = side.connector
    if connector == "obs-connector" and side.inputs.get("bucketName"):
        return [DatasetName(f"obs://{side.inputs['bucketName']}", _key(name)) for name in names]
    if connector == JDBC and link is not None:
        address = database_address(link)
        if address is not None:
            scheme, authority, database = address
            return [DatasetName(f"{scheme}://{authority}", _table_name(scheme, database, side.inputs))]
    if connector == "hdfs-connector" and link is not None:
        namenode = _hdfs_authority(link)
        if namenode is not None:
            return [DatasetName(f"hdfs://{namenode}", _path(name)) for name in names]
    if connector in ("ftp-connector", "sftp-connector") and link is not None and link.value("server"):
        scheme = connector.split("-", 1)[0]
        port = link.value("port") or ("22" if scheme == "sftp" else "21")
        return [DatasetName(f"{scheme}://{link.value('server')}:{port}", _path(name)) for name in names]
    namespace = f"{FALLBACK_SCHEME}://{quote(cluster_id, safe='')}/{quote(side.link_name, safe='')}"
    return [DatasetName(namespace, name) for name in names]


def database_address(link: Link) -> tuple[str, str, str | None] | None:
    """(scheme, host:port, database) of a JDBC link: from a JDBC URL among its inputs, else from its
    ``databaseType``, ``host``, ``port`` and ``database``; None when it names no host."""
    for value in link.config.values():
        if value.strip().lower().startswith("jdbc:"):
            parsed = _parse_jdbc_url(value.strip())
            if parsed is not None:
                return parsed
    host, kind = link.value("host"), (link.value("databaseType") or "").lower()
    if host is None:
        return None
    scheme, default_port = _DATABASES.get(kind, (_SCHEME_CHARS.sub("", kind) or "jdbc", None))
    port = link.value("port") or (str(default_port) if default_port else None)
    return scheme, f"{host}:{port}" if port else host, link.value("database")


def _parse_jdbc_url(url: str) -> tuple[str, str, str | None] | None:
    """``jdbc:postgresql://h:5432/db?...``, ``jdbc:sqlserver://h:1433;databaseName=db``,
    ``jdbc:oracle:thin:@//h:1521/service`` or ``@h:1521:SID``; user info and parameters are dropped."""
    rest = url[len("jdbc:") :]
    sub, _, remainder = rest.partition(":")
    sub = sub.lower()
    if sub == "oracle":
        found = re.search(r"@(?://)?([^:/?]+)(?::(\d+))?[:/]?([^?;/]*)", remainder)
        if not found:
            return None
        host, port, database = found.group(1), found.group(2) or "1521", found.group(3) or None
        return "oracle", f"{host}:{port}", database
    main, *properties = remainder.split(";")
    try:
        parts = urlsplit(f"{sub}:{main}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    scheme, default_port = _DATABASES.get(sub, (_SCHEME_CHARS.sub("", sub) or "jdbc", None))
    database = parts.path.strip("/") or None
    for prop in properties:
        key, _, value = prop.partition("=")
        if key.strip().lower() in ("databasename", "database") and value.strip():
            database = value.strip()
    port = port or default_port
    return scheme, f"{host}:{port}" if port else host, database


def _table_name(scheme: str, database: str | None, inputs: Mapping[str, str]) -> str:
    schema, table = inputs.get("schemaName"), inputs.get("tableName")
    if scheme in _TWO_PART:
        return ".".join(part for part in (schema or database, table) if part)
    return ".".join(part for part in (database, schema, table) if part)


def _hdfs_authority(link: Link) -> str | None:
    for name in ("uri", "hdfsUri", "fsDefaultName"):
        value = link.value(name)
        if value and value.lower().startswith("hdfs://"):
            try:
                parts = urlsplit(value)
                port = parts.port
            except ValueError:  # e.g. hdfs://nn:port or an unclosed [: no address from it
                continue
            if parts.hostname:
                return f"{parts.hostname}:{port}" if port else parts.hostname
    return None


def safe_name(name: str) -> str:
    """A dataset name with no credentials: secrets scrubbed, and a URL's user info, query and fragment
    (signed URLs carry their signature there) dropped."""
    name = scrub(name)
    if "://" not in name:
        return name
    try:
        parts = urlsplit(name)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL after all: cut what could be a query
        return name.split("?", 1)[0]
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _object_names(side: Side, which: str) -> list[str]:
    """What the job reads or writes on this side, as names within its namespace (possibly several)."""
    inputs = side.inputs
    if side.connector == JDBC:
        table = inputs.get("tableName")
        return [".".join(part for part in (inputs.get("schemaName"), table) if part)] if table else []
    directory = inputs.get("inputDirectory" if which == SOURCE else "outputDirectory")
    if directory:
        paths = [path.strip() for path in directory.split(PATH_SEPARATOR) if path.strip()]
        bucket = inputs.get("bucketName")
        if bucket and side.connector != "obs-connector":
            return [f"{bucket}/{_key(path)}" for path in paths]
        return paths
    for first, second in (("schemaName", "tableName"), ("database", "table"), ("database", "collectionName")):
        if inputs.get(second):
            return [".".join(part for part in (inputs.get(first), inputs[second]) if part)]
    for key in ("index", "topic", "topicsList", "table", "tableName"):
        if inputs.get(key):
            return [item.strip() for item in inputs[key].split(",") if item.strip()]
    return []


def _key(path: str) -> str:
    """An object key: no leading or trailing slash (the bucket's root is ``/``)."""
    return path.strip().strip("/") or "/"


def _path(path: str) -> str:
    """A file system path: absolute, no trailing slash."""
    return "/" + path.strip().strip("/")


def statistics(counters: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """(read, written) as OpenLineage's statistics facets name them (rowCount, size, fileCount)."""

    def pick(**names: str) -> dict[str, int]:
        found = {facet: counters.get(counter) for facet, counter in names.items()}
        return {key: value for key, value in found.items() if isinstance(value, int) and not isinstance(value, bool)}

    return (
        pick(rowCount="ROWS_READ", size="BYTES_READ", fileCount="FILES_READ"),
        pick(rowCount="ROWS_WRITTEN", size="BYTES_WRITTEN", fileCount="FILES_WRITTEN"),
    )
