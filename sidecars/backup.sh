#!/usr/bin/env bash
# Init container "backup" of MySQLBackup's Job: copies one pod of the set, as a new
# replica would (copy.sh), and packs it for the "upload" container:
#   $MYSQL_HA_STAGING_DIR/out/<name>/data/        (each file of the data directory, zstd)
#   $MYSQL_HA_STAGING_DIR/out/<name>/data.dirs    (its folders)
#   $MYSQL_HA_STAGING_DIR/out/<name>/data.sha256  (the SHA-256 of each file of data/)
#   $MYSQL_HA_STAGING_DIR/out/<name>/manifest     (key=value lines, see below)
#   $MYSQL_HA_STAGING_DIR/out/retention           (what upload may delete)
# <name> is the UTC start time, 20261126T030000Z. The copy is made from the first replica
# that replicates with both threads within MYSQL_HA_MAX_LAG_SECONDS and has applied every
# transaction the primary had when the run began (it waits that long for it), or from the
# declared primary (MYSQL_HA_BACKUP_SOURCE=primary, or no replica ready within
# MYSQL_HA_BACKUP_REPLICA_WAIT_SECONDS: a WARNING, and the manifest says why): either way the
# backup holds every transaction committed before the run began. The copy holds every
# transaction of its GTID set (recorded in the manifest): a point-in-time restore replays
# the archived binary logs from there.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"
# shellcheck source=copy.sh
source "${MYSQL_HA_SCRIPTS_DIR}/copy.sh"
# SIGTERM abandons the work at once (see common.sh).
end_on_term "$@"

POD_SET=${MYSQL_HA_SET:?}
staging=${MYSQL_HA_STAGING_DIR:?}
work=${staging}/copy
out=${staging}/out
rm -rf "$work" "$out"
mkdir -p "$work" "$out"

