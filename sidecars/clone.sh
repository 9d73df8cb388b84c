#!/usr/bin/env bash
# Init container "clone-mysql": gives a new replica the data of the pod before it.
#
# The backup is streamed from the previous ordinal's sidecar into a staging
# directory, checked, prepared, and only then renamed to the data directory: the
# rename is the marker of a finished clone. A clone that dies midway leaves only
# the staging directory, which the next attempt deletes.
set -o errexit -o nounset -o pipefail
# shellcheck source=common.sh
source "${MYSQL_HA_SCRIPTS_DIR}/common.sh"

pod_identity
datadir=${MYSQL_HA_DATA_ROOT:?}/mysql
staging=${MYSQL_HA_DATA_ROOT}/clone.tmp

if [[ -d $datadir ]]; then
  log "data directory ${datadir} exists: nothing to clone"
  exit 0
fi
if ((POD_ORDINAL == 0)); then
  log "ordinal 0 is the primary: the server initializes its empty data directory"
  exit 0
fi

donor="${POD_SET}-$((POD_ORDINAL - 1)).${MYSQL_HA_SERVICE}"
rm -rf "$staging"
mkdir -p "$staging"
log "cloning from ${donor}:${MYSQL_HA_CLONE_PORT}"
receive_stream "$donor" "$MYSQL_HA_CLONE_PORT" | "$MYSQL_HA_STREAM_EXTRACTOR" -x -C "$staging"
[[ -f $staging/xtrabackup_checkpoints ]] \
  || die "the stream from ${donor} ended before a complete backup (no xtrabackup_checkpoints)"

# Coordinates in the primary's binary log at which this copy stops: a clone of a
# replica carries them in xtrabackup_slave_info, a clone of the primary in
# xtrabackup_binlog_info ("file<TAB>position[<TAB>gtid]").
log_file='' log_pos='' gtid=''
if [[ -s $staging/xtrabackup_slave_info ]]; then
  info=$(<"$staging/xtrabackup_slave_info")
  file_re="_LOG_FILE[[:space:]]*=[[:space:]]*'([^']+)'"
  pos_re="_LOG_POS[[:space:]]*=[[:space:]]*([0-9]+)"
  gtid_re="gtid_slave_pos[[:space:]]*=[[:space:]]*'([^']*)'"
  [[ $info =~ $file_re ]] && log_file=${BASH_REMATCH[1]}
  [[ $info =~ $pos_re ]] && log_pos=${BASH_REMATCH[1]}
  [[ $info =~ $gtid_re ]] && gtid=${BASH_REMATCH[1]}
elif [[ -s $staging/xtrabackup_binlog_info ]]; then
  IFS=$'\t' read -r log_file log_pos gtid _ <"$staging/xtrabackup_binlog_info" || true
else
  die "the backup from ${donor} has no binary log coordinates: is log-bin enabled on the donor?"
fi
[[ -n $log_file || -n $gtid ]] || die "no binary log coordinates found in the backup from ${donor}"

"$MYSQL_HA_BACKUP" --prepare --target-dir="$staging"
printf 'LOG_FILE=%s\nLOG_POS=%s\nGTID=%s\n' "$log_file" "$log_pos" "$gtid" \
  >"$staging/mysql-ha-source-position"
mv "$staging" "$datadir"
log "clone from ${donor} complete: ${log_file:-} ${log_pos:-} ${gtid:-}"
