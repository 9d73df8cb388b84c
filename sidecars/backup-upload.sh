#!/bin/sh
# Container "upload" of MySQLBackup's Job (rclone's image: busybox sh): copies the backup
# that the "backup" init container packed to the target, then applies the retention.
#   1. deletes unfinished backups (no manifest) that started before this run: the CronJob
#      runs one at a time (concurrencyPolicy Forbid), so they belong to runs that died;
#   2. copies data/ (each file of the data directory), data.dirs, data.sha256 and checksums
#      (each table's CHECKSUM TABLE on the copy, for restore drills), then the
#      manifest: a backup becomes visible, to listing and restore, only once it is complete;
#   3. keeps the newest MYSQL_HA_KEEP backups and, with a maximum age, only those newer
#      than it (never deleting the newest), then deletes the archived binary logs that
#      only the deleted backups needed (closed before the oldest kept backup started).
# On SIGTERM (the Job is deleted or runs out of time) it abandons the upload at once: rclone,
# told to stop, deletes the partial file it was writing; without its manifest the backup is
# unfinished, and the next run deletes it.
set -eu
# shellcheck source=target.sh
. "${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}/target.sh"
load_target_credentials
stop_on_term 143 "upload abandoned: the backup has no manifest, and the next run deletes it"

location=${MYSQL_HA_BACKUP_LOCATION:?}
out=${MYSQL_HA_STAGING_DIR:?}/out

value() { sed -n "s/^$1=//p" "$2" | head -n 1; }
# older NAME CUTOFF: backup NAME (20261126T030000Z) started before CUTOFF, of the same form.
older() { [ -n "$2" ] && [ "$(echo "$1" | tr -d TZ)" -lt "$(echo "$2" | tr -d TZ)" ]; }

[ -s "$out/retention" ] || die "the backup container left no backup in $out"
name=$(value name "$out/retention")
[ -s "$out/$name/manifest" ] || die "backup $name has no manifest: it did not finish"

# complete_backups: the names of the backups that have a manifest, oldest first.
complete_backups() {
  rclone lsf -R --files-only --include '/*/manifest' "$location/backups" 2>/dev/null | sed -n 's|/manifest$||p' | sort
}

unfinished_cutoff=$(value unfinished_cutoff "$out/retention")
complete=$(complete_backups)
# A loop in this shell, not in a pipeline's subshell: `run` and the SIGTERM trap are this shell's.
for dir in $(rclone lsf --dirs-only "$location/backups" 2>/dev/null | tr -d / | sort); do
  printf '%s\n' "$complete" | grep -qx "$dir" && continue
  if older "$dir" "$unfinished_cutoff"; then
    log "deleting ${dir}: it never finished"
    run rclone purge "$location/backups/$dir"
  fi
done

log "uploading backup $name to ${MYSQL_HA_BACKUP_TARGET}"
run rclone copy "$out/$name/data" "$location/backups/$name/data"
for file in data.dirs data.sha256 checksums manifest; do
  run rclone copyto "$out/$name/$file" "$location/backups/$name/$file"
done
# A run started earlier by hand and still uploading would delete this one's data as
# unfinished: then this backup is not complete either.
if [ -z "$(rclone lsf "$location/backups/$name/" --include 'data.sha256' 2>/dev/null)" ] \
  || [ -z "$(rclone lsf "$location/backups/$name/data/" 2>/dev/null)" ]; then
  rclone purge "$location/backups/$name" || true
  die "the data of backup $name vanished during the upload (another backup run at the same time?)"
fi
log "backup $name is complete"

backups=$(complete_backups)
count=$(printf '%s\n' "$backups" | grep -c . || true)
newest=$(printf '%s\n' "$backups" | tail -n 1)
age_cutoff=$(value age_cutoff "$out/retention")
excess=$((count - MYSQL_HA_KEEP))
# Oldest first: the first $excess go, and any older than the age cut-off.
for dir in $backups; do
  [ "$dir" = "$newest" ] && break
  if [ "$excess" -gt 0 ] || older "$dir" "$age_cutoff"; then
    log "deleting backup ${dir} (retention: keep ${MYSQL_HA_KEEP}${age_cutoff:+, newer than ${age_cutoff}})"
    run rclone purge "$location/backups/$dir"
  fi
  excess=$((excess - 1))
done

# Binary logs closed before the oldest kept backup started are in that backup.
oldest=$(complete_backups | head -n 1)
if [ -n "$oldest" ]; then
  oldest_start=$(rclone cat "$location/backups/$oldest/manifest" | sed -n 's/^started_epoch=//p')
  age=$(($(date -u +%s) - oldest_start))
  if [ "$age" -gt 0 ]; then
    run rclone delete "$location/binlogs" --min-age "${age}s" --include 'mysql-bin.[0-9]*' 2>/dev/null || true
  fi
fi
log "kept: $(complete_backups | tr '\n' ' ')"
