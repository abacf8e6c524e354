"""OpenLineage objects for one CDM run: input and output datasets with their statistics, and run facets.

Imports the OpenLineage provider and client at module level: import this module only where lineage is
asked for (``get_openlineage_facets_on_complete``), and expect ImportError without the provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attr
from airflow.providers.common.compat.openlineage.facet import (
    ExternalQueryRunFacet,
    InputDataset,
    OutputDataset,
    OutputStatisticsOutputDatasetFacet,
    RunFacet,
)
from airflow.providers.openlineage.extractors import OperatorLineage

from airflow_provider_cdm.lineage.naming import DatasetName

try:
    from openlineage.client.generated.input_statistics_input_dataset import InputStatisticsInputDatasetFacet
except ImportError:  # an OpenLineage client older than the input statistics facet
    InputStatisticsInputDatasetFacet = None  # type: ignore[assignment,misc,unused-ignore]

EXTERNAL_SOURCE = "huaweicloud-cdm"
RUN_FACET = "cdm_run"


@attr.define
class CdmRunFacet(RunFacet):
    """The CDM run behind the task: job, cluster, submission id, final status and every counter."""

    jobName: str  # noqa: N815 - camelCase, as OpenLineage's own facets name their fields
    clusterId: str  # noqa: N815
    submissionId: int | None  # noqa: N815
    status: str | None
    counters: dict[str, int] = attr.field(factory=dict)


def operator_lineage(
    inputs: Sequence[DatasetName],
    outputs: Sequence[DatasetName],
    *,
    read: Mapping[str, int],
    written: Mapping[str, int],
    run: Mapping[str, Any],
) -> OperatorLineage[Any, Any]:
    """The lineage of a run. Read statistics go on the input only when there is one (CDM counts a job's
    reads as a whole); written statistics on the output (a job writes one place)."""
    input_facets: dict[str, Any] = {}
    if read and len(inputs) == 1 and InputStatisticsInputDatasetFacet is not None:
        input_facets["inputStatistics"] = InputStatisticsInputDatasetFacet(
            rowCount=read.get("rowCount"), size=read.get("size"), fileCount=read.get("fileCount")
        )
    output_facets: dict[str, Any] = {}
    if written and len(outputs) == 1:
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
            rowCount=written.get("rowCount"), size=written.get("size"), fileCount=written.get("fileCount")
        )
    run_facets: dict[str, Any] = {
        RUN_FACET: CdmRunFacet(
            jobName=str(run.get("job_name") or ""),
            clusterId=str(run.get("cluster_id") or ""),
            submissionId=run.get("submission_id"),
            status=run.get("status"),
            counters=dict(run.get("counters") or {}),
        )
    }
    if run.get("submission_id") is not None:
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=str(run["submission_id"]), source=EXTERNAL_SOURCE
        )
    return OperatorLineage(
        inputs=[InputDataset(item.namespace, item.name, inputFacets=dict(input_facets)) for item in inputs],
        outputs=[OutputDataset(item.namespace, item.name, outputFacets=dict(output_facets)) for item in outputs],
        run_facets=run_facets,
    )
