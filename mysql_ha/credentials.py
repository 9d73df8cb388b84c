"""MySQLCredentials: where the passwords of the set's accounts come from."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _validation as check

_USER_NAME_MAX = 32  # MySQL 5.7 and 8.x; MariaDB allows more
ADMIN_USER = "mysqlha_admin"
"""The replication sidecar's own account: ``localhost`` (the socket) only."""
STATUS_USER = "mysqlha_status"
"""The read-only status account."""
BACKUP_USER = "mysqlha_backup"
"""The backup Job's account, on engines where the Job logs in to copy a server."""


@dataclass(frozen=True, kw_only=True)
class MySQLCredentials:
    """A reference to the Secret that holds the passwords, or passwords the app supplies.

    Every account has its own password and its own key: ``root`` (``localhost`` only, for an
    operator inside the server's container), the sidecar's administration account, the
    read-only status account, replication, clone and, where used, backup and metrics. Each
    container receives only the passwords it uses.

    Build it with ``from_existing_secret`` (the Secret is created outside this library,
    e.g. ``kubectl create secret generic`` or an external-secrets operator: nothing secret
    lands in the synthesized YAML) or ``from_passwords`` (``MySQLConfig`` then creates the
    Secret; the passwords end up in the synthesized YAML, so keep that output out of git).
    """

    secret_name: str
    root_password_key: str = "root-password"
    replication_password_key: str = "replication-password"
    replication_user: str = "repl"
    metrics_password_key: str = "metrics-password"
    """Key of the metrics exporter's password; read only when metrics are enabled."""
    clone_password_key: str = "clone-password"
    """Key of the clone account's password; read only by engines that seed replicas with
    MySQL's CLONE plugin."""
    clone_user: str = "clone"
    admin_password_key: str = "admin-password"
    """Key of the sidecar's administration account's password."""
    status_password_key: str = "status-password"
    """Key of the read-only status account's password."""
    backup_password_key: str = "backup-password"
    """Key of the backup Job's password; read only with a ``MySQLBackup`` of an engine whose
    Job logs in to copy a server (MySQL 8.4 and 9.7)."""
    root_password: str | None = field(default=None, repr=False)
    replication_password: str | None = field(default=None, repr=False)
    metrics_password: str | None = field(default=None, repr=False)
    clone_password: str | None = field(default=None, repr=False)
    admin_password: str | None = field(default=None, repr=False)
    status_password: str | None = field(default=None, repr=False)
    backup_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check.dns_subdomain("secret_name", self.secret_name)
        for prop in _KEY_PROPS:
            key = getattr(self, prop)
            if not isinstance(key, str) or not key or not all(c.isalnum() or c in "-._" for c in key):
                raise ValueError(f"{prop} must be a Secret key (letters, digits, '-', '_' or '.'), got {key!r}")
        keys = tuple(getattr(self, prop) for prop in _KEY_PROPS)
        if len(set(keys)) != len(keys):
            raise ValueError(f"{', '.join(_KEY_PROPS)} must differ (each account has its own password), got {keys}")
        for prop in ("replication_user", "clone_user"):
            user = getattr(self, prop)
            if (not isinstance(user, str) or not user or len(user) > _USER_NAME_MAX
                    or not user.replace("_", "a").isalnum()):
                raise ValueError(f"{prop} must be 1-{_USER_NAME_MAX} letters, digits or '_', got {user!r}")
            if user.lower() == "root":
                raise ValueError(f"{prop} must not be 'root': each task has its own least-privilege account")
        if self.replication_user == self.clone_user:
            raise ValueError(
                f"replication_user and clone_user must differ (each has its own privileges), both are "
                f"{self.replication_user!r}"
            )
        required = {prop: getattr(self, prop) for prop in _REQUIRED_PASSWORDS}
        if len({value is None for value in required.values()}) > 1:
            raise ValueError(f"{', '.join(_REQUIRED_PASSWORDS)} must be given together (from_passwords), got "
                             f"only {', '.join(prop for prop, value in required.items() if value is not None)}")
        # Checked here, not only in from_passwords: the constructor is public too.
        if self.root_password is not None:
            _check_passwords(**{prop: getattr(self, prop) for prop in (*_REQUIRED_PASSWORDS, *_OPTIONAL_PASSWORDS)})
        elif any(getattr(self, prop) is not None for prop in _OPTIONAL_PASSWORDS):
            raise ValueError(f"{', '.join(_OPTIONAL_PASSWORDS)} go with {', '.join(_REQUIRED_PASSWORDS)} "
                             "(from_passwords)")

    @classmethod
    def from_existing_secret(
        cls,
        secret_name: str,
        *,
        root_password_key: str = "root-password",
        replication_password_key: str = "replication-password",
        metrics_password_key: str = "metrics-password",
        clone_password_key: str = "clone-password",
        admin_password_key: str = "admin-password",
        status_password_key: str = "status-password",
        backup_password_key: str = "backup-password",
        replication_user: str = "repl",
        clone_user: str = "clone",
    ) -> "MySQLCredentials":
        """Passwords read from keys of a Secret that already exists in the namespace.

        Key names default to ``root-password``, ``admin-password``, ``status-password``,
        ``replication-password``, ``clone-password``, (read only when metrics are enabled)
        ``metrics-password`` and (read only with a ``MySQLBackup`` on MySQL 8.4 and 9.7)
        ``backup-password``. The accounts default to ``repl`` and ``clone``. The pods check at
        start-up what cannot be checked here: a missing key (named in the pod's log and
        readiness), or a replication password longer than the engine allows.
        """
        return cls(
            secret_name=secret_name,
            root_password_key=root_password_key,
            replication_password_key=replication_password_key,
            metrics_password_key=metrics_password_key,
            clone_password_key=clone_password_key,
            admin_password_key=admin_password_key,
            status_password_key=status_password_key,
            backup_password_key=backup_password_key,
            replication_user=replication_user,
            clone_user=clone_user,
        )

    @classmethod
    def from_passwords(
        cls,
        *,
        root_password: str,
        replication_password: str,
        admin_password: str,
        status_password: str,
        clone_password: str,
        metrics_password: str | None = None,
        backup_password: str | None = None,
        secret_name: str = "mysql-credentials",
        replication_user: str = "repl",
        clone_user: str = "clone",
    ) -> "MySQLCredentials":
        """A Secret (``mysql-credentials`` by default) built from these passwords at synth time.

        Each password must be 8-256 printable characters without white space, and all must
        differ; the engine may allow less for replication (``MySQLConfig`` checks: 32
        characters). ``metrics_password`` is needed only with metrics enabled, and
        ``backup_password`` only by a ``MySQLBackup`` on MySQL 8.4 and 9.7; both default to none.
        """
        _check_passwords(root_password=root_password, replication_password=replication_password,
                         admin_password=admin_password, status_password=status_password,
                         clone_password=clone_password, metrics_password=metrics_password,
                         backup_password=backup_password)
        return cls(
            secret_name=secret_name,
            replication_user=replication_user,
            clone_user=clone_user,
            root_password=root_password,
            replication_password=replication_password,
            metrics_password=metrics_password,
            clone_password=clone_password,
            admin_password=admin_password,
            status_password=status_password,
            backup_password=backup_password,
        )

    @property
    def creates_secret(self) -> bool:
        """True when ``MySQLConfig`` must create the Secret (``from_passwords``)."""
        return self.root_password is not None


