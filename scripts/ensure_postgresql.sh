#!/usr/bin/env bash
# PostgreSQL's server binaries for the deployment test (tests/deployment): Debian's package when no
# /usr/lib/postgresql/*/bin/initdb exists (as root; apt's own mirrors), and the `postgres` system user
# that the harness runs the server as when it runs as root (postgres refuses root).
set -euo pipefail
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_postgresql: no /usr/lib/postgresql/*/bin/initdb; install Debian's postgresql package (as root)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi
