"""The emulator's settings and the command line that sets them.

Defaults are fixed and obviously fake, so a test or a demo can rely on them; every one can be changed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from airflow_provider_cdm.api.endpoints import IAM_TOKEN_LIFETIME_S
from airflow_provider_cdm.api.job_schema import CONNECTORS
from airflow_provider_cdm.api.statuses import ClusterStatus
from airflow_provider_cdm.emulator import dialects
from airflow_provider_cdm.emulator.clusters import DEFAULT_TRANSITION_S
from airflow_provider_cdm.emulator.dialects import DEFAULT_PRESET, DIALECT_ENV_VAR, PRESETS, Dialect
from airflow_provider_cdm.emulator.faults import DEFAULT_ERROR_STATUSES, RESET_PHASES, FaultSettings
from airflow_provider_cdm.emulator.links import LinkSpec, link_specs
from airflow_provider_cdm.emulator.models import ClusterSpec

DEFAULT_ACCESS_KEY = "EMULATORACCESSKEY000"
DEFAULT_SECRET_KEY = "emulator-secret-key-not-a-real-secret-00"
DEFAULT_PROJECT_ID = "0123456789abcdef0123456789abcdef"
DEFAULT_REGION = "cn-north-4"
DEFAULT_USER = "emulator_user"
DEFAULT_PASSWORD = "emulator-password"
DEFAULT_DOMAIN = "emulator_account"
DEFAULT_CLUSTERS = (
    ClusterSpec("c0000000-0000-4000-8000-000000000001", "cdm-emulator-1", ClusterStatus.NORMAL),
    ClusterSpec("c0000000-0000-4000-8000-000000000002", "cdm-emulator-2", ClusterStatus.NORMAL),
    ClusterSpec("c0000000-0000-4000-8000-000000000009", "cdm-emulator-stopped", ClusterStatus.STOPPED),
)
CONNECTION_AUTH_TYPES = ("aksk", "password", "temporary")


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    temporary_access_key: str | None = None
    temporary_secret_key: str | None = None
    security_token: str | None = None
    project_id: str = DEFAULT_PROJECT_ID
    region: str = DEFAULT_REGION
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    domain: str = DEFAULT_DOMAIN
    clusters: tuple[ClusterSpec, ...] = DEFAULT_CLUSTERS
    job_duration_s: float = 2.0
    retry_delay_s: float = 1.0  # how long after a failed run a RETRY_TRIPLE retry starts
    cluster_concurrency: int | None = None  # runs a cluster runs at once; later ones wait PENDING
    cluster_transition_s: float = DEFAULT_TRANSITION_S  # how long a start, stop or restart is under way
    token_ttl_s: float = IAM_TOKEN_LIFETIME_S
    quotas: bool = False
    strict_links: bool = False
    links: tuple[tuple[str, str], ...] = ()
    link_definitions: tuple[LinkSpec, ...] = ()  # full links (configuration included), from --links-file
    seed: int | None = None
    faults: FaultSettings = field(default_factory=FaultSettings)
    connection_auth: str = "aksk"  # which credentials the printed connection carries
    env_file: str | None = None  # where the printed line is written too
    dialect: Dialect = PRESETS[DEFAULT_PRESET]  # how answers are shaped (dialects.py); reset returns to it


def _cluster(text: str) -> ClusterSpec:
    cluster_id, sep, rest = text.partition("=")
    name, _, status_text = rest.partition(":")
    status = ClusterStatus.parse(status_text or ClusterStatus.NORMAL.value)
    if not sep or not cluster_id or "/" in cluster_id or not name or status is None:
        codes = ", ".join(s.value for s in ClusterStatus)
        raise argparse.ArgumentTypeError(f"expected ID=NAME[:STATUS] with STATUS one of {codes}, got {text!r}")
    return ClusterSpec(cluster_id, name, status)


def _link(text: str) -> tuple[str, str]:
    name, sep, connector = text.partition("=")
    if not sep or not name or connector not in CONNECTORS:
        raise argparse.ArgumentTypeError(f"expected NAME=CONNECTOR with a known connector, got {text!r}")
    return name, connector


def _links_file(path: str) -> tuple[LinkSpec, ...]:
    try:
        with open(path, encoding="utf-8") as handle:
            return tuple(link_specs(json.load(handle)))
    except (OSError, ValueError) as err:
        raise argparse.ArgumentTypeError(f"{path}: {err}") from None


def _statuses(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated status codes, got {text!r}") from None


def _assignment(text: str) -> tuple[str, object]:
    try:
        return dialects.parse_assignment(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _preset(text: str) -> str:
    if text.strip().lower() not in PRESETS:
        raise argparse.ArgumentTypeError(f"unknown dialect preset {text!r}; presets: {', '.join(PRESETS)}")
    return text.strip().lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdm-emulator",
        description="A local Huawei Cloud CDM + IAM + API gateway for demos and tests. Prints one "
        "AIRFLOW_CONN_CDM_DEFAULT=... line, then serves until SIGINT/SIGTERM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="dialect switches (--dialect-set NAME=VALUE; rows of cdm-dialects.md; preset values):\n"
        + dialects.describe_switches()
        + "\n\nAt run time: GET /_emulator/dialect shows the active switches; POST /_emulator/dialect "
        '{"preset": "sparse", "switches": {"progress": "percent"}} changes them (without a preset, on top '
        "of the active dialect); POST /_emulator/reset goes back to the command line's dialect.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    add("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    add("--ak", dest="access_key", default=DEFAULT_ACCESS_KEY, help="permanent access key")
    add("--sk", dest="secret_key", default=DEFAULT_SECRET_KEY, help="permanent secret key")
    add("--temp-ak", dest="temporary_access_key", help="temporary access key (needs --temp-sk, --security-token)")
    add("--temp-sk", dest="temporary_secret_key", help="temporary secret key")
    add("--security-token", help="the security token temporary-AK requests must send and sign")
    add("--project-id", default=DEFAULT_PROJECT_ID, help="the project id CDM paths must carry")
    add("--region", default=DEFAULT_REGION, help="region, also the IAM project name (default %(default)s)")
    add("--user", default=DEFAULT_USER, help="IAM user name for password tokens")
    add("--password", default=DEFAULT_PASSWORD, help="IAM user password")
    add("--domain", default=DEFAULT_DOMAIN, help="IAM account (domain) name")
    add(
        "--cluster",
        dest="clusters",
        type=_cluster,
        action="append",
        metavar="ID=NAME[:STATUS]",
        help="a cluster (repeatable; default: two running clusters and one stopped)",
    )
    add("--job-duration", dest="job_duration_s", type=float, default=2.0, help="seconds an unscripted run takes")
    add(
        "--retry-delay",
        dest="retry_delay_s",
        type=float,
        default=1.0,
        help="seconds after a failed run that CDM's retry of a RETRY_TRIPLE job starts (default %(default)s)",
    )
    add(
        "--cluster-concurrency",
        type=int,
        metavar="N",
        help="runs each cluster runs at once; later ones wait PENDING (default: no limit)",
    )
    add(
        "--cluster-transition-s",
        dest="cluster_transition_s",
        type=float,
        default=DEFAULT_TRANSITION_S,
        metavar="SECONDS",
        help="seconds a cluster start, stop or restart (POST .../clusters/{id}/action) shows its passing status "
        "(920, 910, 500) before its target (200, 900, 200); POST /_emulator/clusters/{id}/script "
        "scripts a failure (300) or another duration (default %(default)s)",
    )
    add(
        "--token-ttl",
        dest="token_ttl_s",
        type=float,
        default=IAM_TOKEN_LIFETIME_S,
        help="IAM token lifetime in seconds",
    )
    add("--quotas", action="store_true", help="enforce Huawei's per-user per-minute quotas")
    add("--strict-links", action="store_true", help="refuse jobs whose links were not declared with --link")
    add(
        "--link",
        dest="links",
        type=_link,
        action="append",
        default=[],
        metavar="NAME=CONNECTOR",
        help="declare a link (repeatable)",
    )
    add(
        "--links-file",
        dest="link_definitions",
        type=_links_file,
        default=(),
        metavar="PATH",
        help='links with their configuration, as CDM\'s create-link body: {"links": [Link, ...]}',
    )
    add("--seed", type=int, help="seed for fault injection and cluster choice")
    add(
        "--conn-auth",
        dest="connection_auth",
        choices=CONNECTION_AUTH_TYPES,
        default="aksk",
        help="credentials in the printed connection (default %(default)s)",
    )
    dialect = parser.add_argument_group("dialect (how CDM's answers are shaped; see the switch list below)")
    dialect.add_argument(
        "--dialect",
        type=_preset,
        default=None,
        metavar="PRESET",
        help=f"answer shapes: {', '.join(PRESETS)} (reference: the API reference's tables; observed: what "
        "public evidence makes most likely for real CDM; sparse: every sparse or odd shape the evidence "
        f"allows). Default: ${DIALECT_ENV_VAR} when set, else {DEFAULT_PRESET}",
    )
    dialect.add_argument(
        "--dialect-set",
        dest="dialect_switches",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set one dialect switch on top of the preset (repeatable)",
    )
    add(
        "--env-file",
        metavar="PATH",
        help="also write the AIRFLOW_CONN_CDM_DEFAULT=... line to PATH (mode 0600), for `set -a; . PATH`",
    )
    faults = parser.add_argument_group("faults")
    faults.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with a 5xx")
    faults.add_argument(
        "--error-statuses",
        type=_statuses,
        default=DEFAULT_ERROR_STATUSES,
        help="comma-separated 5xx codes to inject (default 500,502,503)",
    )
    faults.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    faults.add_argument("--reset-rate", type=float, default=0.0, help="share of connections dropped unanswered")
    faults.add_argument(
        "--reset-phase",
        choices=RESET_PHASES,
        default="random",
        help="drop before processing, after it (lost response), or either",
    )
    faults.add_argument("--malformed-rate", type=float, default=0.0, help="share of answers with a broken body")
    faults.add_argument("--retry-after", type=float, help="Retry-After seconds on quota 429s")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    """The configuration for a command line; exits with a usage message when it is invalid."""
    parser = build_parser()
    args = parser.parse_args(argv)
    temporary = (args.temporary_access_key, args.temporary_secret_key, args.security_token)
    if any(temporary) and not all(temporary):
        parser.error("--temp-ak, --temp-sk and --security-token go together")
    if args.connection_auth == "temporary" and not all(temporary):
        parser.error("--conn-auth temporary needs --temp-ak, --temp-sk and --security-token")
    clusters = tuple(args.clusters) if args.clusters else DEFAULT_CLUSTERS
    if len({cluster.id for cluster in clusters}) != len(clusters):
        parser.error("cluster ids must be unique")
    if args.retry_delay_s < 0 or (args.cluster_concurrency is not None and args.cluster_concurrency < 1):
        parser.error("--retry-delay must be >= 0 and --cluster-concurrency at least 1")
    if args.job_duration_s < 0 or args.token_ttl_s <= 0:
        parser.error("--job-duration must be >= 0 and --token-ttl > 0")
    if not math.isfinite(args.cluster_transition_s) or args.cluster_transition_s < 0:
        parser.error("--cluster-transition-s must be a finite number >= 0")
    try:
        faults = FaultSettings(
            error_rate=args.error_rate,
            error_statuses=args.error_statuses,
            latency_s=args.latency,
            reset_rate=args.reset_rate,
            reset_phase=args.reset_phase,
            malformed_rate=args.malformed_rate,
            retry_after_s=args.retry_after,
        )
    except ValueError as err:
        parser.error(str(err))
    preset_name = args.dialect or os.environ.get(DIALECT_ENV_VAR, "").strip() or DEFAULT_PRESET
    try:
        dialect = dialects.preset(preset_name).changed(**dict(args.dialect_switches))
    except ValueError as err:
        parser.error(f"{err} (--dialect, or ${DIALECT_ENV_VAR})")
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        access_key=args.access_key,
        secret_key=args.secret_key,
        temporary_access_key=args.temporary_access_key,
        temporary_secret_key=args.temporary_secret_key,
        security_token=args.security_token,
        project_id=args.project_id,
        region=args.region,
        user=args.user,
        password=args.password,
        domain=args.domain,
        clusters=clusters,
        job_duration_s=args.job_duration_s,
        retry_delay_s=args.retry_delay_s,
        cluster_concurrency=args.cluster_concurrency,
        cluster_transition_s=args.cluster_transition_s,
        token_ttl_s=args.token_ttl_s,
        quotas=args.quotas,
        strict_links=args.strict_links,
        links=tuple(args.links),
        link_definitions=args.link_definitions,
        seed=args.seed,
        faults=faults,
        connection_auth=args.connection_auth,
        env_file=args.env_file,
        dialect=dialect,
    )
