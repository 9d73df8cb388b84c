#!/usr/bin/env bash
# Init container "clone-mysql": gives a new replica the data of the pod before it.
#
# The copy lands in a staging directory and is renamed to the data directory only
# when it is complete: the rename is the marker of a finished clone. A clone that
# dies midway leaves only the staging directory, which the next attempt deletes.
# How the copy is made depends on the engine (MYSQL_HA_CLONE_METHOD):
#   - clone-plugin: a throwaway local server runs MySQL's CLONE INSTANCE against
#     the donor's server port; the copy carries the donor's GTID set, from which
#     the replica auto-positions;
#   - backup-stream: the donor's sidecar streams a hot backup over the clone port;
#     it is checked, prepared, and the primary's coordinates are read from it.
# With TLS on (MYSQL_HA_TLS_DIR), both travel encrypted: CLONE INSTANCE with REQUIRE
# SSL and the set's CA, the stream as mutual TLS (common.sh: this pod's certificate
# gets it the backup, and the donor's is checked against the CA and its host name).
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
datadir=${MYSQL_HA_DATA_ROOT:?}/mysql
staging=${MYSQL_HA_DATA_ROOT}/clone.tmp
position_file=mysql-ha-source-position

if [[ -d $datadir ]]; then
  log "data directory ${datadir} exists: nothing to clone"
  exit 0
fi
declared=$(declared_primary) || die "no declared primary: cannot choose a donor"
if ((POD_ORDINAL == declared)); then
  log "ordinal ${POD_ORDINAL} is the declared primary: the server initializes its empty data directory"
  exit 0
fi

# The pod before this one (spreading the copies), or for ordinal 0 the declared primary.
donor_ordinal=$((POD_ORDINAL - 1))
((POD_ORDINAL > 0)) || donor_ordinal=$declared
donor="${POD_SET}-${donor_ordinal}.${MYSQL_HA_SERVICE}"
rm -rf "$staging"
mkdir -p "$staging"

# clone_with_plugin: CLONE INSTANCE FROM the donor into $staging/data, run by a
# server started for this alone (socket only, no network listener, removed after).
clone_with_plugin() {
  local seed=$staging/seed socket=$staging/seed.sock server_pid password user state require='' tls=()
  local tls_dir=${MYSQL_HA_TLS_DIR:-}
  log "cloning from ${donor}:${MYSQL_HA_PORT} with the CLONE plugin"
  if [[ -n $tls_dir ]]; then
    tls=("--clone-ssl-ca=${tls_dir}/ca.crt" "--clone-ssl-cert=${tls_dir}/tls.crt" "--clone-ssl-key=${tls_dir}/tls.key")
    require=' REQUIRE SSL'
  fi
  # Without a binary log the throwaway server initializes in about half the time.
  "$MYSQL_HA_SERVER" --no-defaults --initialize-insecure --datadir="$seed" --skip-log-bin \
    --log-error="$staging/seed-init.err" --secure-file-priv=NULL \
    || die "could not initialize the local clone server: $(tail -n 5 "$staging/seed-init.err")"
  "$MYSQL_HA_SERVER" --no-defaults --datadir="$seed" --socket="$socket" --pid-file="$staging/seed.pid" \
    --skip-networking --mysqlx=OFF --skip-log-bin --secure-file-priv=NULL \
    --innodb-buffer-pool-size=64M --plugin-load-add=mysql_clone.so "${tls[@]}" \
    --log-error="$staging/seed.err" &
  server_pid=$!
  # shellcheck disable=SC2064  # the pid is known now
  trap "kill ${server_pid} 2>/dev/null || true" EXIT
  local_sql() { "$MYSQL_HA_CLIENT" --no-defaults --protocol=SOCKET --socket="$socket" --user=root --batch --skip-column-names; }
  for _ in $(seq 1 300); do
    local_sql <<<"SELECT 1" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || die "the local clone server stopped: $(tail -n 5 "$staging/seed.err")"
    sleep 0.2
  done
  password=$(<"${MYSQL_HA_SECRET_DIR}/clone-password")
  [[ -n $password ]] || die "the clone password in the Secret is empty"
  user=$(sql_string "$MYSQL_HA_CLONE_USER")
  # The password travels on stdin, never on a command line.
  local_sql <<SQL || die "CLONE INSTANCE from ${donor} failed (see above)"
SET GLOBAL clone_valid_donor_list = '$(sql_string "${donor}:${MYSQL_HA_PORT}")';
CLONE INSTANCE FROM '${user}'@'$(sql_string "$donor")':${MYSQL_HA_PORT} IDENTIFIED BY '$(sql_string "$password")'
  DATA DIRECTORY = '$(sql_string "$staging/data")'${require};
SQL
  state=$(local_sql <<<"SELECT STATE FROM performance_schema.clone_status")
  [[ $state == Completed ]] || die "the clone from ${donor} ended in state '${state}'"
  # The copy is complete; the throwaway server's own data is discarded, so it need not
  # shut down cleanly.
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  trap - EXIT
  rm -rf "$seed"
  # The copy carries the donor's GTID set: the replica auto-positions from it.
  printf 'LOG_FILE=\nLOG_POS=\nGTID=\n' >"$staging/data/${position_file}"
  # On disk before the rename marks it complete: a node crash must not leave a marked,
  # half-written copy.
  sync -f "$staging/data"
  mv "$staging/data" "$datadir"
  rm -rf "$staging"
  log "clone from ${donor} complete"
}

