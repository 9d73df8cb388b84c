#!/bin/sh
# Init container "restore-fetch" (rclone's image: busybox sh), with
# ReplicatedMySQL(restore_from=...): on the declared primary of a set whose data
# directory does not exist yet, chooses the backup and copies it, with the archived
# binary logs a point-in-time restore replays, to $MYSQL_HA_DATA_ROOT/restore.tmp;
# restore.sh (next init container) checks, unpacks and replays them.
#   MYSQL_HA_RESTORE_BACKUP      a backup's name, or "latest" (with a point in time:
#                                the newest that finished before it)
#   MYSQL_HA_RESTORE_STOP_EPOCH  the point in time plus one second (empty: none)
#   MYSQL_HA_RESTORE_POINT_IN_TIME  "latest": as far as the archive continuing the newest
#                                backup reaches (the plan says which second)
#   MYSQL_HA_RESTORE_DRILL       1 in a restore drill's pod (RestoreDrill): no set around it,
#                                so no declared primary to be
# The binary logs come from one series of the archive (see archive.sh): one that began
# before the backup started and reaches the point in time, the one that began last (the
# fewest files to fetch).
# A backup that is missing or unfinished (no manifest), a point in time before the
# oldest backup, after the last archived binary log, or past a gap in the archive (no
# series continues the backup up to it): it fails with one message naming what the target
# holds (and the missing files and transactions), and leaves no data directory behind (no
# server starts).
# On SIGTERM it abandons the fetch at once: without its plan the staging directory is
# fetched again by the next start.
set -eu
scripts=${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}
# shellcheck source=target.sh
. "$scripts/target.sh"
# shellcheck source=archive.sh
. "$scripts/archive.sh"
load_target_credentials
stop_on_term 143 "fetch abandoned (the next start fetches again)"

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
if [ "${MYSQL_HA_RESTORE_DRILL:-}" != 1 ] && [ "$ordinal" != "$declared" ]; then
  log "ordinal ${ordinal} is not the declared primary (${declared}): it clones the restored primary"
  exit 0
fi
rm -rf "$staging"

# Every complete backup (with a manifest), oldest first, as "name finished_epoch started_epoch".
backups=$(rclone lsf -R --files-only --include '/*/manifest' "$location/backups" 2>/dev/null \
  | sed -n 's|/manifest$||p' | sort | while read -r name; do
    rclone cat "$location/backups/$name/manifest" \
      | awk -v name="$name" -F= '$1 == "finished_epoch" { f = $2 } $1 == "started_epoch" { s = $2 } END { print name, f, s }'
  done)
[ -n "$backups" ] || die "no complete backup on ${MYSQL_HA_BACKUP_TARGET} (${location}/backups): nothing to restore"
available="backups on ${MYSQL_HA_BACKUP_TARGET}: $(printf '%s\n' "$backups" | while read -r name finished _; do
  printf '%s (consistent at %s) ' "$name" "$(utc "$finished")"; done)"

# The archive's series, "path until created", and how far the furthest reaches.
series=$(archive_series "$location")
until=$(printf '%s\n' "$series" | awk '$2 > max { max = $2 } END { print max + 0 }')
if [ "$until" -gt 0 ]; then
  available="${available}; binary logs up to $(utc $((until - 1)))"
else
  available="${available}; no archived binary logs"
fi

chosen='' finished=''
if [ "$when" = latest ]; then
  # As far as the archive continuing the newest backup reaches (none: the backup alone).
  chosen=$(printf '%s\n' "$backups" | tail -n 1 | cut -d' ' -f1)
  [ "$wanted" = latest ] || chosen=$wanted
  started=$(printf '%s\n' "$backups" | awk -v name="$chosen" '$1 == name { print $3 }')
  reach=$(printf '%s\n' "$series" | awk -v s="${started:-0}" '$1 != "" && $3 <= s && $2 > max { max = $2 } END { print max + 0 }')
  if [ "$reach" -gt 0 ]; then
    stop=$reach
    when=$(utc "$((stop - 1))")
    log "the latest point in time backup ${chosen} reaches: ${when}"
  else
    when=''
    log "no archived binary log continues backup ${chosen}: the backup alone"
  fi
