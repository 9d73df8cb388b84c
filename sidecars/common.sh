# shellcheck shell=bash
# Sourced by the other scripts: logging, the pod's identity, and SQL against the
# local server. Every parameter arrives as an environment variable (MYSQL_HA_*),
# set by the StatefulSet and the "<name>-env" ConfigMap.

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# On a pod's deletion (and a liveness restart) the kubelet sends SIGTERM to each container's
# PID 1 alone, SIGKILL to all of it terminationGracePeriodSeconds later. bash as PID 1 ignores
# SIGTERM unless it traps it, and runs a trap only once its foreground command has ended: a
# long-running script traps it and sleeps through `pause`, or runs as `end_on_term` says.

# pause SECONDS: sleeps, in the background and waited for, so that a trapped SIGTERM
# interrupts it at once.
pause() {
  sleep "$1" &
  local pid=$!
  wait "$pid" || kill "$pid" 2>/dev/null || true
}

# end_on_term: for a script that is its container's PID 1 and works through long steps (a
# copy, a restore), called before anything else: the script runs again as a child of PID 1,
# which sends SIGTERM on to it. bash that is not PID 1 ends on SIGTERM at once, with its EXIT
# trap; the step under way ends with the container (the kernel kills what is left of a PID
# namespace when its PID 1 ends). The work is abandoned, never half-marked: these scripts
# mark finished work by a last rename, and a new start redoes it. Exits with the child's
# status (143 when SIGTERM ended it).
end_on_term() {
  (($$ == 1)) || return 0
  "$BASH" "$0" "$@" &
  local child=$! status=0
  # shellcheck disable=SC2064  # the child's pid is known now
  trap "log 'SIGTERM: abandoning the work (a new start redoes it)'; kill -TERM ${child} 2>/dev/null || true" TERM
  wait "$child" || status=$?
  # A status above 128 may be the trap's interruption of wait: then the child's own follows.
  if ((status > 128)) && kill -0 "$child" 2>/dev/null; then
    status=0
    wait "$child" || status=$?
  fi
  exit "$status"
}

