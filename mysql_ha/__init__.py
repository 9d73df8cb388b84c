"""cdk8s constructs for a replicated MySQL (primary/replica) cluster on a StatefulSet."""

from .backup_target import BackupTarget, RestoreFrom
from .chart import MySQLHAChart
from .credentials import MySQLCredentials
from .engines import ENGINES, MARIADB_10_11, MARIADB_11_4, MYSQL_5_7, MYSQL_8_4, MYSQL_9_7, Engine, engine_by_name
from .kustomization import write_kustomization
from .local_storage import LocalStorage
from .mysql_backup import MySQLBackup
from .mysql_config import MySQLConfig
from .read_write_services import ReadWriteServices
from .replicated_mysql import ReplicatedMySQL
from .restore_drill import RestoreDrill
from .tls import MySQLTLS

__all__ = [
    "BackupTarget",
    "ENGINES",
    "Engine",
    "LocalStorage",
    "MARIADB_10_11",
    "MARIADB_11_4",
    "MYSQL_5_7",
    "MYSQL_8_4",
    "MYSQL_9_7",
    "MySQLBackup",
    "MySQLConfig",
    "MySQLCredentials",
    "MySQLHAChart",
    "MySQLTLS",
    "ReadWriteServices",
    "ReplicatedMySQL",
    "RestoreDrill",
    "RestoreFrom",
    "engine_by_name",
    "write_kustomization",
]
