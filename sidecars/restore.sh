#!/usr/bin/env bash
# Init container "restore-mysql" (the server's image), with ReplicatedMySQL(restore_from=...):
# turns what restore-fetch.sh copied to $MYSQL_HA_DATA_ROOT/restore.tmp into the data
# directory of the declared primary:
#   1. checks the archive against the SHA-256 of its manifest and that it was taken
#      from this engine's server, then unpacks it;
#   2. starts a server on it for this alone (socket only, no grant checks, replication
#      held), clears the source's replication settings, gives (MariaDB) the empty binary
#      log the backup's GTID state;
#   3. with a point in time: replays the archived binary logs from the first one that
#      continues the backup's GTID set, leaving out the transactions the backup has
#      (MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION) and stopping before
#      MYSQL_HA_RESTORE_STOP_DATETIME; every replayed transaction keeps its GTID;
#   4. stops the server cleanly, and renames the directory into place: the rename marks a
#      complete restore. The set's server sets its own accounts (this set's Secret) from its
#      init file when it starts; this container needs no password. Any failure leaves no data directory, so no server starts on partial data.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"
# SIGTERM abandons the work at once (see common.sh).
end_on_term "$@"

data_root=${MYSQL_HA_DATA_ROOT:?}
datadir=$data_root/mysql
staging=$data_root/restore.tmp

if [[ -d $datadir ]]; then
  log "data directory ${datadir} exists: nothing to restore"
  exit 0
fi
pod_identity
declared=$(declared_primary) || die "no declared primary in the topology ConfigMap"
if ((POD_ORDINAL != declared)); then
  log "ordinal ${POD_ORDINAL} is not the declared primary: it clones the restored primary"
  exit 0
fi
[[ -s $staging/plan ]] || die "restore-fetch left no plan in ${staging}: nothing to restore"

# value KEY FILE: the value of KEY=... in FILE.
value() { sed -n "s/^$1=//p" "$2" | head -n 1; }
backup=$(value backup "$staging/plan")
binlog_source=$(value binlog_source "$staging/plan")
manifest=$staging/backup/manifest
[[ -s $manifest ]] || die "backup ${backup} has no manifest"
format=$(value format "$manifest")
gtid=$(value gtid "$manifest")
archive=$staging/backup/data.${format}
[[ -f $archive ]] || die "backup ${backup} has no data.${format}"

server=$(value server "$manifest")
[[ -z $server || $server == "$MYSQL_HA_SERVER" ]] \
  || die "backup ${backup} holds data of ${server} ($(value engine "$manifest")), this set runs ${MYSQL_HA_SERVER}"
expected=$(value sha256 "$manifest")
actual=$(sha256sum "$archive")
actual=${actual%% *}
[[ $actual == "$expected" ]] \
  || die "backup ${backup} is corrupt: the SHA-256 of data.${format} is ${actual}, its manifest says ${expected}; nothing was restored (restore another backup, see the target's backups/)"

log "unpacking backup ${backup} ($(value size_bytes "$manifest") bytes, GTID ${gtid})"
rm -rf "$staging/data"
mkdir -p "$staging/data"
case $format in
  tar.zst) zstd -q -d -c "$archive" | tar -C "$staging/data" -xf - ;;
  tar.gz) gzip -d -c "$archive" | tar -C "$staging/data" -xf - ;;
  *) die "backup ${backup} has an unknown format '${format}'" ;;
esac
# The archive stays until the end: the kubelet retries this container alone, without
# fetching again.
rm -f "$staging/data"/mysql-ha-source-position*

socket=$staging/restore.sock
"$MYSQL_HA_SERVER" --defaults-file="${MYSQL_HA_CONFIG_DIR:?}/primary.cnf" --datadir="$staging/data" \
  --socket="$socket" --pid-file="$staging/restore.pid" --skip-networking --skip-grant-tables \
  --loose-mysqlx=OFF --server-id="$((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))" \
  --"${MYSQL_HA_SKIP_REPLICA_START_OPTION}" --log-error="$staging/server.err" &
