#!/usr/bin/env bash
# Init container "restore-mysql" (the server's image), with ReplicatedMySQL(restore_from=...):
# turns what restore-fetch.sh copied to $MYSQL_HA_DATA_ROOT/restore.tmp into the data
# directory of the declared primary:
#   1. checks the backup's files against their SHA-256 (data.sha256, whose own SHA-256 the
#      manifest holds) and that it was taken from this engine's server, then decompresses
#      them (zstd; the official mysql image has no tar);
#   2. starts a server on it for this alone (socket only, no grant checks, replication
#      held), clears the source's replication settings, gives (MariaDB) the empty binary
#      log the backup's GTID state;
#   3. with a point in time: replays the archived binary logs from the first one that
#      continues the backup's GTID set, leaving out the transactions the backup has and
#      stopping at the first transaction committed at or after MYSQL_HA_RESTORE_STOP_EPOCH;
#      every replayed transaction keeps its GTID. How (MYSQL_HA_BINLOG_REPLAY):
#        client:  the engine's binary log reader (MariaDB's mariadb-binlog) pipes them into
#                 the client, with MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION and --stop-datetime;
#        applier: (MySQL, whose official image has no mysqlbinlog) they become the relay log
#                 of a replication channel, "restore", whose SQL thread applies them (it
#                 skips the transactions the server has), until the first transaction that
#                 committed at or after the point in time, read from the logs' GTID events;
#   4. stops the server cleanly, and renames the directory into place: the rename marks a
#      complete restore. The set's server sets its own accounts (this set's Secret) from its
#      init file when it starts; this container needs no password. Any failure leaves no
#      data directory, so no server starts on partial data.

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
restore_started=$(date +%s)
if [[ ${MYSQL_HA_RESTORE_DRILL:-} == 1 ]]; then
  # A restore drill's pod (RestoreDrill): no set around it; it restores as ordinal 0 would.
  POD_ORDINAL=0
else
  pod_identity
  declared=$(declared_primary) || die "no declared primary in the topology ConfigMap"
  if ((POD_ORDINAL != declared)); then
    log "ordinal ${POD_ORDINAL} is not the declared primary: it clones the restored primary"
    exit 0
  fi
fi
[[ -s $staging/plan ]] || die "restore-fetch left no plan in ${staging}: nothing to restore"

# value KEY FILE: the value of KEY=... in FILE.
value() { sed -n "s/^$1=//p" "$2" | head -n 1; }
backup=$(value backup "$staging/plan")
# point_in_time="latest": restore-fetch chose the second.
if [[ -z ${MYSQL_HA_RESTORE_STOP_EPOCH:-} && -n $(value stop_epoch "$staging/plan") ]]; then
  MYSQL_HA_RESTORE_STOP_EPOCH=$(value stop_epoch "$staging/plan")
  MYSQL_HA_RESTORE_STOP_DATETIME=$(date -u -d "@${MYSQL_HA_RESTORE_STOP_EPOCH}" '+%Y-%m-%d %H:%M:%S')
  MYSQL_HA_RESTORE_POINT_IN_TIME=$(value point_in_time "$staging/plan")
fi
binlog_source=$(value binlog_source "$staging/plan")
manifest=$staging/backup/manifest
[[ -s $manifest ]] || die "backup ${backup} has no manifest"
format=$(value format "$manifest")
gtid=$(value gtid "$manifest")
[[ $format == zstd-files ]] \
  || die "backup ${backup} has the format '${format}', which this version does not read (data.tar.* backups are restored by the version that took them)"
[[ -f $staging/backup/data.sha256 && -f $staging/backup/data.dirs ]] \
  || die "backup ${backup} has no data.sha256 or data.dirs"

server=$(value server "$manifest")
[[ -z $server || $server == "$MYSQL_HA_SERVER" ]] \
  || die "backup ${backup} holds data of ${server} ($(value engine "$manifest")), this set runs ${MYSQL_HA_SERVER}"
