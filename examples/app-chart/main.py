"""An application's own chart: its Deployment beside the database it uses.

The constructs go into the app's chart like any other; the app's pods get the database's
client labels (the database's NetworkPolicy admits only them) and its host names. The
Deployment syncs in wave 1, after the database's StatefulSet (wave 0) is healthy; the app's
Namespace and NetworkPolicy carry the waves the constructs give those kinds (-4, -1).
"""

import cdk8s
from cdk8s_plus_27 import k8s
from constructs import Construct

from mysql_ha import (LocalStorage, MySQLConfig, MySQLCredentials, ReadWriteServices, ReplicatedMySQL,
                      write_kustomization)

SYNC_WAVE = "argocd.argoproj.io/sync-wave"


class ShopChart(cdk8s.Chart):
    """The shop's web tier and its MySQL, in namespace "shop"."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id, namespace="shop", disable_resource_name_hashes=True)
        namespace = k8s.KubeNamespace(self, "Namespace",
                                      metadata=k8s.ObjectMeta(name="shop", annotations={SYNC_WAVE: "-4"}))
        namespace.add_json_patch(cdk8s.JsonPatch.remove("/metadata/namespace"))  # cluster-scoped

        db = ReplicatedMySQL(
            self, "DB",
            config=MySQLConfig(self, "DBConfig", name="shop-db",
                               credentials=MySQLCredentials.from_existing_secret("shop-db")),
            storage=LocalStorage(self, "DBStorage", storage_class_name="standard", dynamic=True),
            services=ReadWriteServices(self, "DBServices", name="shop-db"),
            replicas=2, storage_request="10Gi",
        )
        self.web = self._web(db)
        # The web pods take HTTP on 8080 from anywhere; nothing else reaches them.
        k8s.KubeNetworkPolicy(
            self, "WebPolicy",
            metadata=k8s.ObjectMeta(name="shop-web", annotations={SYNC_WAVE: "-1"}),
            spec=k8s.NetworkPolicySpec(
                pod_selector=k8s.LabelSelector(match_labels={"app.kubernetes.io/name": "shop-web"}),
                policy_types=["Ingress"],
                ingress=[k8s.NetworkPolicyIngressRule(
                    ports=[k8s.NetworkPolicyPort(port=k8s.IntOrString.from_number(8080), protocol="TCP")])],
            ),
        )

    def _web(self, db: ReplicatedMySQL) -> k8s.KubeDeployment:
        labels = {"app.kubernetes.io/name": "shop-web", **db.client_labels}
        return k8s.KubeDeployment(
            self, "Web",
            metadata=k8s.ObjectMeta(
                name="shop-web",
                annotations={
                    SYNC_WAVE: "1",
                    "checkov.io/skip1": "CKV_K8S_43=the example references its image by version tag",
                },
            ),
            spec=k8s.DeploymentSpec(
                replicas=2,
                selector=k8s.LabelSelector(match_labels={"app.kubernetes.io/name": "shop-web"}),
                template=k8s.PodTemplateSpec(
                    metadata=k8s.ObjectMeta(labels=labels),
                    spec=k8s.PodSpec(
                        automount_service_account_token=False,
                        security_context=k8s.PodSecurityContext(
                            run_as_non_root=True, run_as_user=10001, run_as_group=10001,
                            seccomp_profile=k8s.SeccompProfile(type="RuntimeDefault"),
                        ),
                        containers=[self._container(db)],
                    ),
                ),
            ),
        )

    def _container(self, db: ReplicatedMySQL) -> k8s.Container:
        probe = k8s.Probe(http_get=k8s.HttpGetAction(path="/healthz", port=k8s.IntOrString.from_string("http")))
        return k8s.Container(
            name="web",
            image="registry.example.com/shop-web:1.4.2",
            image_pull_policy="Always",
            ports=[k8s.ContainerPort(name="http", container_port=8080)],
            env=[
                k8s.EnvVar(name="DB_WRITE_HOST", value=db.primary_host),
                k8s.EnvVar(name="DB_READ_HOST", value=db.read_host),
            ],
            liveness_probe=probe,
            readiness_probe=probe,
            resources=k8s.ResourceRequirements(
                requests={"cpu": k8s.Quantity.from_string("100m"), "memory": k8s.Quantity.from_string("256Mi")},
                limits={"cpu": k8s.Quantity.from_string("1"), "memory": k8s.Quantity.from_string("256Mi")},
            ),
            security_context=k8s.SecurityContext(
                allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True,
                run_as_non_root=True, capabilities=k8s.Capabilities(drop=["ALL"]),
            ),
        )


app = cdk8s.App()
ShopChart(app, "shop")
app.synth()
write_kustomization(app)
