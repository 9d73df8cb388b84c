#!/bin/sh
# Sidecar "binlog-archive" (rclone's image: busybox sh), beside every server when
# MySQLBackup archives binary logs: copies each binary log this pod has closed to
# binlogs/<pod>/ of the target, then publishes binlogs/<pod>/archived-until: every
# transaction committed before that time (Unix seconds) is in the files copied.
# The replication sidecar of the declared primary closes its binary log every
# MYSQL_HA_BINLOG_FLUSH_SECONDS when it took writes, and writes that time into
# $MYSQL_HA_RUN_DIR/binlog-closed-at; the file being written is never copied.
# On SIGTERM it ends at once and abandons a copy under way: rclone, told to stop, deletes
# the partial file it was writing (the file never appears under its own name unless it is
# complete), the file is not counted as copied and archived-until does not move, so the next
# start copies it again.
set -eu
# shellcheck source=target.sh
. "${MYSQL_HA_SCRIPTS_DIR:-/opt/mysql-ha}/target.sh"
load_target_credentials

location=${MYSQL_HA_BACKUP_LOCATION:?}
datadir=${MYSQL_HA_DATADIR:?}
poll=${MYSQL_HA_ARCHIVE_POLL_SECONDS:-5}
heartbeat=${MYSQL_HA_ARCHIVE_HEARTBEAT:?}
pod=${MYSQL_HA_POD_NAME:?}
dest=$location/binlogs/$pod
closed_at_file=${MYSQL_HA_RUN_DIR:?}/binlog-closed-at
index=$datadir/mysql-bin.index
done_list=${TMPDIR:-/tmp}/binlog-archive.done
todo_list=${TMPDIR:-/tmp}/binlog-archive.todo
until_file=${TMPDIR:-/tmp}/archived-until


: >"$done_list"
published=''
stop_on_term 0 "stopping (a copy under way is abandoned: the next start copies the file again)"
log "archiving the closed binary logs of ${pod} to ${MYSQL_HA_BACKUP_TARGET}"
while true; do
  touch "$heartbeat"
  # Read before the index: the files closed by then hold every transaction before it.
  closed_at=''
  [ ! -s "$closed_at_file" ] || closed_at=$(cat "$closed_at_file")
  copied=yes
  if [ -s "$index" ]; then
    # Every file of the index but the last, which the server is writing.
    sed 's|.*/||' "$index" | sed '$d' | while read -r file; do
      grep -qxF "$file" "$done_list" || printf '%s\n' "$file"
    done >"$todo_list"
    if [ -s "$todo_list" ]; then
      if run rclone copy "$datadir" "$dest" --files-from "$todo_list" --no-traverse --retries 1; then
        cat "$todo_list" >>"$done_list"
        log "copied $(tr '\n' ' ' <"$todo_list")"
      else
        copied=no
        log "copying to ${MYSQL_HA_BACKUP_TARGET} failed; next try in ${poll} s"
      fi
    fi
  fi
  if [ "$copied" = yes ] && [ -n "$closed_at" ] && [ "$closed_at" != "$published" ]; then
    printf '%s\n' "$closed_at" >"$until_file"
    if run rclone copyto --ignore-times "$until_file" "$dest/archived-until"; then
      published=$closed_at
    fi
  fi
  run sleep "$poll"
done