# pod_identity: POD_SET (the StatefulSet name) and POD_ORDINAL from the pod's
# hostname, "mysql-2" -> "mysql" and 2.
pod_identity() {
  local host=${HOSTNAME:?HOSTNAME is not set}
  host=${host%%.*}
  [[ $host =~ ^(.+)-([0-9]+)$ ]] \
    || die "hostname '$host' does not end in -<ordinal>: run this pod from a StatefulSet"
  # shellcheck disable=SC2034  # outputs, read by the scripts that source this file
  POD_SET=${BASH_REMATCH[1]}
  # shellcheck disable=SC2034
  POD_ORDINAL=$((10#${BASH_REMATCH[2]}))
}

# client_cnf: this container's option file for the local server (written by
# init-config.sh): the server's probes log in as the read-only status account, the
# replication sidecar as its administration account, both over the socket.
client_cnf() { printf '%s/client.cnf' "${MYSQL_HA_AUTH_DIR:?}"; }

# sql: runs the statements on stdin against the local server, over the socket, as this
# container's account, printing tab-separated rows without headers. The password stays in
# the option file.
sql() {
  "$MYSQL_HA_CLIENT" --defaults-extra-file="$(client_cnf)" --protocol=SOCKET --batch --skip-column-names "$@"
}

# sql_string VALUE: VALUE escaped for use between single quotes in SQL.
sql_string() {
  local value=$1 quote="'" backslash=$'\\'
  value=${value//"$backslash"/"$backslash$backslash"}
  printf '%s' "${value//"$quote"/"$quote$quote"}"
}

# replica_status: fills the associative array REPLICA_STATUS with the columns of the
# replica status (SHOW REPLICA/SLAVE STATUS); empty when the server is not a replica.
# Fails when the server does not answer.
replica_status() { replica_status_and ''; }

# replica_status_and SELECT: replica_status, with the columns of SELECT (one row, columns
# named apart from the status's) too, in the same round trip ('': none).
replica_status_and() {
  declare -gA REPLICA_STATUS=()
  local output line
  output=$(sql --vertical --column-names <<<"${1:+$1; }$MYSQL_HA_SQL_REPLICA_STATUS")
  local key=''
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == *": "* || $line == *: ]]; then
      key=${line%%:*}
      # shellcheck disable=SC2034  # output, read by the scripts that source this file
      REPLICA_STATUS[$key]=${line#*: }
      [[ $line != *: ]] || REPLICA_STATUS[$key]=''
    elif [[ -n $key && -n $line && $line != '***'* ]]; then
      # A value over several lines (MySQL's GTID sets, one line per server UUID).
      REPLICA_STATUS[$key]+=$line
    fi
  done <<<"$output"
}

# tls_options: with TLS on (MYSQL_HA_TLS_DIR set), socat's options for mutual TLS: this
# pod's certificate, and the peer's checked against the set's CA (verify=1). A client
# also checks that the donor's certificate names the host it connected to.
tls_options() {
  local dir=${MYSQL_HA_TLS_DIR:-}
  printf 'cert=%s,key=%s,cafile=%s,verify=1' "$dir/tls.crt" "$dir/tls.key" "$dir/ca.crt"
}

# receive_stream HOST PORT: copies what the sidecar at HOST:PORT serves to stdout.
# Each tool is called in its own branch of the case, so that an image without it never
# reaches it (tests/test_image_programs.py reads the branch the engine's value takes).
receive_stream() {
  case $MYSQL_HA_TRANSPORT in
    ncat) ncat --recv-only "$1" "$2" ;;
    socat)
      if [[ -n ${MYSQL_HA_TLS_DIR:-} ]]; then
        socat -b 1048576 -u "OPENSSL:$1:$2,connect-timeout=10,$(tls_options)" STDOUT
      else
        socat -b 1048576 -u "TCP:$1:$2,connect-timeout=10" STDOUT
      fi
      ;;
    *) die "MYSQL_HA_TRANSPORT must be ncat or socat, got '${MYSQL_HA_TRANSPORT}'" ;;
  esac
}

# serve_streams PORT SCRIPT: replaces the shell with a server that runs SCRIPT for
# each connection on PORT, one at a time, and sends its stdout to the peer.
# socat moves 8 KiB per system call by default, which caps a clone at about a
# quarter of what the backup tool produces (docs/performance.md); 1 MiB blocks.
# With TLS on, SCRIPT runs only after the peer has shown a certificate signed by the
# set's CA: a connection without one gets no byte of the backup. (ncat cannot ask for
# a client certificate: MySQLConfig refuses TLS for an engine carried by ncat.)
serve_streams() {
  case $MYSQL_HA_TRANSPORT in
    ncat)
      [[ -z ${MYSQL_HA_TLS_DIR:-} ]] || die "TLS clone streams need socat, got '${MYSQL_HA_TRANSPORT}'"
      exec ncat --listen --keep-open --send-only --max-conns=1 "$1" --sh-exec "exec bash '$2'"
      ;;
    socat)
      if [[ -n ${MYSQL_HA_TLS_DIR:-} ]]; then
        exec socat -b 1048576 -U "OPENSSL-LISTEN:$1,reuseaddr,fork,max-children=1,$(tls_options)" "EXEC:bash $2"
      fi
      exec socat -b 1048576 -U "TCP-LISTEN:$1,reuseaddr,fork,max-children=1" "EXEC:bash $2"
      ;;
    *) die "MYSQL_HA_TRANSPORT must be ncat or socat, got '${MYSQL_HA_TRANSPORT}'" ;;
  esac
}

# semi_sync_wanted: the set has semi-sync (the topology ConfigMap's semi-sync.cnf turns its
# source side on). Servers start with that side off (init-config.sh); the replication
# sidecar turns it on on the pod that takes writes.
semi_sync_wanted() {
  [[ -n ${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED:-} ]] \
    && grep -q "${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED}=ON\$" "${MYSQL_HA_TOPOLOGY_DIR:?}/semi-sync.cnf"
}