expected=$(value sha256 "$manifest")
actual=$(sha256sum "$staging/backup/data.sha256")
actual=${actual%% *}
[[ $actual == "$expected" ]] \
  || die "backup ${backup} is corrupt: the SHA-256 of data.sha256 is ${actual}, its manifest says ${expected}; nothing was restored (restore another backup, see the target's backups/)"
if ! failed=$(cd "$staging/backup/data" && sha256sum --quiet -c ../data.sha256 2>&1); then
  die "backup ${backup} is corrupt: $(head -n 3 <<<"$failed" | tr '\n' ' '); nothing was restored (restore another backup, see the target's backups/)"
fi

log "unpacking backup ${backup} ($(value size_bytes "$manifest") bytes, GTID ${gtid})"
rm -rf "$staging/data"
mkdir -p "$staging/data"
while IFS= read -r folder; do
  [[ -z $folder ]] || mkdir -p "$staging/data/$folder"
done <"$staging/backup/data.dirs"
# The backup's files stay until the end: the kubelet retries this container alone, without
# fetching again.
(cd "$staging/backup/data" && zstd -q -d -r --output-dir-mirror "$staging/data" .) \
  || die "backup ${backup} could not be decompressed (see above)"
rm -f "$staging/data"/mysql-ha-source-position*

