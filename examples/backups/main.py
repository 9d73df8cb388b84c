"""The cluster of dist/ with backups to S3-compatible object storage: a CronJob
"mysql-backup" takes a physical backup from a ready replica every night at 03:00 UTC and
keeps 14; every pod copies its closed binary logs to the same bucket (the primary closes
its log every 30 s), so a new cluster can be restored to any second since the oldest
backup:

    MySQLHAChart(app, "mysql-restored", namespace="mysql-restored", credentials=...,
                 restore_from=RestoreFrom(target, point_in_time="2026-11-26T10:15:00Z"))

The Secret "mysql-backup-s3" (keys access-key-id, secret-access-key) holds the bucket's
credentials; they reach rclone as environment variables, never as arguments.
"""

import cdk8s

from mysql_ha import BackupTarget, MySQLCredentials, MySQLHAChart, write_kustomization

target = BackupTarget.s3(endpoint="https://s3.eu-west-1.amazonaws.com", region="eu-west-1",
                         bucket="example-mysql-backups", prefix="mysql", secret_name="mysql-backup-s3")
app = cdk8s.App()
MySQLHAChart(app, "mysql-backups", credentials=MySQLCredentials.from_existing_secret("mysql-credentials"),
             backup_target=target, backup_keep=14)
app.synth()
write_kustomization(app)
