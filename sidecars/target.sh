# shellcheck shell=sh
# Sourced by the scripts that run in rclone's image (busybox sh). The target's remote is
# configured by the RCLONE_CONFIG_TARGET_* variables of the pod spec; an S3 target's keys
# are files of a mounted Secret (MYSQL_HA_S3_CREDENTIALS_DIR), exported here to rclone's
# process only: never in an argument list nor in the pod spec.

# log MESSAGE...: a line on stderr, with the time and the script's name.
log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${0##*/}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# load_target_credentials: exports the S3 keys, when the target has any.
load_target_credentials() {
  [ -n "${MYSQL_HA_S3_CREDENTIALS_DIR:-}" ] || return 0
  RCLONE_CONFIG_TARGET_ACCESS_KEY_ID=$(cat "${MYSQL_HA_S3_CREDENTIALS_DIR}/access-key-id") \
    || die "cannot read the S3 access key id in ${MYSQL_HA_S3_CREDENTIALS_DIR}"
  RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY=$(cat "${MYSQL_HA_S3_CREDENTIALS_DIR}/secret-access-key") \
    || die "cannot read the S3 secret key in ${MYSQL_HA_S3_CREDENTIALS_DIR}"
  export RCLONE_CONFIG_TARGET_ACCESS_KEY_ID RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY
}
