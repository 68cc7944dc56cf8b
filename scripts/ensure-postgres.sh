#!/usr/bin/env bash
# Install (Debian package) and start a local PostgreSQL server for the test suite, and make
# sure the role `goldenpath` (password `goldenpath`) exists. Idempotent; needs root.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "installing postgresql from Debian..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
for _ in $(seq 1 50); do
  su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='goldenpath'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"create role goldenpath login createdb password 'goldenpath'\""
echo "postgresql $version is running on 127.0.0.1:5432 (role goldenpath)" >&2
