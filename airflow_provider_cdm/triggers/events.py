"""CdmJobRunEventTrigger: CDM runs that Airflow did not start, as asset events (Airflow 3).

Use it in an asset watcher; every run of the watched jobs that ends in one of ``statuses`` (default
``SUCCEEDED``) fires one event, and Airflow turns each event into an asset event (its ``extra`` is
``{"from_trigger": true, "payload": <the run's figures>}``) and runs the DAGs scheduled on the asset::

    from airflow.sdk import Asset, AssetWatcher

    trigger = CdmJobRunEventTrigger(job_names=["orders_nightly"])
    orders = Asset("cdm://orders_nightly", watchers=[AssetWatcher(name="orders_nightly_runs", trigger=trigger)])

How a run is recognised as reported (docs/reference/assets.md): per job, a watermark of the last run
dealt with, kept in the watched asset's state store (Airflow 3.3+), else in an Airflow Variable, and
written a few seconds after the event was handed to the triggerer. Runs that ended before the watcher
first ran are not reported.

Like :class:`~airflow_provider_cdm.triggers.cdm.CdmJobStatusTrigger`, this module imports nothing of
the provider at module level; the arguments are checked when the trigger is built off an event loop
(at DAG parse), else when it starts, after the client modules were imported in a worker thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

try:  # Airflow 3: event triggers (asset watchers) have their own base
    from airflow.triggers.base import BaseEventTrigger as _EventTriggerBase
except ImportError:  # Airflow 2.11: no asset watchers; the class still imports (and does nothing useful)
    _EventTriggerBase = BaseTrigger  # type: ignore[misc,assignment,unused-ignore]

from airflow_provider_cdm.triggers import OffLoopImports, on_an_event_loop

if TYPE_CHECKING:
    from airflow_provider_cdm.api.statuses import JobStatus
    from airflow_provider_cdm.client.async_transport import AsyncTransport
    from airflow_provider_cdm.triggers._run_sweeps import Selection, Sweep, Watcher

DEFAULT_CONN_ID = "cdm_default"
DEFAULT_STATUSES = ("SUCCEEDED",)
SWEEPS_MODULE = "airflow_provider_cdm.triggers._run_sweeps"
RUN_MODULES = (
    SWEEPS_MODULE,
    "airflow_provider_cdm.hooks.cdm",
    "airflow_provider_cdm.client.async_transport",
    "airflow_provider_cdm.triggers.cdm",  # _open and the argument checks use its helpers
)
RUN_IMPORTS = OffLoopImports(*RUN_MODULES)
STREAM_KIND = "airflow_provider_cdm.cdm-job-runs"


@dataclasses.dataclass(frozen=True)
class _Arguments:
    job_names: tuple[str, ...] | None
    name_filter: str | None
    cluster_id: str | None
    statuses: tuple[str, ...]
    poll_interval: float
    cdm_conn_id: str
    hook_params: dict[str, Any]
    job_type: str
    watermark_key: str


class CdmJobRunEventTrigger(_EventTriggerBase):  # type: ignore[misc,valid-type,unused-ignore]
    """Fires one event per run of the watched CDM jobs that ends in one of ``statuses``.

    :param job_names: the jobs to watch (a name or a list of names); or
    :param name_filter: watch every job whose name CDM's job-list ``filter`` matches.
    :param cluster_id: the cluster; default: the connection's ``cluster_id`` extra.
    :param statuses: the end statuses that fire an event (default ``["SUCCEEDED"]``); a run ending in
        another status moves the watermark on silently.
    :param poll_interval: seconds between two looks at the job list (one call per 100 jobs; a run
        history read only when a job's list entry changed to a run after its watermark).
    :param cdm_conn_id: the CDM connection.
    :param hook_params: JSON-only ``CdmHook`` keyword overrides.
    :param job_type: ``NORMAL_JOB`` (default), ``BATCH_JOB`` or ``SCENARIO_JOB`` (the job list's ``jobType``).
    :param watermark_key: where the watermarks are kept (a key of the asset's state store, or a
        Variable's name); default: derived from the connection, cluster, jobs, job type and statuses,
        so a change of ``poll_interval`` or ``hook_params`` keeps them.

    The event's payload (JSON): ``job_name``, ``cluster_id``, ``submission_id``, ``status``,
    ``rows_read``, ``rows_written``, ``bytes_read``, ``bytes_written``, ``started_at``, ``ended_at``
    (ISO 8601), ``duration_s``, and ``error_summary`` for a failure status.
    """

    def __init__(
        self,
        *,
        job_names: Sequence[str] | str | None = None,
        name_filter: str | None = None,
        cluster_id: str | None = None,
        statuses: Sequence[str] | None = None,
        poll_interval: float = 60.0,
        cdm_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
        job_type: str = "NORMAL_JOB",
        watermark_key: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call,unused-ignore]
        self._given: dict[str, Any] = {
            "job_names": job_names,
            "name_filter": name_filter,
            "cluster_id": cluster_id,
            "statuses": statuses,
            "poll_interval": poll_interval,
            "cdm_conn_id": cdm_conn_id,
            "hook_params": hook_params,
            "job_type": job_type,
            "watermark_key": watermark_key,
        }
        self._arguments: _Arguments | None = None
        if not on_an_event_loop():  # at DAG parse: arguments that cannot work fail the parse
            self._checked()

    def _checked(self) -> _Arguments:
        if self._arguments is None:
            self._arguments = _check_arguments(**self._given)
        return self._arguments

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the checked arguments. On a running loop before :meth:`run` checked them (the
        triggerer's shared streams serialize a trigger when it subscribes), the arguments as given: the
        triggerer builds its triggers from this very method's output, and checking would import the
        client on the loop."""
        cls = type(self)
        if self._arguments is None and on_an_event_loop():
            return f"{cls.__module__}.{cls.__qualname__}", dict(self._given)
        arguments = self._checked()
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "job_names": list(arguments.job_names) if arguments.job_names is not None else None,
                "name_filter": arguments.name_filter,
                "cluster_id": arguments.cluster_id,
                "statuses": list(arguments.statuses),
                "poll_interval": arguments.poll_interval,
                "cdm_conn_id": arguments.cdm_conn_id,
                "hook_params": dict(arguments.hook_params),
                "job_type": arguments.job_type,
                "watermark_key": arguments.watermark_key,
            },
        )

    # --- without Airflow's shared streams (3.0-3.2): siblings of one loop still share one poll --------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Watch for ever; one event per run that ended in ``statuses`` since its job's watermark.

        The sweeps come from one poll per running loop and :meth:`shared_stream_key` (on 3.3+ the
        triggerer's own fan-out does this, and calls :meth:`filter_shared_stream` instead of ``run``).
        """
        await RUN_IMPORTS.ensure()
        sweeps_module = importlib.import_module(SWEEPS_MODULE)
        kwargs = self.serialize()[1]
        stream = sweeps_module.shared_sweeps(self.shared_stream_key(), lambda: type(self).open_shared_stream(kwargs))
        async for event in self.filter_shared_stream(stream):
            yield event

    # --- sibling triggers of one selection share one poll (Airflow 3.3+) -----------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Triggers of the same connection, cluster, jobs, job type and poll interval share one poll.

        Read by the triggerer on its loop before the trigger runs: built from the arguments as given
        (the triggerer's come from :meth:`serialize`, already checked), without importing the client.
        ``hook_params`` enter as a digest: they may hold credentials (a proxy URL), and Airflow logs the key.
        """
        given = self._given
        names = given["job_names"]
        if isinstance(names, str):
            names = [names]
        poll = given["poll_interval"]
        return (
            STREAM_KIND,
            str(given["cdm_conn_id"]),
            hashlib.sha256(
                json.dumps(dict(given["hook_params"] or {}), sort_keys=True, default=str).encode()
            ).hexdigest(),
            str(given["cluster_id"] or ""),
            tuple(sorted({str(name) for name in names})) if isinstance(names, Sequence) else (),
            str(given["name_filter"] or ""),
            str(given["job_type"]),
            float(poll) if isinstance(poll, (int, float)) and not isinstance(poll, bool) else str(poll),
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The sweeps of one selection, for every trigger of the group (only the key's fields are used)."""
        await RUN_IMPORTS.ensure()
        sweeps_module = importlib.import_module(SWEEPS_MODULE)
        arguments = cls(**kwargs)._checked()
        transport, selection = await _open(arguments)
        try:
            async for sweep in sweeps_module.sweeps(transport, selection, arguments.poll_interval):
                yield sweep
        finally:
            await transport.aclose()

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This trigger's events from the shared sweeps (its own watermarks, statuses and history reads)."""
        await RUN_IMPORTS.ensure()
        transport, selection = await _open(self._checked())
        try:
            async for event in self._events(transport, selection, shared_stream):
                yield event
        finally:
            await transport.aclose()

    async def _events(
        self, transport: AsyncTransport, selection: Selection, stream: AsyncIterator[Sweep]
    ) -> AsyncIterator[TriggerEvent]:
        watcher = await self._watcher(transport, selection)
        try:
            async for sweep in stream:
                async for payload in watcher.take(sweep):
                    yield TriggerEvent(payload)  # type: ignore[no-untyped-call,unused-ignore]
        finally:
            await watcher.close()

    async def _watcher(self, transport: AsyncTransport, selection: Selection) -> Watcher:
        from airflow_provider_cdm.triggers._run_sweeps import Watcher, choose_store

        arguments = self._checked()
        store = await choose_store(getattr(self, "asset_state_store", None), arguments.watermark_key)
        watcher = Watcher(selection, _statuses(arguments.statuses), transport, store)
        await watcher.open()
        return watcher


async def _open(arguments: _Arguments) -> tuple[AsyncTransport, Selection]:
    """A paced transport on the connection, and the selection with its cluster resolved."""
    from airflow_provider_cdm.client.async_transport import aload_settings
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.hooks.cdm import CdmHook
    from airflow_provider_cdm.triggers._run_sweeps import Selection, open_transport
    from airflow_provider_cdm.triggers.cdm import _amask_secret

    settings = await aload_settings(arguments.cdm_conn_id, hook=CdmHook, **arguments.hook_params)
    cluster = arguments.cluster_id or settings.cluster_id
    if not cluster:
        raise CdmConfigError(
            "cluster_id", f"not given, and connection {arguments.cdm_conn_id!r} has no cluster_id extra", "a cluster id"
        )
    transport = await open_transport(settings, on_token=_amask_secret)
    return transport, Selection(cluster, arguments.job_names, arguments.name_filter, arguments.job_type)


def _statuses(names: Sequence[str]) -> frozenset[JobStatus]:
    from airflow_provider_cdm.api.statuses import JobStatus

    return frozenset(status for name in names if (status := JobStatus.parse(name)) is not None)


# --- argument checks ------------------------------------------------------------------------------------


def _check_arguments(
    *,
    job_names: object,
    name_filter: object,
    cluster_id: object,
    statuses: object,
    poll_interval: object,
    cdm_conn_id: object,
    hook_params: object,
    job_type: object,
    watermark_key: object,
) -> _Arguments:
    from airflow_provider_cdm.api.job_schema import JOB_TYPES
    from airflow_provider_cdm.api.statuses import JobStatus
    from airflow_provider_cdm.client import operations as ops
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.triggers.cdm import _hook_params

    names: tuple[str, ...] | None = None
    if isinstance(job_names, str):
        job_names = [job_names]
    if job_names is not None:
        if not isinstance(job_names, Sequence) or not job_names:
            raise CdmConfigError("job_names", f"got {job_names!r}", "a job name or a non-empty list of them")
        names = tuple(sorted({ops.check_job_name(name, "job_names") for name in job_names}))
    if name_filter is not None and (not isinstance(name_filter, str) or not name_filter):
        raise CdmConfigError("name_filter", f"got {name_filter!r}", "a non-empty string")
    if (names is None) == (name_filter is None):
        raise CdmConfigError("job_names/name_filter", "give exactly one of them", "job names, or a name filter")
    if cluster_id is not None and (not isinstance(cluster_id, str) or not cluster_id):
        raise CdmConfigError("cluster_id", f"got {cluster_id!r}", "a cluster id or None")
    chosen = DEFAULT_STATUSES if statuses is None else ([statuses] if isinstance(statuses, str) else statuses)
    if not isinstance(chosen, Sequence) or not chosen:
        raise CdmConfigError("statuses", f"got {statuses!r}", "a non-empty list of CDM end statuses")
    parsed = [JobStatus.parse(name) for name in chosen]
    if any(status is None or not status.is_terminal for status in parsed):
        ends = sorted(status.value for status in JobStatus if status.is_terminal)
        raise CdmConfigError("statuses", f"got {statuses!r}", f"statuses a run ends in: any of {ends}")
    checked_statuses = tuple(sorted({status.value for status in parsed if status is not None}))
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
        raise CdmConfigError("poll_interval", f"got {poll_interval!r}", "a number of seconds > 0")
    if not isinstance(cdm_conn_id, str) or not cdm_conn_id:
        raise CdmConfigError("cdm_conn_id", f"got {cdm_conn_id!r}", "a connection id")
    if job_type not in JOB_TYPES:
        raise CdmConfigError("job_type", f"got {job_type!r}", f"one of {', '.join(JOB_TYPES)}")
    if watermark_key is not None and (not isinstance(watermark_key, str) or not watermark_key):
        raise CdmConfigError("watermark_key", f"got {watermark_key!r}", "a non-empty string or None")
    identity = json.dumps([cdm_conn_id, cluster_id, names, name_filter, job_type, checked_statuses])
    key = watermark_key or f"cdm_job_runs.{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
    return _Arguments(
        job_names=names,
        name_filter=name_filter,
        cluster_id=cluster_id,
        statuses=checked_statuses,
        poll_interval=float(poll_interval),
        cdm_conn_id=cdm_conn_id,
        hook_params=_hook_params(hook_params),
        job_type=str(job_type),
        watermark_key=key,
    )


__all__ = ["CdmJobRunEventTrigger"]
