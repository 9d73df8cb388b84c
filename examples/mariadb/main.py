"""The whole cluster of dist/ on MariaDB 11.4 LTS instead of MySQL 8.4: one prop of the chart.

The pods read the passwords from the Secret "mysql-credentials" (keys root-password,
admin-password, status-password, replication-password and clone-password: one per account,
see the README), created outside git.
"""

import cdk8s

from mysql_ha import MARIADB_11_4, MySQLCredentials, MySQLHAChart, write_kustomization

app = cdk8s.App()
MySQLHAChart(app, "mariadb", engine=MARIADB_11_4,
             credentials=MySQLCredentials.from_existing_secret("mysql-credentials"))
app.synth()
write_kustomization(app)
