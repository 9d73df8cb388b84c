#!/usr/bin/env bash
# Sidecar "replication", logged in to the local server over the socket as the set's
# administration account (it switches roles; it creates no account and writes no row:
# every server sets its own accounts from its init file, see init-config.sh).
#   - On the declared primary: semi-sync's source side on.
#   - On a freshly cloned replica: points it at the declared primary from the clone's
#     coordinates, once.
# Then it is ready, and every second it converges on the declared primary, read from
# the mounted topology ConfigMap. Every server starts read-only with replication stopped
# (init-config.sh), whatever its role was; after each start of the server, this sidecar
# starts its replication (resume), and only it makes the declared primary writable (lead):
#   - a pod that should follow another turns read-only, waits until the declared
#     primary takes writes, checks that it holds every transaction this pod has
#     (GTIDs; a pod with transactions the primary lacks refuses, says so in its log and
#     stays unready), and re-points to it with GTID auto-positioning;
#   - the declared primary, while still a replica, waits until the old primary is
#     read-only and it has applied all of the old primary's transactions (or, with the
#     old primary unreachable, all it received), then stops replicating and takes writes;
#   - a receiver that stopped on a network error (the primary was gone longer than the
#     server's own retries) is started again;
#   - with TLS on, a renewed certificate in the mounted Secret is loaded into the
#     running server (MYSQL_HA_SQL_RELOAD_TLS) and the backup server is restarted with
#     it once no clone is in flight.
# For backup-stream engines it also serves hot backups to the next pod's clone.
# On SIGTERM (the pod is deleted, drained, scaled down or rolled) it ends within a second:
# the watch loop finishes the round under way, the backup server stops (a clone streaming
# from this pod fails and is redone), and the container exits 0.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"
# Until the watch loop runs there is nothing to finish: SIGTERM ends the container at once.
trap 'log "SIGTERM: stopping"; exit 0' TERM

pod_identity
ready_marker=${MYSQL_HA_RUN_DIR}/replication-ready
heartbeat=${MYSQL_HA_RUN_DIR}/replication-heartbeat
position_file=${MYSQL_HA_DATADIR}/mysql-ha-source-position
# The watch loop beats once set-up is done (sidecar-liveness.sh): a beat of this container's
# previous run would make a long wait for the server look like a hung loop.
rm -f "$ready_marker" "$heartbeat"

