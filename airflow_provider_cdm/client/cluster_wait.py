"""Judging a cluster's status during a wait: there, still on its way, or failed, with the words to say.

Pure (no I/O, no Airflow): the cluster operators, the cluster sensor, the job operators' opt-in wait for
a running cluster and the cluster trigger all judge each show-cluster answer with :meth:`ClusterWait.judge`.
What each action does to a status comes from :mod:`airflow_provider_cdm.api.cluster_actions`, what a
status means from :class:`~airflow_provider_cdm.api.statuses.ClusterStatus`.

A restart ends where it began (200, Normal): a 200 read right after the restart was sent may be the
cluster before it began restarting. So a restart counts as done once the cluster showed a status on its
way (500, restarting) and is back at 200, or, if no read ever caught it restarting, once it has shown
200 for :data:`RESTART_SETTLE_S` past the restart's delay.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_cdm.api.cluster_actions import ClusterAction
from airflow_provider_cdm.api.statuses import CLUSTER_FAILURE_STATUSES, ClusterStatus
from airflow_provider_cdm.client.exceptions import CdmConfigError

# A restart whose cluster was never seen restarting is taken as done this long after its delay ran out.
RESTART_SETTLE_S = 60.0
# What a wait for a running cluster (and every action) fails on: a failed cluster, one never created, a
# frozen one (a billing state: no waiting changes it).
ACTION_FAILURES: frozenset[ClusterStatus] = CLUSTER_FAILURE_STATUSES | {ClusterStatus.FROZEN}
_ING = {ClusterAction.START: "starting", ClusterAction.STOP: "stopping", ClusterAction.RESTART: "restarting"}
_STATUS_EXPECTED = (
    "a CDM cluster status: a code such as 200 or '900', a ClusterStatus, or a name such as NORMAL or STOPPED"
)


class Step(str, enum.Enum):
    """What a cluster task does next, given the cluster's status (:func:`next_step`)."""

    DONE = "done"  # the cluster is where the action takes it: nothing to send
    WAIT = "wait"  # it is on its way there: wait for it
    SEND = "send"  # the action can be sent now
    SETTLE = "settle"  # on its way somewhere else (920 for a stop, 910 or 500 for a start): wait, then decide again
    FAIL = "fail"  # no action gets it anywhere (300, 303, 800), or a status this provider does not know


def next_step(action: ClusterAction, status: ClusterStatus | None, *, sent: bool = False) -> Step:
    """The one rule of idempotency: there already, on its way, can be sent, must settle first, or cannot.

    ``sent``: this task's restart was taken (a restart under way is then its own, not one to settle).
    """
    rule = action.rule
    if status is None or status in ACTION_FAILURES:
        return Step.FAIL
    restart = action is ClusterAction.RESTART
    if not restart and rule.reached(status):
        return Step.DONE
    if rule.under_way(status):
        return Step.WAIT if sent or not restart else Step.SETTLE
    if status.is_transitional:
        return Step.SETTLE
    return Step.SEND if status in rule.accepted_from else Step.FAIL


class ClusterVerdict(str, enum.Enum):
    DONE = "done"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class ClusterDecision:
    """The verdict on one status answer, and the sentence that says it (for a log line or an error)."""

    verdict: ClusterVerdict
    message: str


def cluster_words(cluster_id: str, name: str = "") -> str:
    """``cluster cdm-nightly (c0000000-...)``; ``cluster c0000000-...`` when CDM gave no name."""
    return f"cluster {name} ({cluster_id})" if name and name != cluster_id else f"cluster {cluster_id}"


def status_words(status: ClusterStatus | None, raw: object = None) -> str:
    """``Stopped (900)``; ``an unknown status '123'`` for a code this provider does not know."""
    if status is not None:
        return f"{status.label} ({status.value})"
    return "no status" if raw is None or raw == "" else f"an unknown status {str(raw)!r}"


def parse_cluster_status(value: object, setting: str = "target_statuses") -> ClusterStatus:
    """A status given as a member, a code (``200``, ``"900"``) or a name (``"NORMAL"``, ``"stopped"``)."""
    if isinstance(value, ClusterStatus):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        parsed = ClusterStatus.parse(value)
    elif isinstance(value, str):
        text = value.strip()
        parsed = ClusterStatus.parse(text) if text.isdigit() else ClusterStatus.__members__.get(text.upper())
    else:
        parsed = None
    if parsed is None:
        raise CdmConfigError(setting, f"{value!r} is not a CDM cluster status", _STATUS_EXPECTED)
    return parsed


