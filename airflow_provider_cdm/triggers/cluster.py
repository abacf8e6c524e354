"""CdmClusterStatusTrigger: waits in the triggerer until a CDM cluster (or one of several) reaches a status.

The trigger only reads (show-cluster, one call per cluster per poll): the task sent any action before it
deferred, so a trigger rebuilt from :meth:`CdmClusterStatusTrigger.serialize` after a triggerer restart
simply resumes watching, and a kill has nothing to undo. Each answer is judged by
:meth:`ClusterWait.judge` (``client.cluster_wait``), the one place that decides what a cluster status
means for a wait. Exactly one event is fired::

    {"status": "success" | "failed" | "timeout" | "error", "cluster_ids": [...],
     "cluster_id": the cluster that got there (or None), "clusters": [Cluster.to_json(), ...], "message": "..."}

As in :mod:`airflow_provider_cdm.triggers.cdm`: nothing of the provider is imported at module level or
when the triggerer builds the trigger on its event loop; the client modules are imported in a worker
thread when ``run()`` starts, and the arguments are checked then (at defer time, in the worker, they are
checked in the constructor). Calls are paced by the triggerer's process-wide limiter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cdm.triggers import OffLoopImports, on_an_event_loop

if TYPE_CHECKING:
    from airflow_provider_cdm.client.async_transport import AsyncTransport
    from airflow_provider_cdm.client.cluster_wait import ClusterWait
    from airflow_provider_cdm.client.models import Cluster
    from airflow_provider_cdm.client.settings import CdmSettings

DEFAULT_CONN_ID = "cdm_default"  # CdmHook.default_conn_name (the hook is not imported here)
# What the wait uses, imported in a worker thread before it starts.
RUN_MODULES = (
    "airflow_provider_cdm.triggers.cdm",
    "airflow_provider_cdm.client.async_transport",
    "airflow_provider_cdm.client.cluster_wait",
    "airflow_provider_cdm.client.operations",
    "airflow_provider_cdm.client.rate_limit",
    "airflow_provider_cdm.hooks.cdm",
    "airflow_provider_cdm.options",
    "airflow_provider_cdm.progress",
)
RUN_IMPORTS = OffLoopImports(*RUN_MODULES)


@dataclasses.dataclass(frozen=True)
class _Arguments:
    cluster_ids: list[str]
    wait: ClusterWait
    end_time: float
    poll_interval: float
    cdm_conn_id: str
    hook_params: dict[str, Any]


class CdmClusterStatusTrigger(BaseTrigger):
    """Polls show-cluster until a cluster reaches the wait's target, all fail, or the deadline passes.

    :param cluster_ids: the clusters; done as soon as one is there, failed only when all failed.
    :param wait: ``ClusterWait.to_json()``: target and failure statuses, the action (for the words and a
        restart's rule).
    :param end_time: wall-clock deadline, epoch seconds (``time.time()`` based).
    :param poll_interval: seconds between reads.
    :param cdm_conn_id: the CDM connection.
    :param hook_params: JSON-only ``CdmHook`` keyword overrides.
    """

    def __init__(
        self,
        *,
        cluster_ids: list[str],
        wait: Mapping[str, Any],
        end_time: float,
        poll_interval: float = 10.0,
        cdm_conn_id: str = DEFAULT_CONN_ID,
        hook_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call,unused-ignore]
        self._given: dict[str, Any] = {
            "cluster_ids": cluster_ids,
            "wait": wait,
            "end_time": end_time,
            "poll_interval": poll_interval,
            "cdm_conn_id": cdm_conn_id,
            "hook_params": hook_params,
        }
        self._arguments: _Arguments | None = None
        self._transport: AsyncTransport | None = None
        self._secrets: tuple[str, ...] = ()
        if not on_an_event_loop():
            self._checked()  # at defer time: arguments that cannot work fail the task before it waits

    def _checked(self) -> _Arguments:
        if self._arguments is None:
            self._arguments = _check_arguments(**self._given)
        return self._arguments

    @property
    def cluster_ids(self) -> list[str]:
        return list(self._checked().cluster_ids)

    @property
    def wait(self) -> ClusterWait:
        return self._checked().wait

    @property
    def end_time(self) -> float:
        return self._checked().end_time

    @property
    def poll_interval(self) -> float:
        return self._checked().poll_interval

    @property
    def cdm_conn_id(self) -> str:
        return self._checked().cdm_conn_id

    @property
    def hook_params(self) -> dict[str, Any]:
        return dict(self._checked().hook_params)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        arguments = self._checked()
        return (
            f"{cls.__module__}.{cls.__qualname__}",
            {
                "cluster_ids": list(arguments.cluster_ids),
                "wait": arguments.wait.to_json(),
                "end_time": arguments.end_time,
                "poll_interval": arguments.poll_interval,
                "cdm_conn_id": arguments.cdm_conn_id,
                "hook_params": dict(arguments.hook_params),
            },
        )

    # --- the wait ----------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a cluster is there, all failed, or the deadline passed; yields exactly one event."""
        last: dict[str, Cluster] = {}
        try:
            await RUN_IMPORTS.ensure()
            event = await self._watch(self._checked(), last)
        except Exception as err:
            message = f"Could not watch {self._describe()}: {self._redact(str(err))}"
            self.log.error("%s", message)
            event = self._event("error", None, last, message)
        yield TriggerEvent(event)  # type: ignore[no-untyped-call,unused-ignore]

    async def _watch(self, arguments: _Arguments, last: dict[str, Cluster]) -> dict[str, Any]:
        from airflow_provider_cdm.client import operations as ops
        from airflow_provider_cdm.client.cluster_wait import ClusterVerdict, cluster_words, judge_any
        from airflow_provider_cdm.client.exceptions import CdmApiError
        from airflow_provider_cdm.progress import ProgressLog
        from airflow_provider_cdm.triggers.cdm import _Expired, _within

        transport = await self._get_transport(arguments)
        settings = transport.settings
        read_budget = settings.connect_timeout_s + settings.read_timeout_s
        passed = dict.fromkeys(arguments.cluster_ids, False)
        progress = ProgressLog(self.log)
        wait = arguments.wait
        while True:
            for cluster_id in arguments.cluster_ids:
                budget = max(0.0, arguments.end_time - time.time()) + read_budget
                try:
                    last[cluster_id] = await _within(budget, transport.execute(ops.show_cluster(cluster_id)))
                except _Expired:
                    self.log.info("cluster %s: no answer in time; trying again at the next poll", cluster_id)
                except CdmApiError as err:
                    if not err.transient:
                        raise
                    self.log.info("cluster %s: status unreadable (%s); trying again at the next poll", cluster_id, err)
            if all(cluster_id in last for cluster_id in arguments.cluster_ids):
                decisions = []
                for cluster_id in arguments.cluster_ids:
                    cluster = last[cluster_id]
                    passed[cluster_id] = passed[cluster_id] or wait.passes(cluster.status)
                    decisions.append(
                        wait.judge(
                            cluster.status,
                            cluster=cluster_words(cluster.id or cluster_id, cluster.name),
                            raw=cluster.raw.get("status"),
                            passed=passed[cluster_id],
                            now=time.time(),
                        )
                    )
                verdict, index, words = judge_any(decisions)
                progress.report(tuple(str(last[c].raw.get("status")) for c in arguments.cluster_ids), "%s", words)
                if verdict is ClusterVerdict.DONE and index is not None:
                    return self._event("success", arguments.cluster_ids[index], last, words)
                if verdict is ClusterVerdict.FAILED:
                    return self._event("failed", None, last, words)
            remaining = arguments.end_time - time.time()
            if remaining <= 0:
                deadline = datetime.fromtimestamp(arguments.end_time, tz=timezone.utc).isoformat(timespec="seconds")
                return self._event(
                    "timeout", None, last, f"{self._describe()}: not there before the deadline {deadline}"
                )
            await asyncio.sleep(min(arguments.poll_interval, remaining))

    async def _get_transport(self, arguments: _Arguments) -> AsyncTransport:
        """This trigger's transport, paced by the triggerer's process-wide limiter."""
        if self._transport is None:
            from airflow_provider_cdm.client.async_transport import AsyncTransport
            from airflow_provider_cdm.client.rate_limit import ROLE_TRIGGERER, shared_limiter
            from airflow_provider_cdm.options import client_pacing, triggerer_quota_share
            from airflow_provider_cdm.triggers.cdm import _amask_secret

            settings = await self._load_settings(arguments)
            self._secrets = settings.secrets()
            limiter = (
                shared_limiter(settings, triggerer_quota_share(), role=ROLE_TRIGGERER) if client_pacing() else None
            )
            self._transport = AsyncTransport(settings, on_token=_amask_secret, limiter=limiter)
        return self._transport

    async def _load_settings(self, arguments: _Arguments) -> CdmSettings:
        from airflow_provider_cdm.client.async_transport import aload_settings
        from airflow_provider_cdm.hooks.cdm import CdmHook

        return await aload_settings(arguments.cdm_conn_id, hook=CdmHook, **arguments.hook_params)

    async def cleanup(self) -> None:
        """Close the HTTP client (nothing else: a cluster wait has nothing to undo)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    # --- helpers -----------------------------------------------------------------------------------

    def _ids(self) -> list[Any]:
        if self._arguments is not None:
            return list(self._arguments.cluster_ids)
        given = self._given["cluster_ids"]
        return list(given) if isinstance(given, (list, tuple)) else [given]

    def _describe(self) -> str:
        ids = self._ids()
        return f"cluster {ids[0]}" if len(ids) == 1 else f"clusters {', '.join(map(str, ids))}"

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _event(self, status: str, cluster_id: str | None, last: Mapping[str, Cluster], message: str) -> dict[str, Any]:
        return {
            "status": status,
            "cluster_ids": self._ids(),
            "cluster_id": cluster_id,
            "clusters": [cluster.to_json() for cluster in last.values()],
            "message": message,
        }


def _check_arguments(
    *,
    cluster_ids: object,
    wait: object,
    end_time: object,
    poll_interval: object,
    cdm_conn_id: object,
    hook_params: object,
) -> _Arguments:
    from airflow_provider_cdm.client.cluster_wait import ClusterWait
    from airflow_provider_cdm.client.exceptions import CdmConfigError
    from airflow_provider_cdm.client.settings import check_path_segment
    from airflow_provider_cdm.triggers.cdm import _hook_params, _number

    if not isinstance(cluster_ids, (list, tuple)) or not cluster_ids:
        raise CdmConfigError("cluster_ids", f"got {cluster_ids!r}", "a non-empty list of cluster ids")
    ids = [check_path_segment("cluster_ids", cluster_id) for cluster_id in cluster_ids]
    checked_interval = _number("poll_interval", poll_interval)
    if checked_interval <= 0:
        raise CdmConfigError("poll_interval", f"got {poll_interval!r}", "a number of seconds > 0")
    if not isinstance(cdm_conn_id, str) or not cdm_conn_id:
        raise CdmConfigError("cdm_conn_id", f"got {cdm_conn_id!r}", "a connection id")
    return _Arguments(
        cluster_ids=ids,
        wait=ClusterWait.from_json(wait),
        end_time=_number("end_time", end_time),
        poll_interval=checked_interval,
        cdm_conn_id=cdm_conn_id,
        hook_params=_hook_params(hook_params),
    )
