"""A cluster's live status as the clock moves: start, stop and restart (``api/cluster_actions.py``).

``POST /v1.1/{project_id}/clusters/{cluster_id}/action`` asks for one action; the cluster then shows the
action's passing status (920 starting, 910 stopping, 500 restarting) for the transition time
(``--cluster-transition-s``, or a script's ``duration_s``) and ends at its target (200, 900, 200), or at
300 (failed) when the cluster's script says so. An action the status does not allow
(``ActionRule.accepted_from``), or one sent while another is under way, is refused with
``CDM_CLUSTER_ACTION_REFUSED``. Nothing has a thread: the backend applies each change at its own instant
when it is next accessed (``models.CdmBackend._now``), between the job lifecycle's events.

What happens to runs (decisions; CDM documents only the stop modes):

- an IMMEDIATELY stop fails every active run of the cluster (queued ones too) when the stop begins;
- a GRACEFULLY stop shows 910 at once and takes no new starts; queued runs fail at once, the runs under way
  may end for up to ``delayTime`` seconds (-1 or absent: until they have all ended); the runs still
  active then fail, and only then the transition time begins;
- a restart fails the active runs when it begins, after ``restartDelayTime`` seconds (the cluster stays
  200 until then, ``actions`` already says ``REBOOTING``); mode and level change nothing else;
- a status set through the admin API that cannot run jobs fails the active runs at once.

A failed run reads FAILED with an error summary naming the cluster and what became of it; it is not a
stop by the user, so a ``RETRY_TRIPLE`` job's retry is armed, and is skipped unless the cluster runs
again when it is due (``lifecycle.py``).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping, MutableSequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.cluster_actions import (
    DELAY_NONE,
    RESTART_LEVELS,
    RESTART_MODES,
    STOP_MODES,
    ActionRule,
    ClusterAction,
    action_of,
)
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.emulator.batch import BatchRun
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.runs import JsonDict, Outcome, Run

if TYPE_CHECKING:
    from airflow_provider_cdm.emulator.models import Cluster

DEFAULT_TRANSITION_S = 2.0
# What show-cluster's ``actions`` holds while an action is under way (the reference's example says
# REBOOTING for a restart; the other two words are assumed).
ACTION_WORDS = {ClusterAction.START: "STARTING", ClusterAction.STOP: "STOPPING", ClusterAction.RESTART: "REBOOTING"}
_FAILED_BY = {ClusterAction.STOP: "was stopped", ClusterAction.RESTART: "was restarted"}
SCRIPT_OUTCOMES = ("ok", "failed")
BEGAN, ENDED = "began", "ended"  # what ClusterState.change did


def status_words(status: ClusterStatus) -> str:
    """``Stopped (900)``."""
    return f"{status.label} ({status.value})"


def not_running_reason(cluster_id: str, status: ClusterStatus) -> str:
    """Why a cluster takes no run: ``cluster X is Stopped (900), not running``."""
    return f"cluster {cluster_id} is {status_words(status)}, not running"


def _bad(detail: str) -> ApiError:
    return ApiError(errors.APIG_REQUEST_ERROR, detail=detail)


def _integer(parameters: Mapping[str, Any], name: str, default: int, minimum: int) -> int:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _choice(parameters: Mapping[str, Any], name: str, default: str, allowed: Iterable[str]) -> str:
    value = parameters.get(name, default)
    if value not in allowed:
        raise _bad(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class ActionRequest:
    """One action as asked: ``graceful`` (a GRACEFULLY stop) waits for the runs up to ``wait_s`` seconds
    (None: until they end); ``delay_s`` is a restart's ``restartDelayTime``."""

    action: ClusterAction
    graceful: bool = False
    wait_s: float | None = None
    delay_s: float = 0.0

    @classmethod
    def from_body(cls, body: object) -> ActionRequest:
        """Parse the action body; APIG.0201 naming the bad value otherwise."""
        found = action_of(body) if isinstance(body, Mapping) else None
        if found is None:
            keys = sorted(body) if isinstance(body, Mapping) else type(body).__name__
            names = ", ".join(action.value for action in ClusterAction)
            raise _bad(f"the body must hold exactly one action ({names}) as an object, got {keys}")
        action, parameters = found
        if action is ClusterAction.STOP:
            mode = _choice(parameters, "stopMode", STOP_MODES[0], STOP_MODES)
            delay = _integer(parameters, "delayTime", DELAY_NONE, DELAY_NONE)
            graceful = mode == "GRACEFULLY"
            return cls(action, graceful=graceful, wait_s=None if delay == DELAY_NONE else float(delay))
        if action is ClusterAction.RESTART:
            _choice(parameters, "restartMode", RESTART_MODES[0], RESTART_MODES)
            _choice(parameters, "restartLevel", RESTART_LEVELS[0], RESTART_LEVELS)
            return cls(action, delay_s=float(_integer(parameters, "restartDelayTime", 0, 0)))
        return cls(action)


