"""Dataset naming per connector (pure data: no OpenLineage needed)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cdm.client.links import Link
from airflow_provider_cdm.job_definition import apply_variables
from airflow_provider_cdm.lineage.naming import (
    DESTINATION,
    SOURCE,
    DatasetName,
    Side,
    database_address,
    datasets,
    job_side,
    needs_link,
    statistics,
)
from tests.jobs import job_definition

CLUSTER = "c-1"


def jdbc(**config: str) -> Link:
    return Link("pg", "generic-jdbc-connector", config)


def side(connector: str, link_name: str = "the_link", **inputs: str) -> Side:
    return Side(connector, link_name, inputs)


@pytest.mark.parametrize(
    ("config", "namespace", "name"),
    [
        (
            {"databaseType": "POSTGRESQL", "host": "10.0.0.5", "port": "5432", "database": "sales"},
            "postgres://10.0.0.5:5432",
            "sales.public.orders",
        ),
        (
            {"databaseType": "MYSQL", "host": "db", "port": "3307", "database": "ignored"},
            "mysql://db:3307",
            "public.orders",
        ),
        (
            {"databaseType": "SQLSERVER", "host": "mssql", "database": "erp"},
            "sqlserver://mssql:1433",
            "erp.public.orders",
        ),
        (
            {"databaseType": "ORACLE", "host": "ora", "port": "1521", "database": "ORCL"},
            "oracle://ora:1521",
            "ORCL.public.orders",
        ),
        (
            {"databaseType": "DWS", "host": "dws", "port": "8000", "database": "dw"},
            "dws://dws:8000",
            "dw.public.orders",
        ),
        ({"databaseType": "Some DB", "host": "h", "port": "1"}, "somedb://h:1", "public.orders"),
    ],
)
def test_jdbc_links_by_database_type_host_and_port(config: dict[str, str], namespace: str, name: str) -> None:
    found = datasets(
        side("generic-jdbc-connector", schemaName="public", tableName="orders"), SOURCE, jdbc(**config), CLUSTER
    )
    assert found == [DatasetName(namespace, name)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "jdbc:postgresql://etl:***@pg.example.com:6432/sales?sslmode=require&password=***",
            ("postgres", "pg.example.com:6432", "sales"),
        ),
        ("jdbc:mysql://db.example.com/shop", ("mysql", "db.example.com:3306", "shop")),
        ("jdbc:sqlserver://mssql:1433;databaseName=erp;user=u", ("sqlserver", "mssql:1433", "erp")),
        ("jdbc:oracle:thin:@//ora.example.com:1522/ORCLPDB", ("oracle", "ora.example.com:1522", "ORCLPDB")),
        ("jdbc:oracle:thin:@ora:1521:ORCL", ("oracle", "ora:1521", "ORCL")),
        ("jdbc:db2://db2host:50001/BANK", ("db2", "db2host:50001", "BANK")),
    ],
)
def test_a_jdbc_url_wins_over_host_and_port_and_leaves_user_and_parameters_out(
    url: str, expected: tuple[str, str, str]
) -> None:
    link = jdbc(url=url, databaseType="MYSQL", host="elsewhere", port="1")
    assert database_address(link) == expected


def test_a_jdbc_link_without_a_host_is_named_by_the_link() -> None:
    found = datasets(side("generic-jdbc-connector", "pg_sales", schemaName="s", tableName="t"), SOURCE, jdbc(), CLUSTER)
    assert found == [DatasetName("cdm://c-1/pg_sales", "s.t")]
    unread = datasets(side("generic-jdbc-connector", "pg sales", tableName="t"), DESTINATION, None, "c 1")
    assert unread == [DatasetName("cdm://c%201/pg%20sales", "t")]


def test_a_jdbc_source_without_a_table_names_no_dataset() -> None:
    custom_sql = side("generic-jdbc-connector", sql="select 1")
    assert datasets(custom_sql, SOURCE, jdbc(host="h", databaseType="MYSQL"), CLUSTER) == []


def test_obs_by_bucket_and_each_source_path() -> None:
    source = side("obs-connector", bucketName="raw", inputDirectory="/in/a.csv|in/b/ | /")
    assert datasets(source, SOURCE, None, CLUSTER) == [
        DatasetName("obs://raw", "in/a.csv"),
        DatasetName("obs://raw", "in/b"),
        DatasetName("obs://raw", "/"),
    ]
    destination = side("obs-connector", bucketName="lake", outputDirectory="/orders/2026-11-22/")
    assert datasets(destination, DESTINATION, None, CLUSTER) == [DatasetName("obs://lake", "orders/2026-11-22")]
    assert not needs_link(destination)


def test_hdfs_by_the_links_namenode_uri_else_by_the_link() -> None:
    hdfs = side("hdfs-connector", "hdfs_link", outputDirectory="user/hive/out/")
    with_uri = Link(
        "hdfs_link", "hdfs-connector", {"uri": "hdfs://nn1.example.com:8020", "hadoopType": "Apache Hadoop"}
    )
    assert datasets(hdfs, DESTINATION, with_uri, CLUSTER) == [
        DatasetName("hdfs://nn1.example.com:8020", "/user/hive/out")
    ]
    mrs = Link("hdfs_link", "hdfs-connector", {"host": "10.1.1.1", "hadoopType": "MRS"})  # the Manager's address
    assert datasets(hdfs, DESTINATION, mrs, CLUSTER) == [DatasetName("cdm://c-1/hdfs_link", "user/hive/out/")]


@pytest.mark.parametrize(("connector", "port"), [("ftp-connector", "21"), ("sftp-connector", "22")])
def test_ftp_and_sftp_by_server_and_port(connector: str, port: str) -> None:
    scheme = connector.split("-")[0]
    server = Link("f", connector, {"server": "files.example.com"})
    found = datasets(side(connector, inputDirectory="/exports/orders.csv"), SOURCE, server, CLUSTER)
    assert found == [DatasetName(f"{scheme}://files.example.com:{port}", "/exports/orders.csv")]


@pytest.mark.parametrize(
    ("connector", "inputs", "name"),
    [
        ("hive-connector", {"hive": "hive", "database": "default", "table": "orders"}, "default.orders"),
        ("dli-connector", {"queue": "q", "database": "db", "table": "t"}, "db.t"),
        ("mongodb-connector", {"database": "shop", "collectionName": "orders"}, "shop.orders"),
        ("elasticsearch-connector", {"index": "logs", "type": "doc"}, "logs"),
        ("dms-kafka-connector", {"topic": "orders"}, "orders"),
    ],
)
def test_other_connectors_are_named_by_their_link_and_object(connector: str, inputs: dict[str, str], name: str) -> None:
    assert datasets(side(connector, "l", **inputs), DESTINATION, None, CLUSTER) == [DatasetName("cdm://c-1/l", name)]


def test_job_side_reads_the_prefixed_inputs_of_each_side_with_variables_applied() -> None:
    definition: dict[str, Any] = job_definition("orders")
    definition["to-config-values"]["configs"][0]["inputs"][1]["value"] = "/orders/${date}/"
    definition = apply_variables(definition, {"date": "2026-11-22"})
    source, destination = job_side(definition, SOURCE), job_side(definition, DESTINATION)
    assert (source.connector, source.link_name) == ("generic-jdbc-connector", "pg_link")
    assert source.inputs == {"schemaName": "public", "tableName": "orders", "whereClause": "order_date = '2026-11-22'"}
    assert destination.inputs == {"bucketName": "warehouse", "outputDirectory": "/orders/2026-11-22/"}
    assert needs_link(source) and not needs_link(destination)


def test_statistics_map_cdm_counters_to_openlineage_fields() -> None:
    counters = {
        "ROWS_READ": 10,
        "BYTES_READ": 100,
        "FILES_READ": 0,
        "ROWS_WRITTEN": 9,
        "BYTES_WRITTEN": 90,
        "TOTAL_SIZE": 5,
    }
    assert statistics(counters) == ({"rowCount": 10, "size": 100, "fileCount": 0}, {"rowCount": 9, "size": 90})
    assert statistics({}) == ({}, {})


def test_dataset_names_carry_no_credentials() -> None:
    signed = "https://bob:pw@files.example.com/out/f.csv?AccessKeyId=AK123&Signature=s3cr3t#frag"
    found = datasets(side("http-connector", "web", inputDirectory=signed), SOURCE, None, CLUSTER)
    assert found == [DatasetName("cdm://c-1/web", "https://files.example.com/out/f.csv")]
    assert not any(secret in repr(found) for secret in ("bob", "pw@", "AK123", "s3cr3t"))
    flagged = datasets(side("ftp-connector", "f", inputDirectory="/in;password=hunter2"), SOURCE, None, CLUSTER)
    assert "hunter2" not in repr(flagged)


def test_a_bad_hdfs_uri_names_the_datasets_by_the_link() -> None:
    hdfs = side("hdfs-connector", "hdfs_link", outputDirectory="/out/")
    for uri in ("hdfs://nn:port", "hdfs://[nn"):
        broken = Link("hdfs_link", "hdfs-connector", {"uri": uri})
        assert datasets(hdfs, DESTINATION, broken, CLUSTER) == [DatasetName("cdm://c-1/hdfs_link", "/out/")]
