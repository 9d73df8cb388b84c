"""The cluster of dist/ with metrics: a mysqld_exporter sidecar on port 9104 in every pod.

Prometheus pods (label app.kubernetes.io/name=prometheus, any namespace) may scrape 9104; the
pods carry prometheus.io/* annotations and the headless Service a "metrics" port. The Secret
"mysql-credentials" then also needs a metrics-password key.
"""

import cdk8s

from mysql_ha import MySQLCredentials, MySQLHAChart, write_kustomization

app = cdk8s.App()
MySQLHAChart(app, "mysql-metrics", metrics=True,
             credentials=MySQLCredentials.from_existing_secret("mysql-credentials"))
app.synth()
write_kustomization(app)
