#!/usr/bin/env bash
# Readiness probe of the server container: the server answers queries; on the
# declared primary of a set with semi-sync, it does not take writes without semi-sync's
# source side; on a replica, both replication threads run and it is at most
# MYSQL_HA_MAX_LAG_SECONDS behind, so the read Service only routes to replicas that serve
# fresh data. A pod that refused to follow the declared primary (transactions the primary
# lacks) is never ready, and says why.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
refused=${MYSQL_HA_RUN_DIR}/replication-refused
[[ ! -s $refused ]] || die "$(<"$refused")"
declared=$(declared_primary) || die "no declared primary"
if ((POD_ORDINAL == declared)); then
  if semi_sync_wanted; then
    # Taking writes without semi-sync's source side (a restarted server, until the sidecar
    # turns it on) would acknowledge commits no replica has.
    read -r read_only enabled < <(sql <<<"SELECT @@GLOBAL.read_only, @@GLOBAL.${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED}")
    [[ -n ${enabled:-} ]] || die "the server does not answer"
    [[ $read_only == 1 || $enabled == 1 ]] || die "taking writes with semi-sync's source side off (the sidecar turns it on)"
  else
    sql <<<"SELECT 1" >/dev/null
  fi
  exit 0
fi
[[ -e ${MYSQL_HA_DATADIR}/mysql-ha-source-position ]] && die "replica not positioned yet"
replica_status
io=${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]:-none}
applier=${REPLICA_STATUS[$MYSQL_HA_STATUS_SQL_RUNNING]:-none}
lag=${REPLICA_STATUS[$MYSQL_HA_STATUS_LAG_SECONDS]:-NULL}
[[ $io == Yes && $applier == Yes ]] || die "replication threads: IO=${io} SQL=${applier}"
[[ $lag =~ ^[0-9]+$ ]] || die "replication lag unknown (${lag})"
((lag <= MYSQL_HA_MAX_LAG_SECONDS)) || die "replica ${lag}s behind the primary (limit ${MYSQL_HA_MAX_LAG_SECONDS}s)"
