#!/usr/bin/env bash
# Readiness probe of the server container: the server answers queries, and a
# replica's replication threads are both running.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
sql <<<"SELECT 1" >/dev/null
((POD_ORDINAL == 0)) && exit 0
[[ -e ${MYSQL_HA_DATADIR}/mysql-ha-source-position ]] && die "replica not positioned yet"
io=$(replica_status_field "$MYSQL_HA_STATUS_IO_RUNNING")
applier=$(replica_status_field "$MYSQL_HA_STATUS_SQL_RUNNING")
[[ $io == Yes && $applier == Yes ]] || die "replication threads: IO=${io:-none} SQL=${applier:-none}"
