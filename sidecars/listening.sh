#!/usr/bin/env bash
# Liveness probe of the replication sidecar: something listens on the clone port.
# It reads the kernel's socket table instead of connecting, because every
# connection to that port starts a backup.
set -o errexit -o nounset -o pipefail

port=$(printf '%04X' "$MYSQL_HA_CLONE_PORT")
for table in /proc/net/tcp /proc/net/tcp6; do
  [[ -r $table ]] || continue
  # Columns: sl local_address rem_address st ...; st 0A is LISTEN.
  while read -r _ local _ state _; do
    [[ $local == *":$port" && $state == 0A ]] && exit 0
  done <"$table"
done
echo "nothing listens on port ${MYSQL_HA_CLONE_PORT}" >&2
exit 1
