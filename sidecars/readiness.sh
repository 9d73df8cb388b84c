#!/usr/bin/env bash
# Readiness probe of the server container: the server answers queries and holds the role
# the topology ConfigMap gives its pod, so that the write Service routes only to a primary that
# takes writes and the read Service only to read-only replicas that serve fresh data:
#   - the declared primary takes writes (every server starts read-only, and the replication
#     sidecar makes it writable once no other pod does) and, in a set with semi-sync, not
#     without semi-sync's source side;
#   - any other pod is read-only, both replication threads run and it is at most
#     MYSQL_HA_MAX_LAG_SECONDS behind.
# One client call (one connection) per probe: it runs every 2 s on every pod. A pod that
# refused to follow the declared primary (transactions the primary lacks) is never ready,
# and says why.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
refused=${MYSQL_HA_RUN_DIR}/replication-refused
[[ ! -s $refused ]] || die "$(<"$refused")"
declared=$(declared_primary) || die "no declared primary"
if ((POD_ORDINAL == declared)); then
  semi_sync=1
  if semi_sync_wanted; then
    # Taking writes without semi-sync's source side (a restarted server, until the sidecar
    # turns it on) would acknowledge commits no replica has.
    read -r read_only semi_sync < <(sql <<<"SELECT @@GLOBAL.read_only, @@GLOBAL.${MYSQL_HA_SEMI_SYNC_SOURCE_ENABLED}")
  else
    read -r read_only < <(sql <<<"SELECT @@GLOBAL.read_only")
  fi
  [[ -n ${read_only:-} && -n ${semi_sync:-} ]] || die "the server does not answer"
  [[ $read_only == 0 ]] || die "the declared primary does not take writes yet (read-only until the replication sidecar has checked that no other pod takes writes and that this one holds their transactions)"
  [[ $semi_sync == 1 ]] || die "taking writes with semi-sync's source side off (the sidecar turns it on)"
  exit 0
fi
[[ -e ${MYSQL_HA_DATADIR}/mysql-ha-source-position ]] && die "replica not positioned yet"
replica_status_and "SELECT @@GLOBAL.read_only AS mysql_ha_read_only"
read_only=${REPLICA_STATUS[mysql_ha_read_only]:-}
[[ -n $read_only ]] || die "the server does not answer"
[[ $read_only == 1 ]] || die "a replica that takes writes (read_only off): not ready until the replication sidecar turns it read-only"
io=${REPLICA_STATUS[$MYSQL_HA_STATUS_IO_RUNNING]:-none}
applier=${REPLICA_STATUS[$MYSQL_HA_STATUS_SQL_RUNNING]:-none}
lag=${REPLICA_STATUS[$MYSQL_HA_STATUS_LAG_SECONDS]:-NULL}
[[ $io == Yes && $applier == Yes ]] || die "replication threads: IO=${io} SQL=${applier}"
[[ $lag =~ ^[0-9]+$ ]] || die "replication lag unknown (${lag})"
((lag <= MYSQL_HA_MAX_LAG_SECONDS)) || die "replica ${lag}s behind the primary (limit ${MYSQL_HA_MAX_LAG_SECONDS}s)"