_KEY_PROPS = ("root_password_key", "admin_password_key", "status_password_key", "replication_password_key",
              "clone_password_key", "metrics_password_key", "backup_password_key")
_REQUIRED_PASSWORDS = ("root_password", "admin_password", "status_password", "replication_password",
                       "clone_password")
_OPTIONAL_PASSWORDS = ("metrics_password", "backup_password")


def _check_passwords(**passwords: object) -> None:
    given = [(prop, password) for prop, password in passwords.items()
             if prop in _REQUIRED_PASSWORDS or password is not None]
    for prop, password in given:
        if not isinstance(password, str) or not password:
            raise ValueError(f"{prop} must be a non-empty string (at least 8 printable characters)")
        if len(password) < 8 or len(password) > 256:
            raise ValueError(f"{prop} must be 8-256 characters long, got {len(password)} characters")
        if not password.isprintable() or any(c.isspace() for c in password):
            raise ValueError(f"{prop} must be printable characters without white space or line breaks")
    if passwords.get("root_password") == passwords.get("replication_password"):
        raise ValueError("replication_password must differ from root_password: root never replicates")
    values = [password for _, password in given]
    if len(set(values)) != len(values):
        raise ValueError(f"{', '.join(prop for prop, _ in given)} must all differ: each account has its own password")
