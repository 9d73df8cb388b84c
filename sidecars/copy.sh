# shellcheck shell=bash
# Sourced by clone.sh (a new replica's data) and backup.sh (a scheduled backup): copies a
# running pod's data into a local directory, consistent, ready to start, and says which
# transactions the copy holds. How depends on the engine (MYSQL_HA_CLONE_METHOD):
#   - clone-plugin: a throwaway local server runs MySQL's CLONE INSTANCE against the
#     donor's server port; the copy carries the donor's GTID set;
#   - backup-stream: the donor's sidecar streams a hot backup over the clone port; it is
#     checked, prepared, and the primary's coordinates are read from it.
# With TLS on (MYSQL_HA_TLS_DIR), both travel encrypted: CLONE INSTANCE with REQUIRE SSL
# and the set's CA, the stream as mutual TLS (common.sh).
# Outputs: COPY_LOG_FILE, COPY_LOG_POS (in the primary's binary log, where known) and
# COPY_GTID (the GTID set or position the copy holds).
# shellcheck disable=SC2034  # COPY_* are outputs, read by the scripts that source this file

# wait_for_cached_login DONOR USER PASSWORD FILE: waits (up to 2 minutes) until USER logs in
# to DONOR without TLS and without the server's RSA key, i.e. from the donor's cache of the
# account (see server-probe.sh). CLONE INSTANCE, which would otherwise fall back to sending
# the password under a key or certificate nobody checked, then authenticates from the
# cache too. Any other failure than a cache miss (2061: the donor unreachable, the account
# refused) ends the copy at once, as CLONE INSTANCE would. FILE holds the login's options
# (mode 0600) and is removed after.
wait_for_cached_login() {
  local donor=$1 user=$2 password=$3 file=$4 backslash=$'\\' quote='"' error='' _
  password=${password//"$backslash"/"$backslash$backslash"}
  (
    umask 077
    printf '[client]\nuser=%s\npassword="%s"\nconnect-timeout=5\n' "$user" "${password//"$quote"/"$backslash$quote"}" \
      >"$file"
  )
  for _ in $(seq 1 60); do
    if error=$("$MYSQL_HA_CLIENT" --defaults-extra-file="$file" --protocol=TCP --host="$donor" --port="$MYSQL_HA_PORT" \
      --ssl-mode=DISABLED --batch <<<"SELECT 1" 2>&1 >/dev/null); then
      rm -f "$file"
      return 0
    fi
    if [[ $error != *"ERROR 2061 "* ]]; then
      rm -f "$file"
      die "${user} cannot log in to ${donor}: ${error}"
    fi
    sleep 2
  done
  rm -f "$file"
  die "${user} cannot log in to ${donor} from its authentication cache (${error}): the password is not sent where no key is checked; the donor's probes fill its cache (see server-probe.sh)"
}

# copy_with_plugin DONOR WORK TARGET USER PASSWORD_FILE: CLONE INSTANCE FROM DONOR into
# TARGET (which must not exist) as USER (an account with BACKUP_ADMIN alone) with the
# password in PASSWORD_FILE, run by a server started for this alone in WORK (socket only,
# no network listener, removed after).
copy_with_plugin() {
  local donor=$1 work=$2 target=$3 account=$4 password_file=$5
  local seed=$2/seed socket=$2/seed.sock server_pid password user state require='' tls=() row
  local tls_dir=${MYSQL_HA_TLS_DIR:-}
  log "cloning from ${donor}:${MYSQL_HA_PORT} with the CLONE plugin"
  if [[ -n $tls_dir ]]; then
    tls=("--clone-ssl-ca=${tls_dir}/ca.crt" "--clone-ssl-cert=${tls_dir}/tls.crt" "--clone-ssl-key=${tls_dir}/tls.key")
    require=' REQUIRE SSL'
  fi
  # Without a binary log the throwaway server initializes in about half the time.
  "$MYSQL_HA_SERVER" --no-defaults --initialize-insecure --datadir="$seed" --skip-log-bin \
    --log-error="$work/seed-init.err" --secure-file-priv=NULL \
    || die "could not initialize the local clone server: $(tail -n 5 "$work/seed-init.err")"
  "$MYSQL_HA_SERVER" --no-defaults --datadir="$seed" --socket="$socket" --pid-file="$work/seed.pid" \
    --skip-networking --mysqlx=OFF --skip-log-bin --secure-file-priv=NULL \
    --innodb-buffer-pool-size=64M --plugin-load-add=mysql_clone.so "${tls[@]}" \
    --log-error="$work/seed.err" &
  server_pid=$!
  # shellcheck disable=SC2064  # the pid is known now
  trap "kill ${server_pid} 2>/dev/null || true" EXIT
  local_sql() { "$MYSQL_HA_CLIENT" --no-defaults --protocol=SOCKET --socket="$socket" --user=root --batch --skip-column-names; }
  for _ in $(seq 1 300); do
    local_sql <<<"SELECT 1" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || die "the local clone server stopped: $(tail -n 5 "$work/seed.err")"
    sleep 0.2
  done
  [[ -s $password_file ]] || die "no password for ${account}: the Secret's key for ${password_file##*/} is missing or empty"
  password=$(<"$password_file")
  [[ -z ${MYSQL_HA_AUTH_CACHE:-} ]] || wait_for_cached_login "$donor" "$account" "$password" "$work/login.cnf"
  user=$(sql_string "$account")
  # The password travels on stdin, never on a command line.
  local_sql <<SQL || die "CLONE INSTANCE from ${donor} failed (see above)"
SET GLOBAL clone_valid_donor_list = '$(sql_string "${donor}:${MYSQL_HA_PORT}")';
CLONE INSTANCE FROM '${user}'@'$(sql_string "$donor")':${MYSQL_HA_PORT} IDENTIFIED BY '$(sql_string "$password")'
  DATA DIRECTORY = '$(sql_string "$target")'${require};
SQL
  row=$(local_sql <<<"SELECT STATE, REPLACE(REPLACE(IFNULL(GTID_EXECUTED, ''), '\n', ''), ' ', '') FROM performance_schema.clone_status")
  state=${row%%$'\t'*}
  [[ $state == Completed ]] || die "the clone from ${donor} ended in state '${state}'"
  COPY_LOG_FILE='' COPY_LOG_POS=''
  COPY_GTID=${row#*$'\t'}
  # The copy is complete; the throwaway server's own data is discarded, so it need not
  # shut down cleanly.
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  trap - EXIT
  rm -rf "$seed"
}

# backup_file DIR NAME: the backup tool's metadata file NAME in DIR. MariaDB 11 writes
# mariadb_backup_NAME (MDEV-18931), XtraBackup and MariaDB 10 xtrabackup_NAME.
backup_file() {
  local prefix
  for prefix in mariadb_backup xtrabackup; do
    if [[ -e $1/${prefix}_$2 ]]; then
      printf '%s' "$1/${prefix}_$2"
      return
    fi
  done
  printf '%s' "$1/xtrabackup_$2"
}

# copy_from_stream DONOR FROM_PRIMARY TARGET: the donor's hot backup, streamed into TARGET,
# checked and prepared. FROM_PRIMARY is 1 when DONOR is the declared primary.
copy_from_stream() {
  local donor=$1 from_primary=$2 target=$3 info file_re pos_re gtid_re
  COPY_LOG_FILE='' COPY_LOG_POS='' COPY_GTID=''
  log "cloning from ${donor}:${MYSQL_HA_CLONE_PORT}"
  mkdir -p "$target"
  receive_stream "$donor" "$MYSQL_HA_CLONE_PORT" | "$MYSQL_HA_STREAM_EXTRACTOR" -x -C "$target"
  [[ -f $(backup_file "$target" checkpoints) ]] \
    || die "the stream from ${donor} ended before a complete backup (no xtrabackup_checkpoints or mariadb_backup_checkpoints)"

  # Coordinates in the PRIMARY's binary log at which this copy stops. A copy of a
  # replica carries them in the slave info ("CHANGE MASTER TO MASTER_LOG_FILE=...",
  # or in GTID mode "SET GLOBAL gtid_slave_pos = '...'"); a copy of the primary in
  # the binlog info ("file<TAB>position[<TAB>gtid]"). A replica's own binlog info
  # names ITS binary log, not the primary's: never use it.
  if ((from_primary == 0)); then
    [[ -s $(backup_file "$target" slave_info) ]] \
      || die "the backup from replica ${donor} has no slave info: the primary's coordinates are unknown"
    info=$(<"$(backup_file "$target" slave_info)")
    file_re="_LOG_FILE[[:space:]]*=[[:space:]]*'([^']+)'"
    pos_re="_LOG_POS[[:space:]]*=[[:space:]]*([0-9]+)"
    gtid_re="gtid_slave_pos[[:space:]]*=[[:space:]]*'([^']*)'"
    [[ $info =~ $file_re ]] && COPY_LOG_FILE=${BASH_REMATCH[1]}
    [[ $info =~ $pos_re ]] && COPY_LOG_POS=${BASH_REMATCH[1]}
    [[ $info =~ $gtid_re ]] && COPY_GTID=${BASH_REMATCH[1]}
  elif [[ -s $(backup_file "$target" binlog_info) ]]; then
    IFS=$'\t' read -r COPY_LOG_FILE COPY_LOG_POS COPY_GTID _ <"$(backup_file "$target" binlog_info)" || true
  else
    die "the backup from ${donor} has no binary log coordinates: is log-bin enabled on the donor?"
  fi
  [[ -n $COPY_LOG_FILE || -n $COPY_GTID ]] || die "no binary log coordinates found in the backup from ${donor}"

  "$MYSQL_HA_BACKUP" --prepare --target-dir="$target"
}
