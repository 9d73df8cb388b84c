#!/usr/bin/env bash
# Run by the sidecar's ncat or socat for each clone request: streams a consistent hot
# backup of the local server (with the primary's coordinates) to stdout, read over the
# socket as the clone account (backup-tool.cnf, written by init-config.sh).
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

log "streaming a backup to a new replica"
# --parallel: 4 threads read tablespace files into the one xbstream (the redo log
# copied alongside keeps it consistent); xtrabackup 2.4/8.x and mariadb-backup alike.
exec "$MYSQL_HA_BACKUP" --defaults-extra-file="${MYSQL_HA_AUTH_DIR:?}/backup-tool.cnf" --backup --slave-info \
  --parallel=4 --stream=xbstream --socket="$MYSQL_HA_SOCKET" --target-dir="${TMPDIR:-/tmp}"
