#!/usr/bin/env bash
# Run by the sidecar's ncat for each clone request: streams a consistent hot
# backup of the local server (with the primary's coordinates) to stdout.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

log "streaming a backup to a new replica"
# --parallel: 4 threads read tablespace files into the one xbstream (the redo log
# copied alongside keeps it consistent); xtrabackup 2.4/8.x and mariadb-backup alike.
exec "$MYSQL_HA_BACKUP" --defaults-extra-file="$(client_cnf)" --backup --slave-info \
  --parallel=4 --stream=xbstream --host=127.0.0.1 --port="$MYSQL_HA_PORT" --target-dir="${TMPDIR:-/tmp}"