@dataclass(frozen=True)
class ClusterScript:
    """What the cluster's next action does: end in 300 (``failed``), and/or take ``duration_s``."""

    failed: bool = False
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.duration_s is not None and (not math.isfinite(self.duration_s) or self.duration_s < 0):
            raise ValueError("duration_s must be a finite number >= 0")

    @classmethod
    def from_json(cls, data: object) -> ClusterScript:
        """The admin API's ``{"outcome": "ok"|"failed", "duration_s": 1.5}``; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the cluster script must be a JSON object")
        unknown = set(data) - {"outcome", "duration_s"}
        if unknown:
            raise ValueError(f"unknown cluster script fields: {sorted(unknown)}")
        outcome = data.get("outcome", "ok")
        if outcome not in SCRIPT_OUTCOMES:
            raise ValueError(f"outcome must be one of {list(SCRIPT_OUTCOMES)}, got {outcome!r}")
        duration = data.get("duration_s")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))):
            raise ValueError(f"duration_s must be a number, got {duration!r}")
        return cls(outcome == "failed", None if duration is None else float(duration))

    def to_json(self) -> JsonDict:
        return {"outcome": "failed" if self.failed else "ok", "duration_s": self.duration_s}


@dataclass
class Transition:
    """An action under way. Its status change proper begins at ``phase_at`` (None while a graceful stop
    waits for ``waiting`` runs, until ``wait_until`` at the latest) and lasts ``duration_s``."""

    rule: ActionRule
    job_id: str
    begun_at: float
    duration_s: float
    fails: bool
    phase_at: float | None
    wait_until: float | None = None
    waiting: tuple[Run, ...] = ()
    phase_begun: bool = False

    @property
    def action(self) -> ClusterAction:
        return self.rule.action

    def next_at(self) -> float | None:
        """When the next change is due: the wait's end, the phase's start, or the action's end."""
        if self.phase_at is None:
            ends = [run.ends_at() for run in self.waiting]
            known = [end for end in ends if end is not None]
            runs_end = max(known, default=self.begun_at) if len(known) == len(ends) else None
            due = [at for at in (runs_end, self.wait_until) if at is not None]
            return min(due) if due else None
        if not self.phase_begun:
            return self.phase_at
        return self.phase_at + self.duration_s

    def to_json(self) -> JsonDict:
        return {
            "action": self.action.value,
            "job_id": self.job_id,
            "begun_at": self.begun_at,
            "phase_at": self.phase_at,
            "ends_at": None if self.phase_at is None else self.phase_at + self.duration_s,
            "wait_until": self.wait_until,
            "waiting_for": [run.submission_id for run in self.waiting if self.phase_at is None],
            "fails": self.fails,
        }


