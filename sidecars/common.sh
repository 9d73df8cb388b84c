# shellcheck shell=bash
# Sourced by the other scripts: logging, the pod's identity, and SQL against the
# local server. Every parameter arrives as an environment variable (MYSQL_HA_*),
# set by the StatefulSet and the "<name>-env" ConfigMap.

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

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

# client_cnf: the option file with the root credentials (written by init-config.sh).
client_cnf() { printf '%s/client.cnf' "$MYSQL_HA_RUN_DIR"; }

# sql: runs the statements on stdin against the local server as root, printing
# tab-separated rows without headers. The password stays in the option file.
sql() {
  "$MYSQL_HA_CLIENT" --defaults-extra-file="$(client_cnf)" --protocol=TCP --host=127.0.0.1 \
    --port="$MYSQL_HA_PORT" --batch --skip-column-names "$@"
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
replica_status() {
  declare -gA REPLICA_STATUS=()
  local output line
  output=$(sql --vertical --column-names <<<"$MYSQL_HA_SQL_REPLICA_STATUS")
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    if [[ $line == *": "* ]]; then
      # shellcheck disable=SC2034  # output, read by the scripts that source this file
      REPLICA_STATUS[${line%%: *}]=${line#*: }
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
receive_stream() {
  if [[ -n ${MYSQL_HA_TLS_DIR:-} && $MYSQL_HA_TRANSPORT == socat ]]; then
    socat -b 1048576 -u "OPENSSL:$1:$2,connect-timeout=10,$(tls_options)" STDOUT
    return
  fi
  case $MYSQL_HA_TRANSPORT in
    ncat) ncat --recv-only "$1" "$2" ;;
    socat) socat -b 1048576 -u "TCP:$1:$2,connect-timeout=10" STDOUT ;;
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
  if [[ -n ${MYSQL_HA_TLS_DIR:-} ]]; then
    [[ $MYSQL_HA_TRANSPORT == socat ]] || die "TLS clone streams need socat, got '${MYSQL_HA_TRANSPORT}'"
    exec socat -b 1048576 -U "OPENSSL-LISTEN:$1,reuseaddr,fork,max-children=1,$(tls_options)" "EXEC:bash $2"
  fi
  case $MYSQL_HA_TRANSPORT in
    ncat) exec ncat --listen --keep-open --send-only --max-conns=1 "$1" --sh-exec "exec bash '$2'" ;;
    socat) exec socat -b 1048576 -U "TCP-LISTEN:$1,reuseaddr,fork,max-children=1" "EXEC:bash $2" ;;
    *) die "MYSQL_HA_TRANSPORT must be ncat or socat, got '${MYSQL_HA_TRANSPORT}'" ;;
  esac
}