server_pid=$!
# shellcheck disable=SC2064  # the pid is known now
trap "kill -KILL ${server_pid} 2>/dev/null || true" EXIT
local_sql() { "$MYSQL_HA_CLIENT" --no-defaults --protocol=SOCKET --socket="$socket" --user=root --batch --skip-column-names "$@"; }
# The GTID functions of common.sh query this server.
sql() { local_sql "$@"; }
for _ in $(seq 1 600); do
  local_sql <<<"SELECT 1" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || die "the server did not start on backup ${backup}: $(tail -n 5 "$staging/server.err")"
  sleep 0.2
done
local_sql <<<"SELECT 1" >/dev/null || die "the server did not answer on backup ${backup}"

# The backup was taken from a pod of another set: forget its source.
local_sql <<<"${MYSQL_HA_SQL_STOP_REPLICA};" >/dev/null 2>&1 || true
local_sql <<<"${MYSQL_HA_SQL_RESET_REPLICA};" >/dev/null 2>&1 || true
if [[ -n $MYSQL_HA_SQL_RESTORE_GTID_STATE ]]; then
  local_sql <<<"${MYSQL_HA_SQL_RESTORE_GTID_STATE//@GTID@/"$(sql_string "$gtid")"};"
fi

# binlog_gtids FILE: the GTID set that precedes FILE's first transaction.
binlog_gtids() {
  local header
  header=$( ("$MYSQL_HA_BINLOG_TOOL" "$1" 2>/dev/null || true) | head -n 40)
  case $MYSQL_HA_BINLOG_GTID_HEADER in
    previous-gtids)
      # "...Previous-GTIDs" then "# uuid:1-5," lines up to the next event ("# at N").
      awk '/Previous-GTIDs/ {on=1; next} on && /^# at / {exit} on && /^# / {sub(/^# /, ""); printf "%s", $0}' \
        <<<"$header" | sed 's/\[empty\]//'
      ;;
    gtid-list)
      sed -n 's/.*Gtid list \[\([^]]*\)\].*/\1/p' <<<"$header" | head -n 1
      ;;
    *) die "MYSQL_HA_BINLOG_GTID_HEADER must be previous-gtids or gtid-list, got '${MYSQL_HA_BINLOG_GTID_HEADER}'" ;;
  esac
}

replay=()
if [[ -n $binlog_source ]]; then
  mapfile -t files < <(find "$staging/binlogs" -maxdepth 1 -name 'mysql-bin.[0-9]*' ! -name '*.partial' -printf '%f\n' | sort)
  ((${#files[@]} > 0)) || die "no archived binary log of ${binlog_source} was fetched"
  start=-1
  for i in "${!files[@]}"; do
    before=$(binlog_gtids "$staging/binlogs/${files[$i]}")
    if gtid_contains "$gtid" "$before"; then
      start=$i
    fi
  done
  ((start >= 0)) || die "the archived binary logs of ${binlog_source} begin after backup ${backup} (GTID ${gtid}): the first, ${files[0]}, follows GTIDs $(binlog_gtids "$staging/binlogs/${files[0]}"); restore without a point in time, or from a newer backup"
  replay=("${files[@]:start}")
  log "replaying ${#replay[@]} binary log(s) of ${binlog_source} from ${replay[0]} up to ${MYSQL_HA_RESTORE_POINT_IN_TIME}"
fi

# One session from here on: once the grant tables are loaded (FLUSH), a new session would
# need a password, while this one keeps its privileges (account statements in the logs
# apply too).
restored=$( (
  cd "$staging/binlogs" 2>/dev/null || true
  printf 'FLUSH LOCAL PRIVILEGES;\n'
  if ((${#replay[@]} > 0)); then
    "$MYSQL_HA_BINLOG_TOOL" "${MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION//@GTID@/"$gtid"}" \
      --stop-datetime="$MYSQL_HA_RESTORE_STOP_DATETIME" "${replay[@]}"
  fi
  printf '%s;\n' "$MYSQL_HA_SQL_GTID_EXECUTED"
) | local_sql | tail -n 1 | gtid_of) || die "the restore of backup ${backup} failed${binlog_source:+ while replaying the binary logs of ${binlog_source}} (see above)"
kill -TERM "$server_pid"
wait "$server_pid" || die "the server on the restored data did not stop cleanly: $(tail -n 5 "$staging/server.err")"
trap - EXIT
sync -f "$staging/data"
mv "$staging/data" "$datadir"
rm -rf "$staging"
log "restored backup ${backup}${binlog_source:+ to ${MYSQL_HA_RESTORE_POINT_IN_TIME}}: GTID ${restored}"
