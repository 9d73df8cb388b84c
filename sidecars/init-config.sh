#!/usr/bin/env bash
# Init container "init-mysql": writes the server configuration for this pod's
# role and the client option file that the probes and scripts use.
#   - ordinal 0 gets primary.cnf, every other ordinal replica.cnf;
#   - server-id = MYSQL_HA_SERVER_ID_BASE + ordinal;
#   - a replica whose clone has not been positioned yet starts with replication
#     stopped, so the sidecar positions it before it applies anything;
#   - client.cnf (mode 0600, in-memory volume) holds the root password read from
#     the mounted Secret, so no password ever appears on a command line.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
conf_dir=${MYSQL_HA_CONF_DIR:?}
config_dir=${MYSQL_HA_CONFIG_DIR:?}

role=replica
((POD_ORDINAL == 0)) && role=primary
cp "${config_dir}/${role}.cnf" "${conf_dir}/role.cnf"
printf '[mysqld]\nserver-id=%d\n' "$((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))" >"${conf_dir}/server-id.cnf"
if [[ $role == replica && -e ${MYSQL_HA_DATADIR}/mysql-ha-source-position ]]; then
  printf '[mysqld]\n%s\n' "$MYSQL_HA_SKIP_REPLICA_START_OPTION" >"${conf_dir}/skip-replica-start.cnf"
else
  rm -f "${conf_dir}/skip-replica-start.cnf"
fi

password=$(<"${MYSQL_HA_SECRET_DIR}/root-password")
[[ -n $password ]] || die "the root password in the Secret is empty"
[[ $password != *$'\n'* ]] || die "the root password in the Secret spans several lines"
backslash=$'\\' quote='"'
password=${password//"$backslash"/"$backslash$backslash"}
password=${password//"$quote"/"$backslash$quote"}
umask 077
tmp=$(client_cnf).tmp
# [client] is read by the mysql/mariadb clients, [xtrabackup] by the backup tools.
printf '[client]\nuser=root\npassword="%s"\n[xtrabackup]\nuser=root\npassword="%s"\n' \
  "$password" "$password" >"$tmp"
mv "$tmp" "$(client_cnf)"
log "ordinal ${POD_ORDINAL}: ${role}, server-id $((MYSQL_HA_SERVER_ID_BASE + POD_ORDINAL))"
