#!/bin/sh
# Init container "restore-fetch" (rclone's image: busybox sh), with
# ReplicatedMySQL(restore_from=...): on the declared primary of a set whose data
# directory does not exist yet, chooses the backup and copies it, with the archived
# binary logs a point-in-time restore replays, to $MYSQL_HA_DATA_ROOT/restore.tmp;
# restore.sh (next init container) checks, unpacks and replays them.
#   MYSQL_HA_RESTORE_BACKUP      a backup's name, or "latest" (with a point in time:
#                                the newest that finished before it)
#   MYSQL_HA_RESTORE_STOP_EPOCH  the point in time plus one second (empty: none)
# A backup that is missing or unfinished (no manifest), a point in time before the
# oldest backup or after the last archived binary log: it fails with one message naming
# what the target holds, and leaves no data directory behind (no server starts).
# On SIGTERM it abandons the fetch at once: without its plan the staging directory is
# fetched again by the next start.
set -eu
# shellcheck source=target.sh
. "${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}/target.sh"
load_target_credentials
stop_on_term 143 "fetch abandoned (the next start fetches again)"

utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

data_root=${MYSQL_HA_DATA_ROOT:?}
staging=$data_root/restore.tmp
location=${MYSQL_HA_BACKUP_LOCATION:?}
wanted=${MYSQL_HA_RESTORE_BACKUP:-latest}
stop=${MYSQL_HA_RESTORE_STOP_EPOCH:-}
when=${MYSQL_HA_RESTORE_POINT_IN_TIME:-}

if [ -d "$data_root/mysql" ]; then
  log "data directory ${data_root}/mysql exists: nothing to restore"
  exit 0
fi
host=${MYSQL_HA_POD_NAME:?}
ordinal=${host##*-}
declared=$(tr -d '[:space:]' <"${MYSQL_HA_TOPOLOGY_DIR:?}/primary-ordinal")
if [ "$ordinal" != "$declared" ]; then
  log "ordinal ${ordinal} is not the declared primary (${declared}): it clones the restored primary"
  exit 0
fi
rm -rf "$staging"

# Every complete backup (with a manifest), oldest first, as "name finished_epoch".
backups=$(rclone lsf -R --files-only --include '/*/manifest' "$location/backups" 2>/dev/null \
  | sed -n 's|/manifest$||p' | sort | while read -r name; do
    printf '%s %s\n' "$name" "$(rclone cat "$location/backups/$name/manifest" | sed -n 's/^finished_epoch=//p')"
  done)
[ -n "$backups" ] || die "no complete backup on ${MYSQL_HA_BACKUP_TARGET} (${location}/backups): nothing to restore"
available="backups on ${MYSQL_HA_BACKUP_TARGET}: $(printf '%s\n' "$backups" | while read -r name finished; do
  printf '%s (consistent at %s) ' "$name" "$(utc "$finished")"; done)"

# Binary logs: the pod whose archive reaches furthest.
binlog_pod='' until=0
for dir in $(rclone lsf --dirs-only "$location/binlogs" 2>/dev/null | tr -d /); do
  value=$(rclone cat "$location/binlogs/$dir/archived-until" 2>/dev/null | tr -d '[:space:]') || value=''
  case $value in '' | *[!0-9]*) continue ;; esac
  if [ "$value" -gt "$until" ]; then
    until=$value
    binlog_pod=$dir
  fi
done
if [ -n "$binlog_pod" ]; then
  available="${available}; binary logs up to $(utc $((until - 1)))"
else
  available="${available}; no archived binary logs"
fi

chosen='' finished=''
if [ "$wanted" = latest ]; then
  while read -r name epoch; do
    if [ -z "$stop" ] || [ "$epoch" -lt "$stop" ]; then
      chosen=$name finished=$epoch
    fi
  done <<EOF_BACKUPS
$backups
EOF_BACKUPS
  [ -n "$chosen" ] || die "the point in time ${when} is before every backup: ${available}"
else
  finished=$(printf '%s\n' "$backups" | sed -n "s/^${wanted} //p")
  [ -n "$finished" ] || die "backup ${wanted} is not on the target, or did not finish: ${available}"
  chosen=$wanted
  if [ -n "$stop" ] && [ "$finished" -ge "$stop" ]; then
    die "backup ${wanted} is consistent at $(utc "$finished"), after the point in time ${when}: choose an earlier backup; ${available}"
  fi
fi
if [ -n "$stop" ] && [ "$until" -lt "$stop" ]; then
  die "the point in time ${when} is after the last archived binary log: ${available}"
fi

log "restoring backup ${chosen}${stop:+ to ${when} with the binary logs of ${binlog_pod}} from ${MYSQL_HA_BACKUP_TARGET}"
mkdir -p "$staging"
run rclone copy "$location/backups/$chosen" "$staging/backup"
if [ -n "$stop" ]; then
  # Not the partial file (name.<hash>.partial) of a copy that was killed on a local target.
  run rclone copy "$location/binlogs/$binlog_pod" "$staging/binlogs" \
    --filter '- *.partial' --filter '+ mysql-bin.[0-9]*' --filter '- *'
fi
printf 'backup=%s\nbinlog_source=%s\narchived_until=%s\n' "$chosen" "${stop:+$binlog_pod}" "$until" >"$staging/plan.tmp"
mv "$staging/plan.tmp" "$staging/plan"
log "fetched backup ${chosen}$([ -z "$stop" ] || printf ' and %s binary logs' "$(find "$staging/binlogs" -type f | wc -l)")"
