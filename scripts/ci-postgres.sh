#!/usr/bin/env bash
# Starts Debian's PostgreSQL cluster (if needed) and creates the test role and database.
set -euo pipefail
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q online; then
  pg_ctlcluster "$ver" main start || { pg_createcluster "$ver" main && pg_ctlcluster "$ver" main start; }
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='securesense'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE securesense LOGIN PASSWORD 'securesense'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='securesense_test'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE DATABASE securesense_test OWNER securesense\""