# backup_file NAME: the backup tool's metadata file NAME in the staging directory.
# MariaDB 11 writes mariadb_backup_NAME (MDEV-18931), XtraBackup and MariaDB 10
# xtrabackup_NAME.
backup_file() {
  local prefix
  for prefix in mariadb_backup xtrabackup; do
    if [[ -e $staging/${prefix}_$1 ]]; then
      printf '%s' "$staging/${prefix}_$1"
      return
    fi
  done
  printf '%s' "$staging/xtrabackup_$1"
}

# clone_from_stream: the donor's hot backup, streamed, checked and prepared.
clone_from_stream() {
  local log_file='' log_pos='' gtid='' info file_re pos_re gtid_re
  log "cloning from ${donor}:${MYSQL_HA_CLONE_PORT}"
  receive_stream "$donor" "$MYSQL_HA_CLONE_PORT" | "$MYSQL_HA_STREAM_EXTRACTOR" -x -C "$staging"
  [[ -f $(backup_file checkpoints) ]] \
    || die "the stream from ${donor} ended before a complete backup (no xtrabackup_checkpoints or mariadb_backup_checkpoints)"

  # Coordinates in the PRIMARY's binary log at which this copy stops. A clone of a
  # replica carries them in the slave info ("CHANGE MASTER TO MASTER_LOG_FILE=...",
  # or in GTID mode "SET GLOBAL gtid_slave_pos = '...'"); a clone of the primary in
  # the binlog info ("file<TAB>position[<TAB>gtid]"). A replica's own binlog info
  # names ITS binary log, not the primary's: never use it.
  if ((donor_ordinal != declared)); then
    [[ -s $(backup_file slave_info) ]] \
      || die "the backup from replica ${donor} has no slave info: the primary's coordinates are unknown"
    info=$(<"$(backup_file slave_info)")
    file_re="_LOG_FILE[[:space:]]*=[[:space:]]*'([^']+)'"
    pos_re="_LOG_POS[[:space:]]*=[[:space:]]*([0-9]+)"
    gtid_re="gtid_slave_pos[[:space:]]*=[[:space:]]*'([^']*)'"
    [[ $info =~ $file_re ]] && log_file=${BASH_REMATCH[1]}
    [[ $info =~ $pos_re ]] && log_pos=${BASH_REMATCH[1]}
    [[ $info =~ $gtid_re ]] && gtid=${BASH_REMATCH[1]}
  elif [[ -s $(backup_file binlog_info) ]]; then
    IFS=$'\t' read -r log_file log_pos gtid _ <"$(backup_file binlog_info)" || true
  else
    die "the backup from ${donor} has no binary log coordinates: is log-bin enabled on the donor?"
  fi
  [[ -n $log_file || -n $gtid ]] || die "no binary log coordinates found in the backup from ${donor}"

  "$MYSQL_HA_BACKUP" --prepare --target-dir="$staging"
  printf 'LOG_FILE=%s\nLOG_POS=%s\nGTID=%s\n' "$log_file" "$log_pos" "$gtid" >"$staging/${position_file}"
  sync -f "$staging"
  mv "$staging" "$datadir"
  log "clone from ${donor} complete: ${log_file:-} ${log_pos:-} ${gtid:-}"
}

case $MYSQL_HA_CLONE_METHOD in
  clone-plugin) clone_with_plugin ;;
  backup-stream) clone_from_stream ;;
  *) die "MYSQL_HA_CLONE_METHOD must be clone-plugin or backup-stream, got '${MYSQL_HA_CLONE_METHOD}'" ;;
esac
