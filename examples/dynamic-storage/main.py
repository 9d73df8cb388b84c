"""Three pods on a provisioned StorageClass, each on its own node.

Dynamic storage creates no StorageClass and no PersistentVolumes: the PVCs ask the cluster's
StorageClass "standard" for 20Gi each, so the pods are not tied to the nodes of local volumes
and spread="hard" can require one pod per node (a fourth node keeps a drain possible).
"""

import cdk8s

from mysql_ha import (LocalStorage, MySQLConfig, MySQLCredentials, ReadWriteServices, ReplicatedMySQL,
                      write_kustomization)

app = cdk8s.App()
chart = cdk8s.Chart(app, "orders-db", namespace="orders", disable_resource_name_hashes=True)
storage = LocalStorage(chart, "Storage", storage_class_name="standard", dynamic=True)
config = MySQLConfig(chart, "Config", credentials=MySQLCredentials.from_existing_secret("orders-db"),
                     server_settings={"max_connections": "500"})
services = ReadWriteServices(chart, "Services", name="orders-db")
ReplicatedMySQL(chart, "MySQL", config=config, storage=storage, services=services,
                replicas=3, spread="hard", storage_request="20Gi", memory_request="2Gi")
app.synth()
write_kustomization(app)