# declared_primary: prints the ordinal of the declared primary, read from the mounted
# topology ConfigMap (the kubelet updates the file in a running pod when the ConfigMap
# changes). Fails, saying why, when the file holds no ordinal.
declared_primary() {
  local value
  value=$(<"${MYSQL_HA_TOPOLOGY_DIR:?}/primary-ordinal") || return 1
  value=${value//[[:space:]]/}
  if [[ ! $value =~ ^[0-9]{1,5}$ ]]; then
    log "primary-ordinal in the topology ConfigMap is '${value}', not an ordinal"
    return 1
  fi
  printf '%d' "$((10#$value))"
}

# pod_host ORDINAL: the stable DNS name of that pod of the set.
pod_host() { printf '%s-%d.%s' "$POD_SET" "$1" "$MYSQL_HA_SERVICE"; }

# peer_sql HOST: runs the statements on stdin on another pod's server as the read-only
# status account (it reads server variables and replica status there, nothing else),
# giving up after 2 s.
peer_sql() {
  local host=$1
  shift
  "$MYSQL_HA_CLIENT" --defaults-extra-file="${MYSQL_HA_AUTH_DIR:?}/status.cnf" --protocol=TCP --host="$host" \
    --port="$MYSQL_HA_PORT" --connect-timeout=2 --batch --skip-column-names "$@"
}

# gtid_of: stdin, a GTID set as a client prints it (MySQL: one line per server UUID, or
# "\n" in batch mode), on one line without blanks.
gtid_of() {
  local value
  value=$(cat)
  value=${value//\\n/}
  printf '%s' "${value//[[:space:]]/}"
}

# gtid_contains SET SUBSET: succeeds when every transaction of SUBSET is in SET. With the
# engine's GTID function (MySQL's GTID_SUBSET) on the local server; for positions of the
# form domain-server-sequence (MariaDB, strict mode: one history per domain), per domain:
# SET reaches a higher sequence number, or the same one from the same server. (A history
# that forked below that is refused by the primary when the replica connects.)
gtid_contains() {
  local set=$1 subset=$2 statement entry rest server seq other
  local -a entries
  local -A have=()
  if [[ -n $MYSQL_HA_SQL_GTID_SUBSET ]]; then
    statement=${MYSQL_HA_SQL_GTID_SUBSET//@SUBSET@/"$(sql_string "$subset")"}
    statement=${statement//@SET@/"$(sql_string "$set")"}
    [[ $(sql <<<"$statement") == 1 ]]
    return
  fi
  IFS=, read -ra entries <<<"$set"
  for entry in "${entries[@]}"; do
    [[ -n $entry ]] || continue
    other=${have[${entry%%-*}]:-}
    if [[ -z $other ]] || ((${entry##*-} > ${other##*-})); then
      have[${entry%%-*}]=${entry#*-}
    fi
  done
  IFS=, read -ra entries <<<"$subset"
  for entry in "${entries[@]}"; do
    [[ -n $entry ]] || continue
    rest=${entry#*-}
    server=${rest%%-*}
    seq=${rest#*-}
    other=${have[${entry%%-*}]:-}
    [[ -n $other ]] || return 1
    ((${other#*-} > seq)) && continue
    ((${other#*-} == seq)) && [[ ${other%%-*} == "$server" ]] && continue
    return 1
  done
}

# wait_for_gtids SET SECONDS: waits until the local server has applied SET.
wait_for_gtids() {
  local statement
  [[ -n $1 ]] || return 0
  statement=${MYSQL_HA_SQL_WAIT_FOR_GTIDS//@GTID@/"$(sql_string "$1")"}
  statement=${statement//@SECONDS@/"$2"}
  [[ $(sql <<<"$statement") == 0 ]]
}
