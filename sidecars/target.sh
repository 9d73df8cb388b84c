# shellcheck shell=sh
# Sourced by the scripts that run in rclone's image (busybox sh). The target's remote is
# configured by the RCLONE_CONFIG_TARGET_* variables of the pod spec; an S3 target's keys
# are files of a mounted Secret (MYSQL_HA_S3_CREDENTIALS_DIR), exported here to rclone's
# process only: never in an argument list nor in the pod spec.

# log MESSAGE...: a line on stderr, with the time and the script's name.
log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# On a pod's deletion the kubelet sends SIGTERM to each container's PID 1 alone, SIGKILL to
# all of it terminationGracePeriodSeconds later. A shell as PID 1 ignores SIGTERM unless it
# traps it, and runs a trap only once its foreground command has ended; rclone killed by
# SIGKILL leaves its partial file (name.<hash>.partial) on a local target, while on SIGTERM
# it deletes it. So the scripts run rclone (and their sleeps) through `run`, and
# `stop_on_term` sends SIGTERM on to the command under way and waits for it to end.

# run COMMAND...: COMMAND in the background, waited for; its exit status. Its stdin is
# /dev/null.
run() {
  "$@" &
  running=$!
  run_status=0
  wait "$running" || run_status=$?
  running=''
  return "$run_status"
}

# stop_on_term STATUS WHAT: on SIGTERM, ends the command under way, logs "SIGTERM: WHAT"
# and exits STATUS.
stop_on_term() {
  term_status=$1 term_what=$2
  trap on_term TERM
}
on_term() {
  trap '' TERM
  if [ -n "${running:-}" ]; then
    kill -TERM "$running" 2>/dev/null || true
    wait "$running" || true
  fi
  log "SIGTERM: ${term_what}"
  exit "$term_status"
}

# load_target_credentials: exports the S3 keys, when the target has any.
load_target_credentials() {
  [ -n "${MYSQL_HA_S3_CREDENTIALS_DIR:-}" ] || return 0
  RCLONE_CONFIG_TARGET_ACCESS_KEY_ID=$(cat "${MYSQL_HA_S3_CREDENTIALS_DIR}/access-key-id") \
    || die "cannot read the S3 access key id in ${MYSQL_HA_S3_CREDENTIALS_DIR}"
  RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY=$(cat "${MYSQL_HA_S3_CREDENTIALS_DIR}/secret-access-key") \
    || die "cannot read the S3 secret key in ${MYSQL_HA_S3_CREDENTIALS_DIR}"
  export RCLONE_CONFIG_TARGET_ACCESS_KEY_ID RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY
}