replication_password=$(<"${MYSQL_HA_AUTH_DIR:?}/replication-password")
[[ -n $replication_password ]] || die "the replication password in the Secret is empty"
# A longer one is refused by CHANGE REPLICATION SOURCE / CHANGE MASTER (error 3056)
# on every replica: say so once, here, instead of failing there.
((${#replication_password} <= MYSQL_HA_MAX_REPLICATION_PASSWORD_LENGTH)) \
  || die "the replication password in the Secret has ${#replication_password} characters; replicas accept at most ${MYSQL_HA_MAX_REPLICATION_PASSWORD_LENGTH}: store a shorter one"

log "waiting for the local server"
until sql <<<"SELECT 1" >/dev/null 2>&1; do pause 0.5; done

user=$(sql_string "$MYSQL_HA_REPLICATION_USER")
password=$(sql_string "$replication_password")
refused=${MYSQL_HA_RUN_DIR}/replication-refused
declared=$(declared_primary) || die "no declared primary"

# change_source HOST: the engine's statement that points this server at HOST, with the
# coordinates LOG_FILE, LOG_POS and GTID (when the engine's statement names them); with
# TLS on, the replica connects with TLS and checks the primary's certificate and host name.
change_source() {
  local source_tls=${MYSQL_HA_SQL_SOURCE_TLS:-}
  local statement=${MYSQL_HA_SQL_CHANGE_SOURCE}${source_tls:+, }${source_tls}
  statement=${statement//@HOST@/"$(sql_string "$1")"}
  statement=${statement//@PORT@/"$MYSQL_HA_PORT"}
  statement=${statement//@USER@/"$user"}
  statement=${statement//@LOG_FILE@/"${log_file:-}"}
  statement=${statement//@LOG_POS@/"${log_pos:-}"}
  printf '%s' "${statement//@PASSWORD@/"$password"}"
}

# semi_sync_source ON|OFF: semi-sync's source side (a commit waits for a replica's
# acknowledgement), on only on the pod that takes writes and only when the set has semi-sync
# (the topology ConfigMap's semi-sync.cnf turns it on). Servers start with it off
# (init-config.sh): a replica's applier, which writes its binary log too, would otherwise wait
# out the timeout on its first transaction after every start.
# It is on again within a second after the server restarts (the watch loop), and the
# primary is not ready while it takes writes without it (readiness.sh).
semi_sync_enabled=${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED:-}
semi_sync_source() {
  [[ -n $semi_sync_enabled ]] || return 0
  [[ $1 == OFF ]] || semi_sync_wanted || return 0
  [[ $(sql <<<"SELECT @@GLOBAL.${semi_sync_enabled}") == "$([[ $1 == ON ]] && echo 1 || echo 0)" ]] && return 0
  sql <<<"SET GLOBAL ${semi_sync_enabled} = $1;"
  log "semi-sync source side ${1,,}"
}

if ((POD_ORDINAL == declared)); then
  # Its server starts read-only: the watch loop makes it writable (lead) once no other pod
  # takes writes. Writable already, the sidecar alone restarted: semi-sync as wanted.
  if [[ $(sql <<<"SELECT @@GLOBAL.read_only") != 1 ]]; then
    semi_sync_source ON
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
  if [[ $MYSQL_HA_SQL_CHANGE_SOURCE == *@LOG_FILE@* ]]; then
    [[ $log_file =~ ^[A-Za-z0-9._-]+$ ]] || die "the clone carries no valid binary log file name: '${log_file}'"
    [[ $log_pos =~ ^[0-9]+$ ]] || die "the clone carries no valid binary log position: '${log_pos}'"
  fi
  [[ $gtid =~ ^[0-9a-fA-F:,\ -]*$ ]] || die "the clone carries an invalid GTID position: '${gtid}'"
  primary=$(pod_host "$declared")
  statements="${MYSQL_HA_SQL_SET_POSITION//@GTID@/"$gtid"}${MYSQL_HA_SQL_SET_POSITION:+;}$(change_source "$primary");"
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

# A replica set up before TLS was turned on still replicates in clear text (or checks no
# certificate), or (set up by an earlier version) without presenting the pod's certificate,
# which the primary's replication account requires: switch_to_tls switches it to TLS with
# the certificate, keeping its position, once its source presents a certificate of the
# set's CA for its name. Until then it replicates as it did: turning TLS on rolls the pods
# from the highest ordinal, and the primary, restarted last, has no certificate of the
# set's CA before that (a replica switched at once could not connect, and never be ready).
# The watch loop tries again every round; a channel that checks the certificate is never
# switched back. Needs REPLICA_STATUS (replica_status).
to_tls=${MYSQL_HA_SQL_SOURCE_TO_TLS:-}
tls_allowed=${MYSQL_HA_STATUS_TLS_ALLOWED:-}
tls_cert=${MYSQL_HA_STATUS_TLS_CERT:-}
tls_waiting=''
switch_to_tls() {
  local source
  [[ -n $to_tls && -n ${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]:-} ]] || return 0
  [[ ${REPLICA_STATUS[$tls_allowed]:-} != Yes || -z ${REPLICA_STATUS[$tls_cert]:-} ]] || return 0
  source=${REPLICA_STATUS[$MYSQL_HA_STATUS_SOURCE_HOST]:-}
  [[ -n $source ]] || return 0
  # peer_sql checks the source's certificate against the set's CA, and its name.
  if ! peer_sql "$source" <<<"SELECT 1" >/dev/null 2>&1; then
    if [[ -z $tls_waiting ]]; then
      log "TLS is on, but ${source} does not present a certificate of the set's CA yet (it restarts with TLS later in the rollout): replicating as before until it does"
      tls_waiting=yes
    fi
    return 0
  fi
  sql <<<"${MYSQL_HA_SQL_STOP_REPLICA}; ${to_tls}; ${MYSQL_HA_SQL_START_REPLICA};"
  tls_waiting=''
  log "replication switched to TLS (${source} presents the set's certificate)"
}
if ((POD_ORDINAL != declared)) && [[ -n $to_tls ]]; then
  replica_status
  switch_to_tls
fi

# Every server starts with replication stopped (init-config.sh): the watch loop starts it
# (resume), here after the positioning above, and after every restart of the server.

# Client errors that mean "the primary could not be reached": CR_CONN_HOST_ERROR,
# CR_UNKNOWN_HOST, CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ER_NET_* read/write errors.
retryable_errors=" 2003 2005 2006 2013 1158 1159 1160 1161 "

# say MESSAGE: logs MESSAGE unless it is what the last round said.
said=''
catching_up=''
peer_error=${TMPDIR:-/tmp}/peer-error
# unreachable FILE: the client's error in FILE says that nothing answered at the address
# (no route, refused, timed out: 2002/2003) or that the name has none (2005, a pod gone),
# not that a server answered and refused.
unreachable() {
  grep -Eq '^ERROR 200[235] ' "$1"
}

say() {
  [[ $1 == "$said" ]] || log "$1"
  said=$1
}

# other_pods: the ordinals of the set's other pods that have an address, as status.sh finds
# them (ordinals up from 0 until three in a row have none).
other_pods() {
  local ordinal=0 misses=0
  while ((misses < 3)); do
    if ((ordinal == POD_ORDINAL)); then
      misses=0
    elif getent hosts "$(pod_host "$ordinal")" >/dev/null; then
      misses=0
      printf '%d\n' "$ordinal"
    else
      misses=$((misses + 1))
    fi
    ordinal=$((ordinal + 1))
  done
}

# read_only_peers [SOURCE]: fills PEERS with the host of every other pod that answers (SOURCE,
# this pod's source, first), or fails (saying which) when one of them takes writes. Each pod sees a new declared primary at its own moment
# (the kubelet refreshes a pod's ConfigMap volume on the pod's own sync, up to a minute and a
# half after the change), and until then an old primary keeps taking writes, whether it is
# this pod's source or not (a replica may still replicate through another one).
read_only_peers() {
  local ordinal host answer
  PEERS=()
  while read -r host; do
    [[ -n $host ]] || continue
    if ! answer=$(peer_sql "$host" <<<"SELECT @@GLOBAL.read_only" 2>"$peer_error"); then
      # Nothing answers there (or the name has none): it takes no writes from anyone. A server
      # that answers with an error (a refused login, too many connections, a lost handshake)
      # may still take writes, and what it took would be lost.
      unreachable "$peer_error" && continue
      say "${host} answers but its state cannot be read ($(head -c 300 "$peer_error")): waiting, not taking over while it may take writes"
      return 1
    fi
    if [[ $answer != 1 ]]; then
      say "waiting for ${host} to turn read-only (it has not seen the new declared primary yet)"
      return 1
    fi
    PEERS+=("$host")
  done < <(
    printf '%s\n' "${1:-}"
    other_pods | while read -r ordinal; do
      host=$(pod_host "$ordinal")
      [[ $host == "${1:-}" ]] || printf '%s\n' "$host"
    done
  )
}

# Demotion. read_only waits for every write statement under way (a long one, or a lock held,
# would hold it up, and every write behind it) and leaves idle sessions alone: open
# transactions, pooled connections. So it is bounded (lock_wait_timeout), and followed by the
# end of every client session, until it holds (MOCO does the same: super_read_only, then
# KILL). A killed session's open transaction is rolled back: nothing it wrote is committed
# after the demotion, and its pool reconnects through the write Service.
demote_lock_wait_seconds=3
demote_attempts=10
demote_error=${TMPDIR:-/tmp}/demote-error

# first_error FILE: the client's error message in FILE on one line (MariaDB's client prints the
# statement around it).
first_error() {
  local line
  while IFS= read -r line; do
    [[ $line != ERROR* ]] || { printf '%s' "${line:0:200}"; return 0; }
  done <"$1"
  head -c 200 "$1" | tr '\n' ' '
}

# client_sessions: "id<TAB>user" of every client session of the local server: not the server's
# own threads (replication, event scheduler), not this sidecar's, not the set's own accounts
# (probes, replicas' dump threads, clones, backups, the exporter), which write no row.
client_sessions() {
  local accounts='' user
  for user in "$MYSQL_HA_ADMIN_USER" "$MYSQL_HA_STATUS_USER" "$MYSQL_HA_REPLICATION_USER" "$MYSQL_HA_CLONE_USER" \
    "${MYSQL_HA_BACKUP_USER:-}" "${MYSQL_HA_METRICS_USER:-}"; do
    [[ -z $user ]] || accounts+="${accounts:+, }'$(sql_string "$user")'"
  done
  sql <<<"SELECT ID, USER FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN (${accounts}, 'system user', 'event_scheduler', 'unauthenticated user') AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Killed')"
}

# kill_client_sessions: ends every client session (client_sessions); logs how many and whose.
kill_client_sessions() {
  local sessions id user statements='' count=0 summary
  local -A users=()
  sessions=$(client_sessions) || return 1
  while IFS=$'\t' read -r id user; do
    [[ $id =~ ^[0-9]+$ ]] || continue
    statements+="KILL CONNECTION ${id};"$'\n'
    users[${user:-?}]=$((${users[${user:-?}]:-0} + 1))
    count=$((count + 1))
  done <<<"$sessions"
  ((count > 0)) || return 0
  # A session that ended meanwhile is no error (unknown thread): --force runs every KILL.
  sql --force <<<"$statements" 2>/dev/null || true
  summary=''
  for user in "${!users[@]}"; do summary+="${summary:+, }${user}: ${users[$user]}"; done
  log "killed ${count} client session(s) (by user: ${summary})"
}

# demote WHY: makes the server read-only and ends every client session, until read-only holds:
# read-only waits at most demote_lock_wait_seconds for the writes under way, the sessions are
# killed (their transactions roll back), and read-only is tried again. Fails after
# demote_attempts tries (the next round of the watch loop starts again).
demote() {
  local attempt started=$SECONDS held=''
  [[ -n $MYSQL_HA_SQL_READ_ONLY ]] || return 0
  for ((attempt = 1; attempt <= demote_attempts; attempt++)); do
    if sql <<<"SET SESSION lock_wait_timeout = ${demote_lock_wait_seconds}; ${MYSQL_HA_SQL_READ_ONLY};" 2>"$demote_error"; then
      held=yes
    else
      log "read-only not set yet ($(first_error "$demote_error")): killing client sessions"
    fi
    # Also once it holds: open transactions (rolled back) and pooled connections end.
    kill_client_sessions || true
    [[ -z $held ]] || break
  done
  if [[ -z $held ]]; then
    log "ERROR: still not read-only after ${demote_attempts} tries"
    return 1
  fi
  log "read-only: $1 (in $((SECONDS - started)) s)"
  read_only_exempt
}

# read_only_exempt: warns of accounts that read_only does not stop (MariaDB: READ_ONLY ADMIN,
# part of ALL PRIVILEGES on *.* since 10.11; root has it revoked by init-config.sh): their
# sessions were just killed, but a new one can still write on this read-only server.
read_only_exempt() {
  local rows grantee admin exempt=''
  [[ -n ${MYSQL_HA_SQL_READ_ONLY_EXEMPT:-} ]] || return 0
  admin="'$(sql_string "$MYSQL_HA_ADMIN_USER")'@'localhost'"
  rows=$(sql <<<"$MYSQL_HA_SQL_READ_ONLY_EXEMPT") || return 0
  while IFS= read -r grantee; do
    [[ -z $grantee || $grantee == "$admin" ]] || exempt+="${exempt:+, }${grantee}"
  done <<<"$rows"
  [[ -z $exempt ]] || log "WARNING: read-only does not stop ${exempt} (READ_ONLY ADMIN): revoke it, or a new session of theirs writes on this read-only server"
}

# server_started: when the local server started (seconds since the epoch, from its clock:
# now less its uptime; both move together if the clock is set, and the value may differ by
# one second between two reads).
server_started() {
  local name uptime now
  { read -r name uptime && read -r now; } < <(sql <<<"SHOW GLOBAL STATUS LIKE 'Uptime'; SELECT UNIX_TIMESTAMP();")
  [[ ${name:-} == Uptime && ${uptime:-} =~ ^[0-9]+$ && ${now:-} =~ ^[0-9]+$ ]] || return 1
  printf '%d' "$((now - uptime))"
}

# resume: every server starts with replication stopped (init-config.sh), so that nothing is
# applied from a source nobody checked. Once per start of the server (remembered in
# $resumed with its start time, so that an operator's STOP on a running server is left
# alone), a server that has a source gets replication started: follow then re-points it
# if its source is not the declared primary, and lead waits for its applier to apply what
# it received before it takes writes. MySQL keeps the relay log across the restart
# (relay_log_recovery OFF) and, with GTID auto-positioning, asks its source only for what
# it lacks; MariaDB in GTID mode discards the relay log when replication starts and fetches
# again from what it applied (see the README).
resumed=${MYSQL_HA_RUN_DIR}/replication-resumed
resume() {
  local started recorded=''
  started=$(server_started) || return 1
  if [[ -s $resumed ]]; then read -r recorded <"$resumed" || true; fi
  [[ -z $recorded ]] || ((started - recorded > 1 || recorded - started > 1)) || return 0
  replica_status || return 1
  if [[ -n ${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]:-} && ! -s $refused ]] \
    && [[ ${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]} == No || ${REPLICA_STATUS[$MYSQL_HA_STATUS_SQL_RUNNING]:-} != Yes ]]; then
    sql <<<"${MYSQL_HA_SQL_START_REPLICA};" || return 1
    log "the server started (replication stopped): replication started from ${REPLICA_STATUS[$MYSQL_HA_STATUS_SOURCE_HOST]:-its source}"
  fi
  printf '%s\n' "$started" >"${resumed}.tmp" && mv "${resumed}.tmp" "$resumed"
}

# lead: this pod is the declared primary. Writable and replicating from nobody: done.
# Otherwise take over: read-only until every other pod that answers is read-only and every
# transaction any of them holds is here (the old primary's reach this pod through its
# source, directly or through another replica).
lead() {
  local read_only source old_gtids mine received host source_answers=''
  read_only=$(sql <<<"SELECT @@GLOBAL.read_only") || return 0
  replica_status || return 0
  source=${REPLICA_STATUS[$MYSQL_HA_STATUS_SOURCE_HOST]:-}
  if [[ $read_only != 1 && -z $source ]]; then
    # The primary already: semi-sync as wanted (a restarted server starts without it).
    semi_sync_source ON
    return 0
  fi
  [[ $read_only == 1 ]] || demote "declared the primary, it waits for the other pods first" || return 0
  # Said once per source; the reason it waits, each round, follows.
  if [[ $catching_up != "x${source}" ]]; then
    log "declared the primary: waiting until no other pod takes writes${source:+ and catching up with ${source}}"
    catching_up=x${source}
  fi
  # From the moment a pod is read-only its GTID set only grows by what it replicates.
  read_only_peers "$source" || return 0
  for host in "${PEERS[@]}"; do
    [[ $host != "$source" ]] || source_answers=yes
    old_gtids=$(peer_sql "$host" <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of) || return 0
    # Held already (a restarted primary and its replicas): nothing to wait for. MariaDB's
    # MASTER_GTID_WAIT waits for the replication position alone, which a server that took
    # the writes itself never reaches.
    mine=$(sql <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of) || return 0
    gtid_contains "$mine" "$old_gtids" && continue
    if ! wait_for_gtids "$old_gtids" 30; then
      say "not yet caught up with ${host} (${old_gtids})"
      return 0
    fi
  done
  if [[ -n $source ]]; then
    [[ -n $source_answers ]] || say "${source} is unreachable: taking over with every transaction this pod received"
    received=$(gtid_of <<<"${REPLICA_STATUS[$MYSQL_HA_STATUS_RECEIVED_GTIDS]:-}")
    if ! wait_for_gtids "$received" 30; then
      say "the applier has not applied what it received (${received}) yet"
      return 0
    fi
  fi
  # Re-read just before taking writes: a pod that turned writable meanwhile (it had not seen
  # this declaration yet) keeps this one read-only.
  read_only_peers "$source" || return 0
  [[ -z $source ]] || sql <<<"${MYSQL_HA_SQL_STOP_REPLICA}; ${MYSQL_HA_SQL_RESET_REPLICA};"
  # Writes wait for a replica's acknowledgement from the first one on.
  semi_sync_source ON
  sql <<<"${MYSQL_HA_SQL_WRITABLE};"
  log "this pod is the primary now: it takes writes ($(sql <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of))"
  catching_up=''
  rm -f "$refused"
}

# follow ORDINAL: this pod replicates from pod ORDINAL, the declared primary.
follow() {
  local target read_only source mine theirs reason
  target=$(pod_host "$1")
  read_only=$(sql <<<"SELECT @@GLOBAL.read_only") || return 0
  replica_status || return 0
  source=${REPLICA_STATUS[$MYSQL_HA_STATUS_SOURCE_HOST]:-}
  [[ $read_only != 1 || $source != "$target" ]] || return 0
  if [[ $read_only != 1 ]]; then
    demote "${target} is the declared primary" || return 0
  fi
  # A replica waits for nobody's acknowledgement (see semi_sync_source).
  semi_sync_source OFF
  if [[ -z $MYSQL_HA_SQL_GTID_EXECUTED ]]; then
    say "engine without GTID positioning: cannot follow ${target}, staying on ${source:-nobody}"
    return 0
  fi
  if ! read_only=$(peer_sql "$target" <<<"SELECT @@GLOBAL.read_only" 2>/dev/null); then
    say "waiting for ${target}, the declared primary, to answer"
    return 0
  fi
  if [[ $read_only != 0 ]]; then
    say "waiting for ${target} to take writes"
    return 0
  fi
  # This pod's set first: while it still replicates (through a pod that already follows the
  # declared primary), its set grows after the primary's was read, and read in the other order
  # those new transactions would look like transactions the primary lacks.
  mine=$(sql <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of) || return 0
  theirs=$(peer_sql "$target" <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of) || return 0
  if ! gtid_contains "$theirs" "$mine"; then
    refuse "${target}" "this pod has transactions the primary lacks (errant GTIDs; this pod: ${mine}; ${target}: ${theirs})" "$source"
    return 0
  fi
  [[ -z $source ]] || sql <<<"${MYSQL_HA_SQL_STOP_REPLICA}; ${MYSQL_HA_SQL_RESET_REPLICA};"
  sql <<<"${MYSQL_HA_SQL_ADOPT_POSITION}${MYSQL_HA_SQL_ADOPT_POSITION:+;} $(change_source "$target"); ${MYSQL_HA_SQL_START_REPLICA};"
  rm -f "$refused"
  said=''
  log "following ${target} from ${mine:-the start} (was: ${source:-nobody})"
}

# refuse PRIMARY WHY SOURCE: this pod will not replicate from PRIMARY: says why in its log
# (once) and in its readiness (the file readiness.sh reports), and stops replication.
refuse() {
  local reason="refusing to replicate from $1: $2. Re-seed this pod: delete its PersistentVolumeClaim, then the pod; it clones the data again"
  if [[ ! -s $refused ]]; then
    log "ERROR: ${reason}"
    [[ -z $3 ]] || sql <<<"${MYSQL_HA_SQL_STOP_REPLICA};" || true
  fi
  printf '%s\n' "$reason" >"${refused}.tmp" && mv "${refused}.tmp" "$refused"
}

# restart_receiver: on a replica whose receiver stopped on a retryable error (not on an
# operator's STOP, which leaves no error), starts it again.
restart_receiver() {
  local io errno
  io=${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]:-}
  errno=${REPLICA_STATUS[Last_IO_Errno]:-0}
  if [[ $io == No && $errno == 1236 && ${REPLICA_STATUS[Last_IO_Error]:-} == *[Gg][Tt][Ii][Dd]* ]]; then
    # The primary found this pod's GTID position outside its history: the histories forked.
    refuse "${REPLICA_STATUS[$MYSQL_HA_STATUS_SOURCE_HOST]:-the primary}" \
      "its history does not contain this pod's (${REPLICA_STATUS[Last_IO_Error]:-}; errant GTIDs)" x
  elif [[ $io == No && $retryable_errors == *" $errno "* ]]; then
    log "the receiver stopped on error ${errno} (${REPLICA_STATUS[Last_IO_Error]:-}): starting it again"
    sql <<<"${MYSQL_HA_SQL_START_REPLICA} IO_THREAD;" || log "could not start the receiver; next try in 1 s"
  fi
}

tls_dir=${MYSQL_HA_TLS_DIR:-}
reload_tls_sql=${MYSQL_HA_SQL_RELOAD_TLS:-}
backup_server_pid=${MYSQL_HA_RUN_DIR}/backup-server.pid
backup_server_restart=${MYSQL_HA_RUN_DIR}/backup-server.restart

# tls_fingerprint: a checksum of the mounted certificate files ('' with TLS off). The
# kubelet swaps a renewed Secret into the volume atomically.
tls_fingerprint() {
  [[ -n $tls_dir ]] || return 0
  cat "${tls_dir}/ca.crt" "${tls_dir}/tls.crt" "${tls_dir}/tls.key" | cksum
}

# backup_server_idle: the backup server has no clone in flight (no child process).
backup_server_idle() {
  local pid
  pid=$(<"$backup_server_pid") || return 0
  [[ ! -s /proc/${pid}/task/${pid}/children ]]
}

# reload_tls: makes the server and the backup server use the renewed certificate.
reload_tls() {
  if [[ -n $reload_tls_sql ]]; then
    sql <<<"${reload_tls_sql};" || return 1
    log "the server loaded the renewed certificate (${reload_tls_sql})"
  else
    log "the renewed certificate reaches this engine's server at its next restart"
  fi
  [[ $MYSQL_HA_CLONE_METHOD == backup-stream ]] && touch "$backup_server_restart"
  return 0
}

flush_every=${MYSQL_HA_BINLOG_FLUSH_SECONDS:-0}
mark_every=${MYSQL_HA_BINLOG_MARK_SECONDS:-0}
closed_at_file=${MYSQL_HA_RUN_DIR}/binlog-closed-at
mark_file=${MYSQL_HA_RUN_DIR}/binlog-mark
last_flush=0
last_mark=0
flushed_gtids=''

# close_binlog: on the declared primary, with binary logs archived (MySQLBackup), every
# MYSQL_HA_BINLOG_FLUSH_SECONDS: closes the binary log if a transaction arrived since the
# last time, then records the time before which every transaction is in a closed file
# (binlog-closed-at). Every MYSQL_HA_BINLOG_MARK_SECONDS in between it records in
# binlog-mark "time file position": every transaction committed before that time is in
# the closed files or in the first <position> bytes of <file>, which the archiver uploads
# (continuous archiving: the restore point trails the last commit by about that long,
# while the files close every few minutes).
close_binlog() {
  local now gtids position
  ((flush_every > 0)) || return 0
  now=$(date +%s)
  if ((now - last_flush >= flush_every)); then
    [[ $(sql <<<"SELECT @@GLOBAL.read_only") == 0 ]] || return 0
    # Read after $now: a transaction committed before $now is in this set.
    gtids=$(sql <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of) || return 0
    if [[ $gtids != "$flushed_gtids" ]]; then
      sql <<<"FLUSH LOCAL BINARY LOGS;" || return 0
      flushed_gtids=$gtids
    fi
    last_flush=$now
    printf '%s\n' "$now" >"${closed_at_file}.tmp" && mv "${closed_at_file}.tmp" "$closed_at_file"
  fi
  if ((mark_every > 0 && now - last_mark >= mark_every)) && [[ -n $MYSQL_HA_SQL_BINLOG_POSITION ]]; then
    [[ $(sql <<<"SELECT @@GLOBAL.read_only") == 0 ]] || return 0
    # Read after $now: the GTID set, then the file and the end of every transaction
    # committed before it (a transaction's binary log write precedes its commit: the set
    # read first is in that much of the file).
    gtids=$(sql <<<"$MYSQL_HA_SQL_GTID_EXECUTED" | gtid_of) || return 0
    position=$(sql <<<"$MYSQL_HA_SQL_BINLOG_POSITION" | head -n 1 | cut -f1,2) || return 0
    [[ $position == *$'\t'* ]] || return 0
    last_mark=$now
    printf '%s %s %s %s\n' "$now" "${position%%$'\t'*}" "${position#*$'\t'}" "${gtids:--}" >"${mark_file}.tmp" \
      && mv "${mark_file}.tmp" "$mark_file"
  fi
}

purge_file=${MYSQL_HA_BINLOG_PURGE_FILE:-}
purged_to='' purge_tried=-60

# purge_archived: with binary logs archived, the server expires none itself; the archiver
# names in $purge_file the first file to keep (every file before it archived and past the
# expiry), and this purges the ones before it: again every 10 s while the index still
# starts before it (MariaDB keeps a file its binary log checkpoint still needs).
purge_archived() {
  local first oldest
  [[ -n $purge_file && -s $purge_file ]] || return 0
  first=$(<"$purge_file")
  [[ $first =~ ^[A-Za-z0-9._-]+$ && -e ${MYSQL_HA_DATADIR:?}/$first ]] || return 0
  oldest=$(head -n 1 "${MYSQL_HA_DATADIR}/mysql-bin.index") || return 0
  [[ ${oldest##*/} != "$first" ]] || return 0
  ((SECONDS - purge_tried >= 10)) || return 0
  purge_tried=$SECONDS
  if sql <<<"PURGE BINARY LOGS TO '${first}';"; then
    [[ $first == "$purged_to" ]] || log "purged the binary logs before ${first}: archived, and past the expiry"
    purged_to=$first
  else
    log "the binary logs before ${first} could not be purged yet (next try in 10 s)"
  fi
}

# release_server: the server's container is stopping (pre-stop.sh asked, in
# $stop_requested): a server that takes writes turns read-only (demote: its client sessions
# killed), and where the engine says how (MYSQL_HA_SQL_STOP_FEEDING), the threads that feed
# the replicas end once they have sent everything (at most 2 s each wait); then
# $stop_ready, holding this server's start time, lets the hooks return. Once per start of
# the server: a server started after the request (its container alone restarted) clears
# it, and this returns 1 (carry on as usual).
stop_requested=${MYSQL_HA_RUN_DIR}/stop-requested
stop_ready=${MYSQL_HA_RUN_DIR}/stop-ready
release_server() {
  local started released='' read_only count tick
  started=$(server_started) || started=down
  if [[ -s $stop_ready ]]; then
    read -r released <"$stop_ready" || true
    # Released already, and the same server (or none yet) is there: stay out of its way.
    [[ $started != "$released" ]] || return 0
    [[ $started != down ]] || return 0
    if [[ $released != down ]] && ((started - released <= 1 && released - started <= 1)); then
      return 0
    fi
    # A new server since the release: the stop it was for is over.
    rm -f "$stop_requested" "$stop_ready"
    log "the server started again after its stop: carrying on"
    return 1
  fi
  if [[ $started != down ]] && read_only=$(sql <<<"SELECT @@GLOBAL.read_only"); then
    if [[ $read_only == 0 ]]; then
      demote "the server is stopping" || log "ERROR: the server stops while it still takes writes"
    fi
    if [[ -n ${MYSQL_HA_SQL_STOP_FEEDING:-} ]]; then
      for ((tick = 0; tick < 20; tick++)); do
        count=$(sql <<<"$MYSQL_HA_SQL_FEEDS_SENDING") || break
        [[ $count != 0 ]] || break
        pause 0.1
      done
      if sql <<<"${MYSQL_HA_SQL_STOP_FEEDING};"; then
        for ((tick = 0; tick < 20; tick++)); do
          count=$(sql <<<"$MYSQL_HA_SQL_FEEDS") || break
          [[ $count != 0 ]] || break
          pause 0.1
        done
        log "the server is stopping: ${MYSQL_HA_SQL_STOP_FEEDING} (the replicas' feeds ended once they had everything)"
      fi
    fi
  fi
  printf '%s\n' "$started" >"${stop_ready}.tmp" && mv "${stop_ready}.tmp" "$stop_ready"
  return 0
}

# watch_replication: beats every second, converging on the declared primary; with TLS
# on, it also carries a renewed certificate to the servers. Runs in the background; SIGTERM
# ends it after the round under way.
watch_replication() {
  local wanted fingerprint loaded stopping=''
  trap 'stopping=yes' TERM
  loaded=$(tls_fingerprint)
  while [[ -z $stopping ]]; do
    touch "$heartbeat"
    fingerprint=$(tls_fingerprint) || fingerprint=$loaded
    if [[ $fingerprint != "$loaded" ]]; then
      log "the certificate in ${tls_dir} changed"
      reload_tls && loaded=$fingerprint
    fi
    if [[ -e $backup_server_restart ]] && backup_server_idle; then
      kill "$(<"$backup_server_pid")" 2>/dev/null || true
    fi
    if [[ -e $stop_requested ]] && release_server; then
      # The server stops: nothing may make it writable or re-point it meanwhile.
      [[ -n $stopping ]] || pause 1
      continue
    fi
    if wanted=$(declared_primary) && resume; then
      if ((wanted == POD_ORDINAL)); then
        lead || true
        close_binlog || true
      elif follow "$wanted" && replica_status 2>/dev/null; then
        restart_receiver
        switch_to_tls || true
      fi
      purge_archived || true
    fi
    [[ -n $stopping ]] || pause 1
  done
}

# start_backup_server: the backup server in the background, its pid in a file for the
# watch loop.
start_backup_server() {
  log "serving backups on port ${MYSQL_HA_CLONE_PORT}"
  serve_streams "$MYSQL_HA_CLONE_PORT" "${MYSQL_HA_SCRIPTS_DIR}/backup-stream.sh" &
  printf '%s' "$!" >"$backup_server_pid"
}

# stop: on SIGTERM, ends the watch loop after its round and the backup server, then the
# container. A clone streaming from this pod is cut off, and the recipient clones again.
stop() {
  log "SIGTERM: stopping the watch loop${serving:+ and the backup server}"
  kill -TERM "$watcher" 2>/dev/null || true
  [[ -z $serving ]] || kill -TERM "$(<"$backup_server_pid")" 2>/dev/null || true
  wait "$watcher" || true
  exit 0
}

touch "$heartbeat" "$ready_marker"
serving=''
if [[ $MYSQL_HA_CLONE_METHOD == backup-stream ]]; then
  rm -f "$backup_server_restart"
  start_backup_server
  serving=yes
fi
# In the background, so that SIGTERM reaches this shell's trap at once (bash runs a trap
# only after its foreground command).
watch_replication &
watcher=$!
trap stop TERM
while true; do
  status=0
  wait -n || status=$?
  # The watch loop stopped the backup server for a renewed certificate (socat reads its
  # certificate once, when it starts): start it again.
  if [[ -n $serving && -e $backup_server_restart ]] && kill -0 "$watcher" 2>/dev/null; then
    rm -f "$backup_server_restart"
    log "restarting the backup server with the renewed certificate"
    start_backup_server
    continue
  fi
  # Either one ending ends the container, and the kubelet starts it again (the watch loop
  # said why it ended).
  [[ -n $serving ]] || exit "$status"
  die "the backup server or the watch loop stopped"
done