class ClusterState:
    """One cluster's live status, the action under way, its script for the next action, and counts."""

    def __init__(self, cluster_id: str, status: ClusterStatus, at: float) -> None:
        self.cluster_id = cluster_id
        self.configured = status
        self.status = status
        self.changed_at = at
        self.transition: Transition | None = None
        self.script: ClusterScript | None = None
        self.actions: Counter[str] = Counter()

    def refuse_unless_accepted(self, action: ClusterAction) -> None:
        """CDM_CLUSTER_ACTION_REFUSED unless the status allows the action and no other is under way."""
        rule = action.rule
        if self.status in rule.accepted_from and self.transition is None:
            return
        label = self.status.label
        if self.transition is not None:
            label += f", {ACTION_WORDS[self.transition.action].lower()}"
        raise ApiError(
            errors.CDM_CLUSTER_ACTION_REFUSED,
            cluster=self.cluster_id,
            action=rule.verb,
            status=self.status.value,
            label=label,
        )

    def begin(
        self, request: ActionRequest, at: float, transition_s: float, job_id: str, active: Iterable[Run] = ()
    ) -> Transition:
        """Start an action at ``at`` (refused as :meth:`refuse_unless_accepted` says); ``active``: the runs a
        graceful stop waits for. The next action's script is used up."""
        self.refuse_unless_accepted(request.action)
        script, self.script = self.script or ClusterScript(), None
        duration = transition_s if script.duration_s is None else script.duration_s
        transition = Transition(request.action.rule, job_id, at, duration, script.failed, phase_at=at + request.delay_s)
        if request.graceful:
            transition.phase_at = None
            transition.waiting = tuple(active)
            transition.wait_until = None if request.wait_s is None else at + request.wait_s
            self._set(transition.rule.passing, at)
        self.transition = transition
        self.actions[request.action.value] += 1
        return transition

    def next_at(self) -> float | None:
        return None if self.transition is None else self.transition.next_at()

    def change(self, at: float) -> str:
        """Apply the change due at ``at`` (see :meth:`Transition.next_at`): ``began`` (the status change
        proper begins: the runs still under way must fail) or ``ended`` (the target, or 300)."""
        transition = self.transition
        if transition is None:
            raise RuntimeError(f"cluster {self.cluster_id} has no action under way")
        if not transition.phase_begun:
            transition.phase_at = at if transition.phase_at is None else transition.phase_at  # a wait is over
            transition.phase_begun = True
            self._set(transition.rule.passing, at)
            return BEGAN
        self.transition = None
        self._set(ClusterStatus.FAILED if transition.fails else transition.rule.target, at)
        return ENDED

    def force(self, status: ClusterStatus, at: float) -> None:
        """Set a status at once (the admin API); any action under way is dropped."""
        self.transition = None
        self._set(status, at)

    def fields(self) -> JsonDict:
        """The live part of show-cluster's answer."""
        return {
            "status": self.status.value,
            "statusDetail": self.status.label,
            "isFrozen": "1" if self.status is ClusterStatus.FROZEN else "0",
            "actions": [] if self.transition is None else [ACTION_WORDS[self.transition.action]],
        }

    def snapshot(self) -> JsonDict:
        """The admin view: live and configured status, the action under way, the script, the counts."""
        return {
            "status": self.status.value,
            "status_detail": self.status.label,
            "configured_status": self.configured.value,
            "changed_at": self.changed_at,
            "transition": None if self.transition is None else self.transition.to_json(),
            "script": None if self.script is None else self.script.to_json(),
            "action_counts": dict(self.actions),
        }

    def _set(self, status: ClusterStatus, at: float) -> None:
        if status is not self.status:
            self.status, self.changed_at = status, at


def failure_summary(cluster_id: str, action: ClusterAction | None, status: ClusterStatus) -> str:
    """The error summary of a run the cluster ended."""
    what = _FAILED_BY[action] if action in _FAILED_BY else f"became {status_words(status)}"
    return f"The job failed because cluster {cluster_id} {what}."


def active_runs(cluster: Cluster, at: float) -> list[Run]:
    """The cluster's runs under way at ``at`` that take part in it (a batch's subjobs, not the batch's own
    run, which ends with them), queued ones included."""
    runs = (job.runs[-1] for job in cluster.jobs.values() if job.runs)
    return [run for run in runs if not isinstance(run, BatchRun) and run.is_active(at)]


def next_change(clusters: Iterable[Cluster], now: float) -> tuple[float, Cluster] | None:
    """The earliest cluster change due at or before ``now``, and its cluster."""
    due = [(at, cluster) for cluster in clusters if (at := cluster.state.next_at()) is not None and at <= now]
    return min(due, key=lambda item: item[0]) if due else None


def apply_change(cluster: Cluster, at: float, log: MutableSequence[JsonDict]) -> None:
    """Apply the cluster's change due at ``at``; when the status change proper begins, the runs still
    under way fail."""
    transition = cluster.state.transition
    if transition is None:
        raise RuntimeError(f"cluster {cluster.configured.id} has no action under way")
    if cluster.state.change(at) == BEGAN:
        fail_runs(cluster, active_runs(cluster, at), at, transition.action, log)
    log.append(event(cluster, at, "cluster_status", action=transition.action.value))


def fail_runs(
    cluster: Cluster, runs: Iterable[Run], at: float, action: ClusterAction | None, log: MutableSequence[JsonDict]
) -> None:
    """End each run at ``at`` as FAILED, saying what the cluster did (``action``, or its status when None);
    a queued one leaves the queue.

    The run's script is replaced by one that fails at ``at``, so that its status, dates and end follow as
    for any failed run and the lifecycle frees its slot at its end."""
    summary = failure_summary(cluster.configured.id, action, cluster.state.status)
    failed = list(runs)
    ids = {id(run) for run in failed}
    cluster.queue = type(cluster.queue)(queued for queued in cluster.queue if id(queued) not in ids)
    for run in failed:
        if run.started_at is None:
            run.started_at = at
        run.script = dataclasses.replace(
            run.script, outcome=Outcome.FAILED, duration_s=at - run.started_at, error_summary=summary, count=None
        )
        log.append(event(cluster, at, "failed_by_cluster", job_name=run.job_name, submission_id=run.submission_id))


def event(cluster: Cluster, at: float, name: str, **detail: object) -> JsonDict:
    """An entry of the admin view's event log (the lifecycle's)."""
    return {"at": at, "cluster": cluster.configured.id, "event": name, "status": cluster.state.status.value, **detail}