# The archived binary logs, oldest first.
files=()
if [[ -n $binlog_source ]]; then
  mapfile -t files < <(find "$staging/binlogs" -maxdepth 1 -name 'mysql-bin.[0-9]*' ! -name '*.partial' -printf '%f\n' | sort)
  ((${#files[@]} > 0)) || die "no archived binary log of ${binlog_source} was fetched"
fi

# The applier reads them as the relay log of the channel "restore" (hard links
# <relay>/restore-restore.N, listed in <relay>/restore-restore.index, kept when applied);
# its SQL thread leaves out the events of its own server id, so the server takes one that
# no pod has.
relay=$staging/relay
server_id=$((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))
replay_options=()
relay_name() { printf 'restore-restore.%s' "${1##*.}"; }
if [[ -n $binlog_source && $MYSQL_HA_BINLOG_REPLAY == applier ]]; then
  rm -rf "$relay"
  mkdir -p "$relay"
  for file in "${files[@]}"; do
    ln "$staging/binlogs/$file" "$relay/$(relay_name "$file")"
    printf '%s/%s\n' "$relay" "$(relay_name "$file")" >>"$relay/restore-restore.index"
  done
  server_id=4294967295
  replay_options=(--relay-log="$relay/restore" --relay-log-purge=OFF --replica-parallel-workers=1)
fi

socket=$staging/restore.sock
"$MYSQL_HA_SERVER" --defaults-file="${MYSQL_HA_CONFIG_DIR:?}/primary.cnf" --datadir="$staging/data" \
  --socket="$socket" --pid-file="$staging/restore.pid" --skip-networking --skip-grant-tables \
  --loose-mysqlx=OFF --server-id="$server_id" "${replay_options[@]}" \
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

# MYSQL_HA_RESTORE_VERIFY=1 (a restore drill): every table the backup recorded (its
# checksums file: "schema.table checksum" lines, CHECKSUM TABLE on the copy) reads whole and
# alike here, before any binary log is replayed. A server of another version may lay the
# rows out otherwise: then the tables are read, not compared.
tables_checked=0
if [[ ${MYSQL_HA_RESTORE_VERIFY:-} == 1 ]]; then
  [[ -f $staging/backup/checksums ]] || die "backup ${backup} recorded no table checksums (taken by an earlier version): nothing to verify"
  compare=yes
  [[ $(local_sql <<<"SELECT VERSION()") == "$(value server_version "$manifest")" ]] || compare=no
  declare -A recorded=()
  while IFS=$'\t' read -r table sum; do
    [[ -z $table ]] || recorded[$table]=$sum
  done <"$staging/backup/checksums"
  if ((${#recorded[@]} > 0)); then
    list=''
    for table in "${!recorded[@]}"; do
      list+="${list:+, }\`${table%%.*}\`.\`${table#*.}\`"
    done
    while IFS=$'\t' read -r table sum; do
      [[ -n $table ]] || continue
      [[ $sum != NULL ]] || die "backup ${backup}: table ${table} cannot be read after the restore"
      if [[ $compare == yes && $sum != "${recorded[$table]:-}" ]]; then
        die "backup ${backup}: table ${table} restores with the checksum ${sum}, the backup recorded ${recorded[$table]:-none}: nothing was restored"
      fi
      tables_checked=$((tables_checked + 1))
    done < <(local_sql <<<"CHECKSUM TABLE ${list}")
  fi
  ((tables_checked == ${#recorded[@]})) || die "backup ${backup}: ${tables_checked} of ${#recorded[@]} tables it recorded were read"
  log "${tables_checked} tables of backup ${backup} $([[ $compare == yes ]] && echo "match the checksums it recorded" || echo "read whole (another server version: not compared)")"
fi

# binlog_gtids FILE: the GTID set that precedes FILE's first transaction.
binlog_gtids() {
  case $MYSQL_HA_BINLOG_REPLAY in
    client)
      local header
      header=$( ("$MYSQL_HA_BINLOG_TOOL" "$1" 2>/dev/null || true) | head -n 40)
      case $MYSQL_HA_BINLOG_GTID_HEADER in
        previous-gtids)
          # mysqlbinlog: "...Previous-GTIDs" then "# uuid:1-5," lines up to the next event ("# at N").
          awk '/Previous-GTIDs/ {on=1; next} on && /^# at / {exit} on && /^# / {sub(/^# /, ""); printf "%s", $0}' \
            <<<"$header" | sed 's/\[empty\]//'
          ;;
        gtid-list)
          # mariadb-binlog: "Gtid list [0-1-5]".
          sed -n 's/.*Gtid list \[\([^]]*\)\].*/\1/p' <<<"$header" | head -n 1
          ;;
        *) die "MYSQL_HA_BINLOG_GTID_HEADER must be previous-gtids or gtid-list, got '${MYSQL_HA_BINLOG_GTID_HEADER}'" ;;
      esac
      ;;
    applier)
      # The server reads the relay log's Previous_gtids event.
      local_sql <<<"SHOW RELAYLOG EVENTS IN '$(relay_name "$1")' LIMIT 5 FOR CHANNEL 'restore'" \
        | while IFS=$'\t' read -r _ _ type _ _ info; do
          [[ $type != Previous_gtids ]] || printf '%s' "$info"
        done | gtid_of
      ;;
    *) die "MYSQL_HA_BINLOG_REPLAY must be client or applier, got '${MYSQL_HA_BINLOG_REPLAY}'" ;;
  esac
}

replay=()
if [[ -n $binlog_source ]]; then
  if [[ $MYSQL_HA_BINLOG_REPLAY == applier ]]; then
    local_sql <<<"CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'restore.invalid', RELAY_LOG_FILE = '$(relay_name "${files[0]}")', RELAY_LOG_POS = 4 FOR CHANNEL 'restore'" \
      || die "the server did not take the archived binary logs as a relay log (see above)"
  fi
  start=-1
  declare -A before_of=()
  for i in "${!files[@]}"; do
    before=$(binlog_gtids "$staging/binlogs/${files[$i]}")
    before_of[${files[$i]}]=$before
    if gtid_contains "$gtid" "$before"; then
      start=$i
    fi
  done
  ((start >= 0)) || die "the archived binary logs of ${binlog_source} begin after backup ${backup} (GTID ${gtid}): the first, ${files[0]}, follows GTIDs $(binlog_gtids "$staging/binlogs/${files[0]}"); restore without a point in time, or from a newer backup"
  replay=("${files[@]:start}")
  # One series numbers its files without a hole, and each begins where the one before
  # ended: a missing file would be replayed around, silently.
  for ((i = 1; i < ${#replay[@]}; i++)); do
    if ((10#${replay[i]##*.} != 10#${replay[i - 1]##*.} + 1)); then
      die "the archived binary logs of ${binlog_source} skip from ${replay[i - 1]} to ${replay[i]}: nothing was restored (restore to an earlier point, or from a newer backup)"
    fi
    if ! gtid_contains "${before_of[${replay[i]}]}" "${before_of[${replay[i - 1]}]}"; then
      die "the archived binary log ${replay[i]} of ${binlog_source} does not continue ${replay[i - 1]} (it follows GTIDs ${before_of[${replay[i]}]}, ${replay[i - 1]} follows ${before_of[${replay[i - 1]}]}): nothing was restored"
    fi
  done
  log "replaying ${#replay[@]} binary log(s) of ${binlog_source} from ${replay[0]} up to ${MYSQL_HA_RESTORE_POINT_IN_TIME}"
fi

# le_number FILE OFFSET COUNT: the COUNT bytes at OFFSET of FILE, as a little-endian number.
le_number() {
  local value=0 bits=0 byte
  for byte in $(od -An -v -tu1 -j "$2" -N "$3" "$1"); do
    value=$((value | byte << bits))
    bits=$((bits + 8))
  done
  printf '%d' "$value"
}

# commit_time FILE POS: when the transaction of the GTID event at POS of FILE committed on
# the server where it began (microseconds since the epoch). The event (MySQL 8.0+): a
# 19-byte header, flags (1), the source's UUID (16), the transaction number (8), the
# logical clock (1 + 8 + 8), then the commit time here (7 bytes; its top bit says that the
# original commit time, 7 more bytes, follows).
commit_time() {
  local immediate
  immediate=$(le_number "$1" $(($2 + 61)) 7)
  if (((immediate >> 55) & 1)); then
    le_number "$1" $(($2 + 68)) 7
  else
    printf '%d' "$immediate"
  fi
}

# stop_gtid: the first transaction of the logs to replay that committed at or after the
# point in time (none: every one of them comes before it). The logs closed before the last
# one created before the point are wholly before it (a log's first event is written when it
# is created, its header's first 4 bytes that time): only from that one on is each
# transaction's commit time read.
stop_gtid() {
  local first=0 i name pos type info stop_us=$((MYSQL_HA_RESTORE_STOP_EPOCH * 1000000))
  for i in "${!replay[@]}"; do
    if (($(le_number "$staging/binlogs/${replay[$i]}" 4 4) < MYSQL_HA_RESTORE_STOP_EPOCH)); then
      first=$i
    fi
  done
  for ((i = first; i < ${#replay[@]}; i++)); do
    name=$(relay_name "${replay[$i]}")
    while IFS=$'\t' read -r _ pos type _ _ info; do
      [[ $type == Gtid ]] || continue
      if (($(commit_time "$relay/$name" "$pos") >= stop_us)); then
        info=${info#*\'}
        printf '%s' "${info%\'*}"
        return
      fi
    done < <(local_sql <<<"SHOW RELAYLOG EVENTS IN '${name}' FOR CHANNEL 'restore'")
  done
}

# last_gtid: the last transaction of the logs to replay ('' when they hold none).
last_gtid() {
  local i info last=''
  for ((i = ${#replay[@]} - 1; i >= 0 && ${#last} == 0; i--)); do
    while IFS=$'\t' read -r _ _ type _ _ info; do
      [[ $type == Gtid ]] || continue
      info=${info#*\'}
      last=${info%\'*}
    done < <(local_sql <<<"SHOW RELAYLOG EVENTS IN '$(relay_name "${replay[$i]}")' FOR CHANNEL 'restore'")
  done
  printf '%s' "$last"
}

# One session from here on: once the grant tables are loaded (FLUSH), a new session would
# need a password, while this one keeps its privileges (account statements in the logs
# apply too).
if [[ ${#replay[@]} -gt 0 && $MYSQL_HA_BINLOG_REPLAY == applier ]]; then
  stop=$(stop_gtid)
  if [[ -n $stop ]]; then
    until_clause="SQL_BEFORE_GTIDS = '${stop}'"
  else
    stop=$(last_gtid)
    until_clause="SQL_AFTER_GTIDS = '${stop}'"
  fi
  log "the replay ends ${until_clause%% =*} ${stop:-(no transaction to replay)}"
  coproc SESSION { local_sql --unbuffered 2>&1; }
  # ask STATEMENT: the rows of STATEMENT, run on the session; fails once the session ended
  # (the client ends at the first error, which it prints).
  ask() {
    local line
    printf '%s;\nSELECT '"'"'mysql-ha-end'"'"';\n' "$1" >&"${SESSION[1]}"
    while IFS= read -r line <&"${SESSION[0]}"; do
      [[ $line != mysql-ha-end ]] || return 0
      printf '%s\n' "$line"
    done
    return 1
  }
  ask "FLUSH LOCAL PRIVILEGES" >/dev/null || die "the replay of ${binlog_source}'s binary logs did not start"
  if [[ -n $stop ]]; then
    ask "START REPLICA SQL_THREAD UNTIL ${until_clause} FOR CHANNEL 'restore'" >/dev/null \
      || die "the replay of ${binlog_source}'s binary logs did not start"
    applier_errors="SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) FROM performance_schema.replication_applier_status_by_worker WHERE CHANNEL_NAME = 'restore' AND LAST_ERROR_NUMBER <> 0 UNION ALL SELECT CONCAT(LAST_ERROR_NUMBER, ' ', LAST_ERROR_MESSAGE) FROM performance_schema.replication_applier_status_by_coordinator WHERE CHANNEL_NAME = 'restore' AND LAST_ERROR_NUMBER <> 0"
    while true; do
      state=$(ask "SELECT SERVICE_STATE FROM performance_schema.replication_applier_status WHERE CHANNEL_NAME = 'restore'") \
        || die "the session of the replay ended: ${state:-}"
      errors=$(ask "$applier_errors") || die "the session of the replay ended: ${errors:-}"
      [[ -z $errors ]] || die "the replay of ${binlog_source}'s binary logs failed: ${errors}"
      [[ $state == ON ]] || break
      sleep 0.2
    done
  fi
  if ! ask "STOP REPLICA FOR CHANNEL 'restore'" >/dev/null || ! ask "RESET REPLICA ALL FOR CHANNEL 'restore'" >/dev/null; then
    die "the channel of the replay could not be removed"
  fi
  restored=$(ask "$MYSQL_HA_SQL_GTID_EXECUTED") || die "the restored server did not say its GTID set: ${restored}"
  restored=$(gtid_of <<<"$restored")
  session_in=${SESSION[1]}
  exec {session_in}>&-
  wait "$SESSION_PID" || true
else
  restored=$( (
    cd "$staging/binlogs" 2>/dev/null || true
    printf 'FLUSH LOCAL PRIVILEGES;\n'
    if ((${#replay[@]} > 0)); then
      "$MYSQL_HA_BINLOG_TOOL" "${MYSQL_HA_BINLOG_SKIP_APPLIED_OPTION//@GTID@/"$gtid"}" \
        --stop-datetime="$MYSQL_HA_RESTORE_STOP_DATETIME" "${replay[@]}"
    fi
    printf '%s;\n' "$MYSQL_HA_SQL_GTID_EXECUTED"
  ) | local_sql | tail -n 1 | gtid_of) || die "the restore of backup ${backup} failed${binlog_source:+ while replaying the binary logs of ${binlog_source}} (see above)"
fi
kill -TERM "$server_pid"
wait "$server_pid" || die "the server on the restored data did not stop cleanly: $(tail -n 5 "$staging/server.err")"
trap - EXIT
sync -f "$staging/data"
mv "$staging/data" "$datadir"
fetched_seconds=$(value fetched_seconds "$staging/plan")
rm -rf "$staging"
log "restored backup ${backup}${binlog_source:+ to ${MYSQL_HA_RESTORE_POINT_IN_TIME}}: GTID ${restored}"
# What a restore drill reports (RestoreDrill's report container uploads it).
printf 'backup=%s\npoint_in_time=%s\nbinlog_source=%s\ngtid=%s\ntables_checked=%s\nfetch_seconds=%s\nrestore_seconds=%s\n' \
  "$backup" "${binlog_source:+${MYSQL_HA_RESTORE_POINT_IN_TIME}}" "$binlog_source" "$restored" "$tables_checked" \
  "$fetched_seconds" "$(($(date +%s) - restore_started))" >"$data_root/restore-report"
