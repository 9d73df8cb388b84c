#!/usr/bin/env bash
# Sidecar "replication".
#   - On the primary: creates (or updates) the replication account, which may
#     only replicate (REPLICATION SLAVE): root never replicates; and, with metrics
#     on, the exporter's read-only account.
#   - On a freshly cloned replica: points it at the primary from the clone's
#     coordinates and starts replication, once.
# Then it is ready, and serves hot backups to the next pod's clone.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
ready_marker=${MYSQL_HA_RUN_DIR}/replication-ready
position_file=${MYSQL_HA_DATADIR}/mysql-ha-source-position
rm -f "$ready_marker"

log "waiting for the local server"
until sql <<<"SELECT 1" >/dev/null 2>&1; do sleep 1; done

replication_password=$(<"${MYSQL_HA_SECRET_DIR}/replication-password")
[[ -n $replication_password ]] || die "the replication password in the Secret is empty"
user=$(sql_string "$MYSQL_HA_REPLICATION_USER")
password=$(sql_string "$replication_password")

if ((POD_ORDINAL == 0)); then
  sql <<SQL
CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${password}';
ALTER USER '${user}'@'%' IDENTIFIED BY '${password}';
GRANT REPLICATION SLAVE ON *.* TO '${user}'@'%';
SQL
  log "replication account '${MYSQL_HA_REPLICATION_USER}' is in place"
  if [[ -n $MYSQL_HA_METRICS_USER ]]; then
    # The exporter reads status only, from this pod, with few connections.
    exporter=$(sql_string "$MYSQL_HA_METRICS_USER")
    exporter_password=$(sql_string "$(<"${MYSQL_HA_SECRET_DIR}/metrics-password")")
    sql <<SQL
CREATE USER IF NOT EXISTS '${exporter}'@'127.0.0.1' IDENTIFIED BY '${exporter_password}' WITH MAX_USER_CONNECTIONS 3;
ALTER USER '${exporter}'@'127.0.0.1' IDENTIFIED BY '${exporter_password}';
GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO '${exporter}'@'127.0.0.1';
SQL
    log "metrics account '${MYSQL_HA_METRICS_USER}' is in place"
  fi
elif [[ -e $position_file ]]; then
  log_file='' log_pos='' gtid=''
  while IFS='=' read -r key value; do
    case $key in
      LOG_FILE) log_file=$value ;;
      LOG_POS) log_pos=$value ;;
      GTID) gtid=$value ;;
    esac
  done <"$position_file"
  # Each engine names exactly the coordinates it positions a replica with.
  statements="${MYSQL_HA_SQL_SET_POSITION}${MYSQL_HA_SQL_SET_POSITION:+;}${MYSQL_HA_SQL_CHANGE_SOURCE};"
  if [[ $statements == *@LOG_FILE@* ]]; then
    [[ $log_file =~ ^[A-Za-z0-9._-]+$ ]] || die "the clone carries no valid binary log file name: '${log_file}'"
    [[ $log_pos =~ ^[0-9]+$ ]] || die "the clone carries no valid binary log position: '${log_pos}'"
  fi
  [[ $gtid =~ ^[0-9a-fA-F:,\ -]*$ ]] || die "the clone carries an invalid GTID position: '${gtid}'"
  primary="${POD_SET}-0.${MYSQL_HA_SERVICE}"
  statements=${statements//@HOST@/"$(sql_string "$primary")"}
  statements=${statements//@PORT@/"$MYSQL_HA_PORT"}
  statements=${statements//@USER@/"$user"}
  statements=${statements//@LOG_FILE@/"$log_file"}
  statements=${statements//@LOG_POS@/"$log_pos"}
  statements=${statements//@GTID@/"$gtid"}
  statements=${statements//@PASSWORD@/"$password"}
  replica_status
  if [[ -n ${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]:-} ]]; then
    # A clone of a replica carries the donor's replication settings: drop them.
    sql <<<"${MYSQL_HA_SQL_STOP_REPLICA}; ${MYSQL_HA_SQL_RESET_REPLICA};"
  fi
  sql <<<"$statements"
  # Positioned, once: a repeat would rewind the replica onto rows it has applied.
  mv "$position_file" "${position_file}.applied"
  log "positioned on ${primary} at ${log_file:-} ${log_pos:-} ${gtid:-}"
fi

# This server started with replication held back (init-config.sh) until the step
# above: start it, and let later server restarts resume it on their own.
skip_start=${MYSQL_HA_CONF_DIR}/skip-replica-start.cnf
if ((POD_ORDINAL > 0)) && [[ -e $skip_start ]]; then
  sql <<<"${MYSQL_HA_SQL_START_REPLICA};"
  rm -f "$skip_start"
  log "replication started"
fi

touch "$ready_marker"
log "serving backups on port ${MYSQL_HA_CLONE_PORT}"
serve_streams "$MYSQL_HA_CLONE_PORT" "${MYSQL_HA_SCRIPTS_DIR}/backup-stream.sh"
