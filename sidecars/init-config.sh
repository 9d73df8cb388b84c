#!/usr/bin/env bash
# Init container "init-mysql": writes the server configuration for this pod's
# role and the client option file that the probes and scripts use.
#   - the declared primary (topology ConfigMap) gets primary.cnf, every other pod
#     replica.cnf; every pod gets the semi-sync settings, as any may become the primary,
#     with the source side off until the sidecar turns it on on the primary;
#   - server-id = MYSQL_HA_SERVER_ID_BASE + ordinal;
#   - a replica whose clone has not been positioned yet starts with replication
#     stopped, so the sidecar positions it before it applies anything;
#   - client.cnf (mode 0600, in-memory volume) holds the root password read from
#     the mounted Secret, so no password ever appears on a command line; likewise
#     replication.cnf with the replication account, through which the sidecar reads
#     the other pods' state during a switchover; with TLS on, both carry the engine's
#     client TLS options (MYSQL_HA_CLIENT_TLS_OPTIONS), so the probes and scripts stay
#     encrypted when secure transport is required.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
conf_dir=${MYSQL_HA_CONF_DIR:?}
config_dir=${MYSQL_HA_CONFIG_DIR:?}

declared=$(declared_primary) || die "no declared primary: cannot choose this pod's role"
role=replica
((POD_ORDINAL == declared)) && role=primary
cp "${config_dir}/${role}.cnf" "${conf_dir}/role.cnf"
# Semi-sync's source side starts off on every pod: a server that waited for acknowledgements
# while it is a replica (its applier writes its binary log too) or before its replicas
# connect would hold each commit for the whole timeout. The sidecar turns it on on the pod
# that takes writes.
source_enabled=${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED:-}
if [[ -n $source_enabled ]]; then
  sed "s/${source_enabled}=ON\$/${source_enabled}=OFF/" "${MYSQL_HA_TOPOLOGY_DIR}/semi-sync.cnf" >"${conf_dir}/semi-sync.cnf"
else
  cp "${MYSQL_HA_TOPOLOGY_DIR}/semi-sync.cnf" "${conf_dir}/semi-sync.cnf"
fi
printf '[mysqld]\nserver-id=%d\n' "$((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))" >"${conf_dir}/server-id.cnf"
if [[ $role == replica && -e ${MYSQL_HA_DATADIR}/mysql-ha-source-position ]]; then
  printf '[mysqld]\n%s\n' "$MYSQL_HA_SKIP_REPLICA_START_OPTION" >"${conf_dir}/skip-replica-start.cnf"
else
  rm -f "${conf_dir}/skip-replica-start.cnf"
fi

# option_file FILE USER SECRET GROUP...: writes FILE (mode 0600) with USER and the
# password held in the Secret file SECRET, under each option GROUP, followed by the
# option lines in $extra_options.
option_file() {
  local file=$1 user=$2 password backslash=$'\\' quote='"' group
  password=$(<"$3")
  shift 3
  [[ -n $password ]] || die "the password in ${file##*/}'s Secret key is empty"
  [[ $password != *$'\n'* ]] || die "the password for ${user} in the Secret spans several lines"
  password=${password//"$backslash"/"$backslash$backslash"}
  password=${password//"$quote"/"$backslash$quote"}
  (
    umask 077
    for group in "$@"; do
      printf '[%s]\nuser=%s\npassword="%s"\nhost=127.0.0.1\nport=%s\n' "$group" "$user" "$password" "$MYSQL_HA_PORT"
      printf '%s' "$extra_options"
    done >"${file}.tmp"
  )
  mv "${file}.tmp" "$file"
}

# [client] is read by the mysql/mariadb clients, [xtrabackup] by the backup tools.
extra_options=${MYSQL_HA_CLIENT_TLS_OPTIONS:-}
option_file "$(client_cnf)" root "${MYSQL_HA_SECRET_DIR}/root-password" client xtrabackup
option_file "${MYSQL_HA_RUN_DIR}/replication.cnf" "$MYSQL_HA_REPLICATION_USER" \
  "${MYSQL_HA_SECRET_DIR}/replication-password" client
if [[ -n $MYSQL_HA_METRICS_USER ]]; then
  extra_options=''
  tls_dir=${MYSQL_HA_TLS_DIR:-}
  if [[ -n $tls_dir ]]; then
    # mysqld_exporter speaks TLS when its option file names a CA.
    extra_options="ssl-ca=${tls_dir}/ca.crt"$'\n'
  fi
  option_file "${MYSQL_HA_RUN_DIR}/exporter.cnf" "$MYSQL_HA_METRICS_USER" \
    "${MYSQL_HA_SECRET_DIR}/metrics-password" client
fi
log "ordinal ${POD_ORDINAL} (declared primary: ${declared}): ${role}, server-id $((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))"
