#!/usr/bin/env bash
# Runs after postgres-setup.sql as an init script of the compose stack's postgres service: gives the
# connector's role the password Kafka Connect is given (CDC_DB_PASSWORD, read there through
# ${env:CDC_DB_PASSWORD}), so one setting in .env sets both sides. It runs once, when the database is
# created (the postgres image runs init scripts only on an empty data directory): a later change in .env
# reaches Connect but not the role, so also run ALTER ROLE cdc PASSWORD '…'. A .sql init script cannot read
# the environment. psql's :'pw' quotes the value as a literal; it is never echoed.
#
# The image's entrypoint runs an executable init *.sh but sources (`. file`, in its own shell) one that is not,
# e.g. after a checkout or copy that dropped the x bit. So the body is a subshell: its `set -euo pipefail` and its
# early `exit` stay in there instead of ending the entrypoint (the server would never start, and a restart skips
# the init scripts) or leaving nounset on for the rest of it. The subshell's status is the script's either way.
(
  set -euo pipefail
  if [[ -z "${CDC_DB_PASSWORD:-}" ]]; then
    echo "cdc-password.sh: CDC_DB_PASSWORD is empty; the cdc role keeps the password postgres-setup.sql gave it" >&2
    exit 0
  fi
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v pw="$CDC_DB_PASSWORD" <<'SQL'
ALTER ROLE cdc PASSWORD :'pw';
SQL
)