# The read-only status account's option file, for the servers' state (the password stays
# out of every command line). The copy itself logs in as the backup account (MySQL) or
# is served by the pod's backup stream (MariaDB).
status_cnf=${MYSQL_HA_RUN_DIR:?}/status.cnf
password=$(<"${MYSQL_HA_SECRET_DIR}/status-password") || die "the Secret has no key for the status account's password"
[[ -n $password ]] || die "the status account's password in the Secret is empty"
backslash=$'\\' quote='"'
password=${password//"$backslash"/"$backslash$backslash"}
(
  umask 077
  printf '[client]\nuser=%s\npassword="%s"\nport=%s\nconnect-timeout=5\n%s' "$MYSQL_HA_STATUS_USER" \
    "${password//"$quote"/"$backslash$quote"}" "$MYSQL_HA_PORT" "${MYSQL_HA_CLIENT_NETWORK_OPTIONS:-}" >"$status_cnf"
)
unset password

# remote_sql HOST: the statements on stdin, on HOST's server as the status account.
remote_sql() {
  local SQL_HOST=$1
  shift
  "$MYSQL_HA_CLIENT" --defaults-extra-file="$status_cnf" --protocol=TCP --host="$SQL_HOST" \
    --port="$MYSQL_HA_PORT" --batch --skip-column-names "$@"
}

# replica_ready HOST: HOST replicates, both threads running, within the lag bound; else
# says why in $why.
replica_ready() {
  local output line key lag
  local -A status=()
  why='does not answer'
  output=$(remote_sql "$1" --vertical --column-names <<<"$MYSQL_HA_SQL_REPLICA_STATUS" 2>/dev/null) || return 1
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    [[ $line == *": "* ]] || continue
    key=${line%%:*}
    status[$key]=${line#*: }
  done <<<"$output"
  why="does not replicate (receiver ${status[$MYSQL_HA_STATUS_IO_RUNNING]:-none}, applier ${status[$MYSQL_HA_STATUS_SQL_RUNNING]:-none})"
  [[ ${status[$MYSQL_HA_STATUS_IO_RUNNING]:-} == Yes && ${status[$MYSQL_HA_STATUS_SQL_RUNNING]:-} == Yes ]] || return 1
  lag=${status[$MYSQL_HA_STATUS_LAG_SECONDS]:-NULL}
  why="lags ${lag} s (at most ${MYSQL_HA_MAX_LAG_SECONDS:?} s)"
  [[ $lag =~ ^[0-9]+$ ]] && ((lag <= MYSQL_HA_MAX_LAG_SECONDS))
}

# caught_up HOST SECONDS: HOST applies every transaction the primary had when this run
# began within SECONDS (at least 1, at most the lag bound), so the backup holds all of them.
caught_up() {
  local statement seconds=$2
  [[ -n $primary_gtids ]] || return 0
  ((seconds >= 1)) || seconds=1
  ((seconds <= MYSQL_HA_MAX_LAG_SECONDS)) || seconds=$MYSQL_HA_MAX_LAG_SECONDS
  statement=${MYSQL_HA_SQL_WAIT_FOR_GTIDS//@GTID@/"$(sql_string "$primary_gtids")"}
  statement=${statement//@SECONDS@/"$seconds"}
  why="has not applied the primary's transactions (waited ${seconds} s)"
  [[ $(remote_sql "$1" <<<"$statement" 2>/dev/null) == 0 ]]
}

declared=$(declared_primary) || die "no declared primary in the topology ConfigMap"
primary_gtids=$(remote_sql "$(pod_host "$declared")" <<<"$MYSQL_HA_SQL_GTID_EXECUTED" 2>/dev/null | gtid_of) || primary_gtids=''
# A replica, when one is ready: it waits for one as long as MYSQL_HA_BACKUP_REPLICA_WAIT_SECONDS
# (a replica catching up, restarting or cloning), saying every minute why none is; past
# that it copies the declared primary, with a WARNING and the reason in the manifest
# (source_fallback; archive-status.sh shows it).
source_ordinal='' fallback='' why=''
wait_seconds=${MYSQL_HA_BACKUP_REPLICA_WAIT_SECONDS:-0}
if [[ $MYSQL_HA_BACKUP_SOURCE == replica ]] && ((MYSQL_HA_REPLICAS > 1)); then
  waiting_since=$SECONDS told=-60
  while true; do
    reasons=''
    for ((ordinal = 0; ordinal < MYSQL_HA_REPLICAS; ordinal++)); do
      ((ordinal != declared)) || continue
      if replica_ready "$(pod_host "$ordinal")" \
        && caught_up "$(pod_host "$ordinal")" "$((wait_seconds - (SECONDS - waiting_since)))"; then
        source_ordinal=$ordinal
        break
      fi
      reasons+="${reasons:+; }$(pod_host "$ordinal") ${why}"
    done
    [[ -z $source_ordinal ]] || break
    if ((SECONDS - waiting_since >= wait_seconds)); then
      fallback="no replica was ready within ${wait_seconds} s (${reasons})"
      log "WARNING: ${fallback}: backing up the declared primary $(pod_host "$declared")"
      break
    fi
    if ((SECONDS - told >= 60)); then
      log "no replica is ready yet (${reasons}): waiting up to ${wait_seconds} s for one"
      told=$SECONDS
    fi
    sleep 5
  done
fi
source_ordinal=${source_ordinal:-$declared}
source=$(pod_host "$source_ordinal")
version=$(remote_sql "$source" <<<"SELECT VERSION()") || die "cannot reach the server of ${source}"

started=$(date -u +%s)
name=$(date -u -d "@${started}" +%Y%m%dT%H%M%SZ)
log "backup ${name} of ${source} (${version}) to ${MYSQL_HA_BACKUP_TARGET}"
case $MYSQL_HA_CLONE_METHOD in
  clone-plugin) copy_with_plugin "$source" "$work" "$work/data" "$MYSQL_HA_BACKUP_USER" "${MYSQL_HA_SECRET_DIR}/backup-password" ;;
  backup-stream) copy_from_stream "$source" "$((source_ordinal == declared))" "$work/data" ;;
  *) die "MYSQL_HA_CLONE_METHOD must be clone-plugin or backup-stream, got '${MYSQL_HA_CLONE_METHOD}'" ;;
esac
# The copy holds every transaction committed before this moment.
finished=$(date -u +%s)

# check_copy DIR: starts a server on the copy in DIR for this alone (socket only), which
# also proves that the copy starts; reads the GTID set it holds into $work/gtid (the CLONE
# plugin tells the recipient none) and each table's CHECKSUM TABLE into $work/checksums
# ("schema.table<TAB>checksum" lines: a restore drill compares them, and reading every row
# proves each table readable now); stops it cleanly.
# The copy of a busy server may need a long crash recovery: it waits as long as the server
# works on it, bounded by the Job's deadline (MySQLBackup's deadline_seconds), and says
# every minute that it still waits.
check_copy() {
  local dir=$1 socket=$work/check.sock pid waited=0 tables
  "$MYSQL_HA_SERVER" --no-defaults --datadir="$dir" --socket="$socket" --pid-file="$work/check.pid" \
    --skip-networking --skip-grant-tables --loose-mysqlx=OFF --skip-log-bin --loose-gtid-mode=ON \
    --loose-enforce-gtid-consistency=ON --innodb-buffer-pool-size=64M --log-error="$work/check.err" &
  pid=$!
  copy_sql() {
    "$MYSQL_HA_CLIENT" --no-defaults --protocol=SOCKET --socket="$socket" --user=root --batch --skip-column-names
  }
  until copy_sql <<<"SELECT 1" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || die "the copy of ${source} does not start: $(tail -n 5 "$work/check.err")"
    sleep 0.2
    waited=$((waited + 1))
    ((waited % 300 != 0)) || log "the copy's server is still recovering ($((waited / 5)) s): $(tail -n 1 "$work/check.err")"
  done
  copy_sql <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of >"$work/gtid" || die "the copy of ${source} did not say its GTID set"
  tables=$(copy_sql <<<"SELECT CONCAT('\`', REPLACE(TABLE_SCHEMA, '\`', '\`\`'), '\`.\`', REPLACE(TABLE_NAME, '\`', '\`\`'), '\`') FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'sys', 'information_schema', 'performance_schema') ORDER BY 1" | tr '\n' ',') \
    || die "the copy of ${source} did not list its tables"
  tables=${tables%,}
  : >"$work/checksums"
  if [[ -n $tables ]]; then
    copy_sql <<<"CHECKSUM TABLE ${tables}" >"$work/checksums" || die "the tables of the copy of ${source} could not be read"
    ! grep -q $'\tNULL$' "$work/checksums" || die "the copy of ${source} has tables that cannot be read: $(grep $'\tNULL$' "$work/checksums" | cut -f1 | tr '\n' ' ')"
  fi
  kill -TERM "$pid"
  wait "$pid" || die "the server on the copy of ${source} did not stop cleanly: $(tail -n 5 "$work/check.err")"
  # Each restore gets a server_uuid of its own.
  rm -f "$dir/auto.cnf"
}

check_copy "$work/data"
[[ -n $COPY_GTID ]] || COPY_GTID=$(<"$work/gtid")
[[ -n $COPY_GTID ]] || die "the copy of ${source} carries no GTID set: a restore could not continue from it"

# Packed as a data directory that starts as it is, file by file (the official mysql image has
# no tar): data/<path>.zst for each of its files, data.dirs naming every folder (the empty
# ones too), data.sha256 the SHA-256 of each compressed file; the manifest holds the SHA-256
# of data.sha256. zstd and find are in both official server images.
format=zstd-files
mkdir -p "$out/$name/data"
(cd "$work/data" && find . -type d -printf '%P\n' | sort) >"$out/$name/data.dirs"
(cd "$work/data" && zstd -q -r -3 -T0 --output-dir-mirror "$out/$name/data" .)
mv "$work/checksums" "$out/$name/checksums"
rm -rf "$work"
(cd "$out/$name/data" && find . -type f -printf '%P\0' | sort -z | xargs -0 -r sha256sum) >"$out/$name/data.sha256"
archive=$out/$name/data.sha256
sum=$(sha256sum "$archive")
size=0
while read -r bytes; do size=$((size + bytes)); done < <(find "$out/$name/data" -type f -printf '%s\n')
{
  printf 'name=%s\nformat=%s\nengine=%s\nserver=%s\nserver_version=%s\n' "$name" "$format" "$MYSQL_HA_ENGINE" \
    "$MYSQL_HA_SERVER" "$version"
  printf 'source=%s\nsource_role=%s\n' "$source" "$([[ $source_ordinal == "$declared" ]] && echo primary || echo replica)"
  [[ -z $fallback ]] || printf 'source_fallback=%s\n' "$fallback"
  printf 'gtid=%s\nbinlog_file=%s\nbinlog_position=%s\n' "$COPY_GTID" "$COPY_LOG_FILE" "$COPY_LOG_POS"
  printf 'started_at=%s\nstarted_epoch=%s\n' "$(date -u -d "@${started}" +%Y-%m-%dT%H:%M:%SZ)" "$started"
  printf 'finished_at=%s\nfinished_epoch=%s\n' "$(date -u -d "@${finished}" +%Y-%m-%dT%H:%M:%SZ)" "$finished"
  printf 'size_bytes=%s\nsha256=%s\n' "$size" "${sum%% *}"
} >"$out/$name/manifest"

# What upload may delete: backups whose name sorts before the cut-off (older than the
# maximum age), and unfinished uploads that started before this run (the CronJob runs one
# at a time: they belong to runs that died).
cutoff=''
[[ -z $MYSQL_HA_MAX_AGE_SECONDS ]] || cutoff=$(date -u -d "@$((started - MYSQL_HA_MAX_AGE_SECONDS))" +%Y%m%dT%H%M%SZ)
printf 'name=%s\nage_cutoff=%s\nunfinished_cutoff=%s\n' "$name" "$cutoff" "$name" >"$out/retention"
sync -f "$out"
log "backup ${name}: ${size} bytes (${format}), GTID ${COPY_GTID}, copied in $((finished - started)) s"
