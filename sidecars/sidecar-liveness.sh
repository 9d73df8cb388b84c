#!/usr/bin/env bash
# Liveness probe of the replication sidecar: its watch loop has beaten within the
# last minute and, for engines that serve backup streams, something listens on the
# clone port. The port is read from the kernel's socket table instead of
# connecting, because every connection to it starts a backup.
# Until the watch loop first beats, the sidecar is setting up: it waits for its server,
# whose own startup probe allows a long crash recovery or upgrade (startup_timeout_seconds),
# and nothing here restarts it meanwhile.
set -o errexit -o nounset -o pipefail

heartbeat=${MYSQL_HA_RUN_DIR}/replication-heartbeat
[[ -e $heartbeat ]] || exit 0
age=$(($(date +%s) - $(stat -c %Y "$heartbeat")))
if ((age > 60)); then
  echo "the replication watch loop last beat ${age}s ago" >&2
  exit 1
fi
[[ $MYSQL_HA_CLONE_METHOD == backup-stream ]] || exit 0

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
