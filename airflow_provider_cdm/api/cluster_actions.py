"""CDM's cluster actions (start, stop, restart): their bodies, and the statuses each moves a cluster through.

``POST /v1.1/{project_id}/clusters/{cluster_id}/action`` takes one of ``{"start": {}}``,
``{"stop": {"stopMode": ..., "delayTime": ...}}`` or ``{"restart": {...}}`` and answers ``{"jobId": [...]}``
(a string for restart). The cluster then goes 920 (starting) -> 200, 910 (stopping) -> 900, or 500
(restarting) -> 200; 300 and 303 are failures (Huawei's Terraform provider,
``resource_huaweicloud_cdm_cluster_action.go``, polls show-cluster the same way). The client and the
emulator both read the rules from here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_cdm.api.statuses import ClusterStatus

STOP_MODES = ("IMMEDIATELY", "GRACEFULLY")
# The API reference spells the forced mode FORCELY; Huawei's Terraform provider documents FORCIBLY. Both are sent
# as written.
RESTART_MODES = ("IMMEDIATELY", "FORCELY", "FORCIBLY", "SOFTLY")
RESTART_LEVELS = ("SERVICE", "VM")
DELAY_NONE = -1  # stop's delayTime for "no limit": a graceful stop waits until the active runs end


class ClusterAction(str, enum.Enum):
    """An action's key in the request body."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"

    @property
    def rule(self) -> ActionRule:
        return ACTION_RULES[self]


@dataclass(frozen=True)
class ActionRule:
    """What one action does to a cluster's status.

    ``passing``: the status the cluster shows while the action is under way; ``target``: where it ends;
    ``accepted_from``: the statuses the action may be sent in. A restart has no "already done" status:
    every restart restarts.
    """

    action: ClusterAction
    passing: ClusterStatus
    target: ClusterStatus
    accepted_from: frozenset[ClusterStatus]

    @property
    def verb(self) -> str:
        return self.action.value

    def reached(self, status: ClusterStatus | None) -> bool:
        """The cluster is where the action takes it."""
        return status is self.target

    def under_way(self, status: ClusterStatus | None) -> bool:
        """The cluster is on its way to the action's target."""
        return status is self.passing


ACTION_RULES: dict[ClusterAction, ActionRule] = {
    ClusterAction.START: ActionRule(
        ClusterAction.START, ClusterStatus.STARTING, ClusterStatus.NORMAL, frozenset({ClusterStatus.STOPPED})
    ),
    ClusterAction.STOP: ActionRule(
        ClusterAction.STOP, ClusterStatus.STOPPING, ClusterStatus.STOPPED, frozenset({ClusterStatus.NORMAL})
    ),
    ClusterAction.RESTART: ActionRule(
        ClusterAction.RESTART, ClusterStatus.RESTARTING, ClusterStatus.NORMAL, frozenset({ClusterStatus.NORMAL})
    ),
}


def start_body() -> dict[str, Any]:
    return {ClusterAction.START.value: {}}


def stop_body(stop_mode: str = "IMMEDIATELY", delay_time: int = DELAY_NONE) -> dict[str, Any]:
    """``stopMode`` IMMEDIATELY or GRACEFULLY; ``delayTime`` the most seconds a graceful stop waits for active runs
    (-1: until they end)."""
    return {ClusterAction.STOP.value: {"stopMode": stop_mode, "delayTime": delay_time}}


def restart_body(
    restart_delay_time: int = 0, restart_mode: str = "IMMEDIATELY", restart_level: str = "SERVICE"
) -> dict[str, Any]:
    """The reference's restart body; ``type``, ``instance`` and ``group`` are fixed for a whole-cluster restart."""
    return {
        ClusterAction.RESTART.value: {
            "restartDelayTime": restart_delay_time,
            "restartMode": restart_mode,
            "restartLevel": restart_level,
            "type": "cdm",
            "instance": "",
            "group": "",
        }
    }


def action_of(body: Mapping[str, Any]) -> tuple[ClusterAction, Mapping[str, Any]] | None:
    """The one action a request body asks for, with its parameters; None for anything else."""
    if len(body) != 1:
        return None
    ((key, parameters),) = body.items()
    try:
        action = ClusterAction(key)
    except ValueError:
        return None
    return (action, parameters) if isinstance(parameters, Mapping) else None


def job_ids_of(answer: object) -> list[str]:
    """The ``jobId`` of an action's answer as a list (restart's answer gives one string)."""
    if not isinstance(answer, Mapping):
        return []
    value = answer.get("jobId")
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return []
