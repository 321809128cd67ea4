#!/bin/bash
# Runs once, when the `postgresql` service initialises an empty data volume
# (/docker-entrypoint-initdb.d). Creates two unprivileged roles:
#   caseline  owns the `caseline` database (the app, via DATABASE_URL)
#   temporal  may create databases: Temporal's auto-setup creates `temporal` and
#             `temporal_visibility` with it
# Changing a password later needs ALTER ROLE; this script does not run again.
set -euo pipefail

: "${CASELINE_DB_PASSWORD:?CASELINE_DB_PASSWORD must be set}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v caseline_password="$CASELINE_DB_PASSWORD" \
    -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE caseline LOGIN PASSWORD :'caseline_password';
CREATE DATABASE caseline OWNER caseline;
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
