"""The emulator's own API under ``/_emulator/``: scripts, links, faults, dialect, token revocation, stats,
state, reset, and clusters.

JSON in and out, no auth, loopback clients only; the prefix is one the real API never uses. Clusters
(``clusters.py``):

- ``POST /_emulator/clusters/{cluster_id}/script`` ``{"outcome": "ok"|"failed", "duration_s": 1.5}`` (both
  optional): the cluster's next action ends in 300 (failed) instead of its target, and/or is under way
  ``duration_s`` instead of ``--cluster-transition-s``;
- ``POST /_emulator/clusters/{cluster_id}/status`` ``{"status": "900"}``: that status at once (an action
  under way is dropped; a status that runs no jobs fails the runs under way);
- ``GET /_emulator/clusters/{cluster_id}``: its live state, the action under way, the script, the
  accepted actions' counts, and show-cluster's answer (``view``).

Each answers the cluster's admin view; an unknown cluster answers Cdm.0001.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

from airflow_provider_cdm.api import errors
from airflow_provider_cdm.api.errors import APIG_FORBIDDEN
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.emulator import dialects
from airflow_provider_cdm.emulator.app import EmulatorApp, Request, Response, parse_json_body
from airflow_provider_cdm.emulator.clusters import ClusterScript
from airflow_provider_cdm.emulator.errors import ApiError
from airflow_provider_cdm.emulator.faults import FaultSettings
from airflow_provider_cdm.emulator.links import link_specs
from airflow_provider_cdm.emulator.runs import Script

ADMIN_PREFIX = "/_emulator/"
_SCRIPT_PATH = re.compile(r"^jobs/(?P<job_name>[^/]+)/script/?$")
_FIRE_PATH = re.compile(r"^jobs/(?P<job_name>[^/]+)/fire/?$")
_CLUSTER_PATH = re.compile(r"^clusters/(?P<cluster_id>[^/]+)(?:/(?P<what>script|status))?/?$")


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def handle_admin(app: EmulatorApp, request: Request, client_host: str) -> Response:
    """Answer one admin request; bad input answers 400 APIG.0201 saying what is wrong."""
    try:
        if not is_loopback(client_host):
            raise ApiError(APIG_FORBIDDEN, detail="the emulator's admin API answers loopback clients only")
        return Response.json(200, _dispatch(app, request))
    except ValueError as err:
        return Response.error(ApiError(errors.APIG_REQUEST_ERROR, detail=str(err)), request.request_id)
    except ApiError as err:
        return Response.error(err, request.request_id)


def _dispatch(app: EmulatorApp, request: Request) -> object:
    path = request.path[len(ADMIN_PREFIX) :]
    method = request.method
    script_path = _SCRIPT_PATH.match(path)
    if method == "POST" and script_path:
        job_name = unquote(script_path.group("job_name"))
        script = Script.from_json(parse_json_body(request.body), app.backend.default_duration_s)
        app.backend.set_script(job_name, script)
        return {"job_name": job_name, "script": script.to_json()}
    fire_path = _FIRE_PATH.match(path)
    if method == "POST" and fire_path:  # a scheduled job's run, now, as CDM's scheduler starts it
        body = parse_json_body(request.body, required=False)
        cluster_id = body.get("cluster_id") if isinstance(body, dict) else None
        if cluster_id is None:
            cluster_id = next((c.id for c in app.config.clusters if c.status.can_run_jobs), app.config.clusters[0].id)
        return app.backend.fire_schedule(str(cluster_id), unquote(fire_path.group("job_name")))
    cluster_path = _CLUSTER_PATH.match(path)
    if cluster_path:
        return _cluster(app, method, unquote(cluster_path.group("cluster_id")), cluster_path.group("what"), request)
    route = (method, path.rstrip("/"))
    if route == ("POST", "faults"):
        app.faults.configure(FaultSettings.from_json(parse_json_body(request.body, required=False)))
        return {"faults": app.faults.settings.to_json(), "quotas": app.quotas_enabled}
    if route == ("GET", "dialect"):
        return dialect_view(app)
    if route == ("POST", "dialect"):
        app.dialect = dialects.dialect_from_json(parse_json_body(request.body, required=False), app.dialect)
        return dialect_view(app)
    if route == ("POST", "links"):
        return {"links": app.backend.links.define(link_specs(parse_json_body(request.body)))}
    if route == ("POST", "tokens/revoke"):
        return {"revoked": app.auth.revoke_tokens()}
    if route == ("GET", "stats"):
        stats = app.stats.snapshot()
        return {
            "requests": stats["requests"],
            **app.backend.counts(),
            "faults": stats["faults"],
            "clients": stats["clients"],
        }
    if route == ("GET", "state"):
        return {
            **app.backend.snapshot(),
            "faults": app.faults.settings.to_json(),
            "quotas": app.quotas_enabled,
            "tokens": app.auth.token_count(),
            "links": app.backend.links.summary(),
            "dialect": app.dialect.label,
        }
    if route == ("POST", "reset"):
        app.reset()
        return {"reset": True}
    raise ApiError(errors.APIG_NO_API)


def _cluster(app: EmulatorApp, method: str, cluster_id: str, what: str | None, request: Request) -> object:
    if method == "GET" and what is None:
        return app.backend.cluster_view(cluster_id)
    if method == "POST" and what == "script":
        return app.backend.script_cluster(cluster_id, ClusterScript.from_json(parse_json_body(request.body)))
    if method == "POST" and what == "status":
        body = parse_json_body(request.body)
        value = body.get("status") if isinstance(body, dict) else None
        status = None if isinstance(value, bool) else ClusterStatus.parse(value)
        if status is None:
            codes = ", ".join(s.value for s in ClusterStatus)
            raise ValueError(f'expected {{"status": CODE}} with CODE one of {codes}, got {value!r}')
        return app.backend.set_cluster_status(cluster_id, status)
    raise ApiError(errors.APIG_NO_API)


def dialect_view(app: EmulatorApp) -> dict[str, object]:
    """The active dialect: its label (a preset's name, or the nearest one with the switches that differ),
    every switch, and what a reset goes back to (the command line's dialect)."""
    return {
        "dialect": app.dialect.label,
        "switches": app.dialect.to_json(),
        "configured": app.config.dialect.label,
        "presets": list(dialects.PRESETS),
    }
