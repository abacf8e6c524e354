"""A start task's outlets: each asset (dataset on Airflow 2) event carries the run's figures in its ``extra``.

Airflow's own mechanism: ``context["outlet_events"][asset].extra`` (Airflow 3, and 2.10+ with
datasets) becomes the extra of the event Airflow records for that outlet when the task succeeds.
A task that waited for its run gives the figures (``client.run_watch.FIGURE_KEYS``); a task that did
not wait (``wait_for_completion=False``) only job, cluster and submission id: the run has not ended.
Aliases are left alone (their events are the user's to add).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_cdm.client.run_watch import result_figures, started_figures

ALIAS_CLASSES = frozenset({"AssetAlias", "DatasetAlias"})

log = logging.getLogger(__name__)


def record_outlet_extras(
    context: Mapping[str, Any], operator: Any, result: dict[str, Any], *, waited: bool
) -> dict[str, Any]:
    """Put the run's figures into each outlet's event extra (keys the task's code set stay); returns ``result``."""
    outlets = getattr(operator, "outlets", None) or []
    events = context.get("outlet_events") if outlets else None
    if events is None:
        return result
    extra = result_figures(result) if waited else started_figures(result)
    for outlet in outlets:
        if type(outlet).__name__ in ALIAS_CLASSES:
            continue
        try:
            accessor = events[outlet]
        except (KeyError, TypeError, ValueError):
            continue
        except Exception as err:  # an AssetRef Airflow cannot resolve: the task succeeded all the same
            log.warning("Outlet %r: its event gets no run figures (Airflow could not resolve it: %s)", outlet, err)
            continue
        accessor.extra = {**dict(accessor.extra or {}), **extra}
    return result
