"""The default chart with N replica slots on static local PVs: ``python slots.py N``.

The same constructs as ``MySQLHAChart``'s defaults (MySQL 8.4, an existing Secret, the
walkthrough's local StorageClass), with N local PersistentVolumes and N replicas, so
what grows with N is exactly what a user adds slots for. Writes to ``$CDK8S_OUTDIR``.
"""

import sys

import cdk8s

from mysql_ha import LocalStorage, MySQLConfig, MySQLCredentials, ReadWriteServices, ReplicatedMySQL

slots = int(sys.argv[1])
app = cdk8s.App()
chart = cdk8s.Chart(app, "mysql-ha", namespace="mysql", disable_resource_name_hashes=True)
storage = LocalStorage(chart, "Storage", paths=[f"/data/svr/projects/mysql-{i}" for i in range(1, slots + 1)])
config = MySQLConfig(chart, "Config", credentials=MySQLCredentials.from_existing_secret("mysql-credentials"))
services = ReadWriteServices(chart, "Services")
ReplicatedMySQL(chart, "MySQL", config=config, storage=storage, services=services, replicas=slots)
app.synth()
