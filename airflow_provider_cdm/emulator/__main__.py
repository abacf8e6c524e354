"""``python -m airflow_provider_cdm.emulator`` (also ``cdm-emulator``): print the connection, serve, stop cleanly."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_cdm.emulator.app import CONNECTION_ENV_VAR
from airflow_provider_cdm.emulator.config import parse_args
from airflow_provider_cdm.emulator.server import EmulatorServer, serve_in_thread


def connection_line(connection: dict[str, object]) -> str:
    """``AIRFLOW_CONN_CDM_DEFAULT='{...}'``: the connection as compact JSON, quoted for a POSIX shell, so
    the line works pasted after ``export`` and sourced from a file (the quotes are the shell's, the
    value is the JSON)."""
    return f"{CONNECTION_ENV_VAR}={shlex.quote(json.dumps(connection, separators=(',', ':')))}"


def write_env_file(path: str, line: str) -> None:
    """The line in a file of its own (mode 0600: it holds the emulator's secret key), for ``set -a; . FILE``."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; exit 0 then, 1 when the address cannot be bound."""
    config = parse_args(argv)
    try:
        server = EmulatorServer(config)
    except OSError as err:
        print(f"cdm-emulator: cannot listen on {config.host}:{config.port}: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    thread = serve_in_thread(server)
    line = connection_line(server.connection())
    if config.env_file:
        write_env_file(config.env_file, line)
    print(line, flush=True)
    print(
        f"cdm-emulator: serving CDM, IAM and the /_emulator/ admin API on {server.url} "
        f"(dialect {config.dialect.label})",
        file=sys.stderr,
        flush=True,
    )
    stop.wait()
    server.shutdown()
    server.server_close()
    thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