fi
if [ "$wanted" = latest ]; then
  while read -r name epoch _; do
    if [ -z "$stop" ] || [ "$epoch" -lt "$stop" ]; then
      chosen=$name finished=$epoch
    fi
  done <<EOF_BACKUPS
$backups
EOF_BACKUPS
  [ -n "$chosen" ] || die "the point in time ${when} is before every backup: ${available}"
else
  finished=$(printf '%s\n' "$backups" | awk -v name="$wanted" '$1 == name { print $2 }')
  [ -n "$finished" ] || die "backup ${wanted} is not on the target, or did not finish: ${available}"
  chosen=$wanted
  if [ -n "$stop" ] && [ "$finished" -ge "$stop" ]; then
    die "backup ${wanted} is consistent at $(utc "$finished"), after the point in time ${when}: choose an earlier backup; ${available}"
  fi
fi
binlog_source=''
if [ -n "$stop" ]; then
  [ "$until" -ge "$stop" ] || die "the point in time ${when} is after the last archived binary log: ${available}"
  started=$(printf '%s\n' "$backups" | awk -v name="$chosen" '$1 == name { print $3 }')
  case $started in '' | *[!0-9]*) started=$finished ;; esac
  binlog_source=$(printf '%s\n' "$series" | awk -v s="$started" -v stop="$stop" '$3 <= s && $2 >= stop' \
    | sort -k3,3n -k2,2n | tail -n 1 | cut -d' ' -f1)
  if [ -z "$binlog_source" ]; then
    # A gap: the series that continue the backup end before the point in time, and those
    # that reach it begin after the backup.
    base=$(printf '%s\n' "$series" | awk -v s="$started" '$3 <= s' | sort -k2,2n | tail -n 1)
    next=$(printf '%s\n' "$series" | awk -v stop="$stop" '$2 >= stop' | sort -k3,3n | head -n 1)
    next_path=${next%% *} next_created=${next##* }
    [ -n "$base" ] || die "the point in time ${when} cannot be reached from backup ${chosen} (started $(utc "$started")): every series of archived binary logs that reaches it begins later, the first at $(utc "$next_created") (${next_path}); restore from a newer backup; ${available}"
    base_path=${base%% *} base_until=$(printf '%s' "$base" | cut -d' ' -f2)
    missing=$(series_break "$location" "$next_path")
    die "the point in time ${when} is past a gap in the archived binary logs: those that continue backup ${chosen} (${base_path}) end at $(utc "$((base_until - 1))"), and the next series (${next_path}) begins at $(utc "$next_created")${missing:+ after ${missing}}; restore to $(utc "$((base_until - 1))") at the latest, or from a backup taken after $(utc "$next_created"); ${available}"
  fi
fi

log "restoring backup ${chosen}${stop:+ to ${when} with the binary logs of ${binlog_source}} from ${MYSQL_HA_BACKUP_TARGET}"
fetch_started=$(date +%s)
mkdir -p "$staging"
run rclone copy "$location/backups/$chosen" "$staging/backup"
if [ -n "$stop" ]; then
  # Not the partial file (name.<hash>.partial) of a copy that was killed on a local target.
  run rclone copy "$location/binlogs/$binlog_source" "$staging/binlogs" --max-depth 1 \
    --filter '- *.partial' --filter '+ mysql-bin.[0-9]*' --filter '- *'
  # The beginning of the file that was being written (continuous archiving), unless the
  # whole file is there.
  current=$(rclone lsf --files-only "$location/binlogs/$binlog_source/current" 2>/dev/null | grep '^mysql-bin\.[0-9]*$') \
    || current=''
  for file in $current; do
    [ ! -e "$staging/binlogs/$file" ] || continue
    run rclone copyto "$location/binlogs/$binlog_source/current/$file" "$staging/binlogs/$file"
    log "${file} was being written: its beginning, as far as it holds every commit archived, is replayed"
  done
fi
printf 'backup=%s\nbinlog_source=%s\narchived_until=%s\nstop_epoch=%s\npoint_in_time=%s\nfetched_seconds=%s\n' \
  "$chosen" "$binlog_source" "$until" "$stop" "$when" "$(($(date +%s) - fetch_started))" >"$staging/plan.tmp"
mv "$staging/plan.tmp" "$staging/plan"
log "fetched backup ${chosen}$([ -z "$stop" ] || printf ' and %s binary logs' "$(find "$staging/binlogs" -type f | wc -l)")"
