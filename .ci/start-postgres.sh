#!/usr/bin/env bash
# Start a local PostgreSQL for the record store's PostgreSQL tests (tests/test_postgres.py).
#
# For CI: runs as root on a fresh Debian 12 machine. Idempotent: safe to run again on a
# machine where it already ran (installs only if missing, starts only if down, re-sets the
# password, creates the role and database only if absent).
#
# Afterwards:
#   export FHIR_ASSISTANT_TEST_PG_URL=postgresql+psycopg://fhir_assistant:fhir_assistant@127.0.0.1:5432/fhir_assistant_test
#   .venv/bin/pytest -m postgres tests/test_postgres.py
# (that URL is also the tests' default, so the export is optional).
set -euo pipefail

PG_USER="${PG_USER:-fhir_assistant}"
PG_PASSWORD="${PG_PASSWORD:-fhir_assistant}"
PG_DB="${PG_DB:-fhir_assistant_test}"
PG_PORT="${PG_PORT:-5432}"

if [ "$(id -u)" -ne 0 ]; then
    echo "start-postgres.sh: run as root (it installs and starts the system PostgreSQL)" >&2
    exit 1
fi

# 1. Install Debian's PostgreSQL (15 on Debian 12) when missing.
if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql
fi

# 2. The newest installed major version; create its `main` cluster if the package did not.
PG_VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {found = 1} END {exit !found}'; then
    pg_createcluster --port "$PG_PORT" "$PG_VERSION" main
fi

# 3. Start it when it is down (no systemd in containers: pg_ctlcluster works everywhere).
if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" && $4 ~ /online/ {found = 1} END {exit !found}'; then
    pg_ctlcluster "$PG_VERSION" main start
fi
PORT="$(pg_lsclusters -h | awk -v v="$PG_VERSION" '$1 == v && $2 == "main" {print $3}')"
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$PORT" && break
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$PORT"

# 4. A password-authenticated role that owns the test database (local TCP uses scram-sha-256
#    in Debian's default pg_hba.conf, so no pg_hba change is needed).
as_postgres() { runuser -u postgres -- "$@"; }
sql_value() { as_postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -tAc "$1"; }
if [ "$(sql_value "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != "1" ]; then
    sql_value "CREATE ROLE \"$PG_USER\" LOGIN" >/dev/null
fi
sql_value "ALTER ROLE \"$PG_USER\" WITH LOGIN PASSWORD '$PG_PASSWORD'" >/dev/null
if [ "$(sql_value "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
    as_postgres createdb -p "$PORT" -O "$PG_USER" "$PG_DB"
fi

echo "PostgreSQL $PG_VERSION is up on 127.0.0.1:$PORT"
echo "FHIR_ASSISTANT_TEST_PG_URL=postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PORT/$PG_DB"