def parse_cluster_statuses(values: object, setting: str = "target_statuses") -> frozenset[ClusterStatus]:
    """One status or a collection of them (see :func:`parse_cluster_status`); an empty collection is refused."""
    if isinstance(values, (str, int, ClusterStatus)):
        return frozenset({parse_cluster_status(values, setting)})
    if not isinstance(values, Collection) or isinstance(values, Mapping):
        raise CdmConfigError(setting, f"got {values!r}", f"a list of statuses, each {_STATUS_EXPECTED}")
    parsed = frozenset(parse_cluster_status(value, setting) for value in values)
    if not parsed:
        raise CdmConfigError(setting, "is empty", "at least one status")
    return parsed


def _codes(statuses: Collection[ClusterStatus]) -> list[str]:
    return sorted(status.value for status in statuses)


@dataclass(frozen=True)
class ClusterWait:
    """What ends a wait on a cluster's status (``targets``), what fails it (``failures``), and for which action.

    ``must_pass``: a target counts only once the cluster showed a transitional status (a restart), or
    from ``pass_by`` on (epoch seconds) without one.
    """

    targets: frozenset[ClusterStatus]
    failures: frozenset[ClusterStatus]
    action: ClusterAction | None = None
    must_pass: bool = False
    pass_by: float | None = None

    @classmethod
    def for_action(cls, action: ClusterAction, *, sent_at: float | None = None, delay_s: float = 0) -> ClusterWait:
        """The wait after ``action``: its rule's target; fails on 300, 303 and 800.

        ``sent_at`` (epoch seconds) is when a restart was sent; without it (no restart sent by this task) a
        restart's target needs no transitional status first.
        """
        rule = action.rule
        restart = action is ClusterAction.RESTART and sent_at is not None
        return cls(
            targets=frozenset({rule.target}),
            failures=ACTION_FAILURES - {rule.target},
            action=action,
            must_pass=restart,
            pass_by=sent_at + max(0.0, delay_s) + RESTART_SETTLE_S if restart and sent_at is not None else None,
        )

    @classmethod
    def settled(cls) -> ClusterWait:
        """Until the cluster is Normal (200) or Stopped (900), whichever: what a task waits for before it decides
        on its action when another one is under way (a stop meeting a start); fails on 300, 303 and 800."""
        return cls(targets=frozenset({ClusterStatus.NORMAL, ClusterStatus.STOPPED}), failures=ACTION_FAILURES)

    @classmethod
    def running(cls) -> ClusterWait:
        """A job's wait for its cluster: Normal (200); fails on 300, 303 and 800."""
        return cls(targets=frozenset({ClusterStatus.NORMAL}), failures=ACTION_FAILURES)

    @classmethod
    def for_statuses(cls, targets: object = None, failures: object = None) -> ClusterWait:
        """The sensor's wait: ``targets`` (default 200) and ``failures`` (default 300 and 303, minus the targets)."""
        wanted = parse_cluster_statuses(targets) if targets is not None else frozenset({ClusterStatus.NORMAL})
        if failures is None:
            failing = CLUSTER_FAILURE_STATUSES - wanted
        else:
            failing = parse_cluster_statuses(failures, "failure_statuses")
            both = wanted & failing
            if both:
                raise CdmConfigError(
                    "failure_statuses", f"{_codes(both)} are target statuses too", "statuses outside target_statuses"
                )
        return cls(targets=wanted, failures=failing)

    @staticmethod
    def passes(status: ClusterStatus | None) -> bool:
        """Whether ``status`` shows the cluster on its way somewhere (what a restart must show before 200)."""
        return status is not None and status.is_transitional

    def judge(
        self,
        status: ClusterStatus | None,
        *,
        cluster: str,
        raw: object = None,
        passed: bool = False,
        now: float | None = None,
    ) -> ClusterDecision:
        """The verdict on one answer; ``cluster`` is :func:`cluster_words`, ``raw`` the status as CDM sent it,
        ``passed`` whether an earlier (or this) answer of this wait showed a transitional status, ``now``
        epoch seconds (for a restart's ``pass_by``)."""
        shown = status_words(status, raw)
        if status in self.targets:
            if not self.must_pass or passed or self.passes(status):
                return ClusterDecision(ClusterVerdict.DONE, self._done_words(cluster, shown))
            if self.pass_by is not None and now is not None and now >= self.pass_by:
                return ClusterDecision(
                    ClusterVerdict.DONE,
                    f"{cluster} is {shown}; no read caught it restarting, so it is taken as restarted",
                )
            return ClusterDecision(ClusterVerdict.WAITING, f"{cluster} is {shown}; waiting for it to begin restarting")
        if status is not None and status in self.failures:
            return ClusterDecision(ClusterVerdict.FAILED, self._failure_words(cluster, status))
        return ClusterDecision(ClusterVerdict.WAITING, f"{cluster} is {shown}; {self._waiting_words()}")

    def _done_words(self, cluster: str, shown: str) -> str:
        if self.action is ClusterAction.START:
            return f"{cluster} started: {shown}"
        if self.action is ClusterAction.STOP:
            return f"{cluster} stopped: {shown}"
        if self.action is ClusterAction.RESTART:
            return f"{cluster} restarted: {shown}"
        return f"{cluster} is {shown}"

    def _waiting_words(self) -> str:
        if self.action is not None:
            return f"waiting for it to {self.action.value}"
        wanted = " or ".join(status_words(status) for status in sorted(self.targets, key=lambda s: s.value))
        return f"waiting for {wanted}"

    def _failure_words(self, cluster: str, status: ClusterStatus) -> str:
        during = f" while {_ING[self.action]}" if self.action is not None else ""
        if status is ClusterStatus.FROZEN:
            return (
                f"{cluster} is frozen (800){during}: CDM freezes a cluster for billing (an overdue or expired "
                "subscription); no action or wait changes that until it is renewed or topped up in the console"
            )
        if status is ClusterStatus.FAILED:
            return f"{cluster} failed (300){during}: see the cluster's events in the CDM console"
        if status is ClusterStatus.CREATE_FAILED:
            return f"{cluster} was never created: creation failed (303){during}"
        return f"{cluster} is {status_words(status)}{during}, a status this wait fails on"

    def to_json(self) -> dict[str, Any]:
        return {
            "targets": _codes(self.targets),
            "failures": _codes(self.failures),
            "action": self.action.value if self.action is not None else None,
            "must_pass": self.must_pass,
            "pass_by": self.pass_by,
        }

    @classmethod
    def from_json(cls, data: object, setting: str = "wait") -> ClusterWait:
        """The wait from :meth:`to_json`; CdmConfigError naming ``setting`` for anything else."""
        expected = "ClusterWait.to_json(): targets, failures, action, must_pass, pass_by"
        if not isinstance(data, Mapping):
            raise CdmConfigError(setting, f"got a {type(data).__name__}", expected)
        try:
            targets = parse_cluster_statuses(data["targets"], f"{setting}.targets")
            failures = frozenset(parse_cluster_status(code, f"{setting}.failures") for code in data["failures"])
            action = ClusterAction(data["action"]) if data.get("action") is not None else None
        except KeyError as missing:
            raise CdmConfigError(setting, f"has no {missing}", expected) from None
        except (TypeError, ValueError) as err:
            if isinstance(err, CdmConfigError):
                raise
            raise CdmConfigError(setting, str(err), expected) from None
        must_pass, pass_by = data.get("must_pass", False), data.get("pass_by")
        if not isinstance(must_pass, bool):
            raise CdmConfigError(f"{setting}.must_pass", f"got {must_pass!r}", "true or false")
        if pass_by is not None and (isinstance(pass_by, bool) or not isinstance(pass_by, (int, float))):
            raise CdmConfigError(f"{setting}.pass_by", f"got {pass_by!r}", "epoch seconds or null")
        return cls(targets, failures, action, must_pass, float(pass_by) if pass_by is not None else None)


def judge_any(decisions: Sequence[ClusterDecision]) -> tuple[ClusterVerdict, int | None, str]:
    """Several candidate clusters (a job that may run in any): done as soon as one is, failed only when all
    are; the index of the cluster that decided (done: that one; failed: None), and the words."""
    for index, decision in enumerate(decisions):
        if decision.verdict is ClusterVerdict.DONE:
            return ClusterVerdict.DONE, index, decision.message
    words = "; ".join(decision.message for decision in decisions)
    if decisions and all(decision.verdict is ClusterVerdict.FAILED for decision in decisions):
        return ClusterVerdict.FAILED, None, words
    return ClusterVerdict.WAITING, None, words


__all__ = [
    "ACTION_FAILURES",
    "RESTART_SETTLE_S",
    "ClusterDecision",
    "ClusterVerdict",
    "ClusterWait",
    "Step",
    "cluster_words",
    "judge_any",
    "next_step",
    "parse_cluster_status",
    "parse_cluster_statuses",
    "status_words",
]
