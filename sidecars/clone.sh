#!/usr/bin/env bash
# Init container "clone-mysql": gives a new replica the data of the pod before it.
#
# The copy lands in a staging directory and is renamed to the data directory only
# when it is complete: the rename is the marker of a finished clone. A clone that
# dies midway leaves only the staging directory, which the next attempt deletes.
# How the copy is made depends on the engine (MYSQL_HA_CLONE_METHOD):
#   - clone-plugin: a throwaway local server runs MySQL's CLONE INSTANCE against
#     the donor's server port; the copy carries the donor's GTID set, from which
#     the replica auto-positions;
#   - backup-stream: the donor's sidecar streams a hot backup over the clone port;
#     it is checked, prepared, and the primary's coordinates are read from it.
# With TLS on (MYSQL_HA_TLS_DIR), both travel encrypted: CLONE INSTANCE with REQUIRE
# SSL and the set's CA, the stream as mutual TLS (common.sh: this pod's certificate
# gets it the backup, and the donor's is checked against the CA and its host name).
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"
# shellcheck source=copy.sh
source "${MYSQL_HA_SCRIPTS_DIR}/copy.sh"
# SIGTERM abandons the work at once (see common.sh).
end_on_term "$@"

pod_identity
datadir=${MYSQL_HA_DATA_ROOT:?}/mysql
staging=${MYSQL_HA_DATA_ROOT}/clone.tmp
position_file=mysql-ha-source-position

if [[ -d $datadir && -n $(ls -A "$datadir") ]]; then
  log "data directory ${datadir} exists: nothing to clone"
  exit 0
fi
declared=$(declared_primary) || die "no declared primary: cannot choose a donor"
if ((POD_ORDINAL == declared)); then
  log "ordinal ${POD_ORDINAL} is the declared primary: init-mysql initializes its empty data directory"
  exit 0
fi

# The pod before this one (spreading the copies), or for ordinal 0 the declared primary.
donor_ordinal=$((POD_ORDINAL - 1))
((POD_ORDINAL > 0)) || donor_ordinal=$declared
donor="${POD_SET}-${donor_ordinal}.${MYSQL_HA_SERVICE}"
rm -rf "$staging"
# An empty directory left by an earlier start (a mount point) is no data.
[[ ! -d $datadir ]] || rmdir "$datadir"
mkdir -p "$staging"

# clone_with_plugin: CLONE INSTANCE FROM the donor into $staging/data, renamed into place.
clone_with_plugin() {
  copy_with_plugin "$donor" "$staging" "$staging/data" "$MYSQL_HA_CLONE_USER" "${MYSQL_HA_SECRET_DIR}/clone-password"
  # The copy carries the donor's GTID set: the replica auto-positions from it.
  printf 'LOG_FILE=\nLOG_POS=\nGTID=\n' >"$staging/data/${position_file}"
  # On disk before the rename marks it complete: a node crash must not leave a marked,
  # half-written copy.
  sync -f "$staging/data"
  mv "$staging/data" "$datadir"
  rm -rf "$staging"
  log "clone from ${donor} complete"
}

# clone_from_stream: the donor's hot backup, streamed into $staging, checked, prepared and
# renamed into place with the primary's coordinates.
clone_from_stream() {
  local from_primary=0
  ((donor_ordinal != declared)) || from_primary=1
  copy_from_stream "$donor" "$from_primary" "$staging"
  printf 'LOG_FILE=%s\nLOG_POS=%s\nGTID=%s\n' "$COPY_LOG_FILE" "$COPY_LOG_POS" "$COPY_GTID" >"$staging/${position_file}"
  sync -f "$staging"
  mv "$staging" "$datadir"
  log "clone from ${donor} complete: ${COPY_LOG_FILE:-} ${COPY_LOG_POS:-} ${COPY_GTID:-}"
}

case $MYSQL_HA_CLONE_METHOD in
  clone-plugin) clone_with_plugin ;;
  backup-stream) clone_from_stream ;;
  *) die "MYSQL_HA_CLONE_METHOD must be clone-plugin or backup-stream, got '${MYSQL_HA_CLONE_METHOD}'" ;;
esac
