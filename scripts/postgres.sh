#!/usr/bin/env bash
# Install (if missing) and start a local PostgreSQL server for the tests; print its SQLAlchemy URL.
# Used by .ci/run. Needs root (apt-get) on a Debian machine.
set -euo pipefail
log() { echo "$*" >&2; }
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  log "installing postgresql"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
fi
ver="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >&2
fi
if ! pg_lsclusters -h | grep -q "^$ver main .* online"; then
  pg_ctlcluster "$ver" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $3}')"
for _ in $(seq 1 30); do
  su postgres -c "psql -p $port -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -p $port -qAtc \"select 1 from pg_roles where rolname='promptops'\"" | grep -q 1 ||
  su postgres -c "psql -p $port -qc \"create role promptops login password 'promptops' createdb\"" >&2
su postgres -c "psql -p $port -qAtc \"select 1 from pg_database where datname='promptops_test'\"" | grep -q 1 ||
  su postgres -c "createdb -p $port -O promptops promptops_test" >&2
echo "postgresql+psycopg://promptops:promptops@127.0.0.1:$port/promptops_test"
