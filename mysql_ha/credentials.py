"""MySQLCredentials: where the root and replication passwords come from."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _validation as check

_USER_NAME_MAX = 32  # MySQL 5.7 and 8.x; MariaDB allows more


@dataclass(frozen=True, kw_only=True)
class MySQLCredentials:
    """A reference to the Secret that holds the passwords, or passwords the app supplies.

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
    root_password: str | None = field(default=None, repr=False)
    replication_password: str | None = field(default=None, repr=False)
    metrics_password: str | None = field(default=None, repr=False)
    clone_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check.dns_subdomain("secret_name", self.secret_name)
        for prop in ("root_password_key", "replication_password_key", "metrics_password_key", "clone_password_key"):
            key = getattr(self, prop)
            if not isinstance(key, str) or not key or not all(c.isalnum() or c in "-._" for c in key):
                raise ValueError(f"{prop} must be a Secret key (letters, digits, '-', '_' or '.'), got {key!r}")
        keys = (self.root_password_key, self.replication_password_key, self.metrics_password_key,
                self.clone_password_key)
        if len(set(keys)) != len(keys):
            raise ValueError(
                "root_password_key, replication_password_key, metrics_password_key and clone_password_key "
                f"must differ (each account has its own password), got {keys}"
            )
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
        if (self.root_password is None) != (self.replication_password is None):
            raise ValueError("root_password and replication_password must be given together (from_passwords)")
        # Checked here, not only in from_passwords: the constructor is public too.
        if self.root_password is not None:
            _check_passwords(self.root_password, self.replication_password, self.metrics_password,
                             self.clone_password)
        elif self.metrics_password is not None or self.clone_password is not None:
            raise ValueError(
                "metrics_password and clone_password go with root_password and replication_password "
                "(from_passwords)"
            )

    @classmethod
    def from_existing_secret(
        cls,
        secret_name: str,
        *,
        root_password_key: str = "root-password",
        replication_password_key: str = "replication-password",
        metrics_password_key: str = "metrics-password",
        clone_password_key: str = "clone-password",
        replication_user: str = "repl",
        clone_user: str = "clone",
    ) -> "MySQLCredentials":
        """Passwords read from keys of a Secret that already exists in the namespace.

        Key names default to ``root-password``, ``replication-password``, (read only when
        metrics are enabled) ``metrics-password`` and (read only by the MySQL 8.4 and 9.7
        engines, which seed replicas with the CLONE plugin) ``clone-password``. The accounts
        default to ``repl`` and ``clone``. The pods check at start-up what cannot be checked
        here, e.g. a replication password longer than the engine allows.
        """
        return cls(
            secret_name=secret_name,
            root_password_key=root_password_key,
            replication_password_key=replication_password_key,
            metrics_password_key=metrics_password_key,
            clone_password_key=clone_password_key,
            replication_user=replication_user,
            clone_user=clone_user,
        )

    @classmethod
    def from_passwords(
        cls,
        *,
        root_password: str,
        replication_password: str,
        metrics_password: str | None = None,
        clone_password: str | None = None,
        secret_name: str = "mysql-credentials",
        replication_user: str = "repl",
        clone_user: str = "clone",
    ) -> "MySQLCredentials":
        """A Secret (``mysql-credentials`` by default) built from these passwords at synth time.

        Each password must be 8-256 printable characters without white space, and all must
        differ; the engine may allow less for replication (``MySQLConfig`` checks: 32
        characters). ``metrics_password`` is needed only with metrics enabled, and
        ``clone_password`` only by the engines that clone with MySQL's CLONE plugin (MySQL 8.4
        and 9.7); both default to none.
        """
        _check_passwords(root_password, replication_password, metrics_password, clone_password)
        return cls(
            secret_name=secret_name,
            replication_user=replication_user,
            clone_user=clone_user,
            root_password=root_password,
            replication_password=replication_password,
            metrics_password=metrics_password,
            clone_password=clone_password,
        )

    @property
    def creates_secret(self) -> bool:
        """True when ``MySQLConfig`` must create the Secret (``from_passwords``)."""
        return self.root_password is not None


def _check_passwords(root_password: object, replication_password: object, metrics_password: object = None,
                     clone_password: object = None) -> None:
    given = [("root_password", root_password), ("replication_password", replication_password)]
    for prop, password in (("metrics_password", metrics_password), ("clone_password", clone_password)):
        if password is not None:
            given.append((prop, password))
    for prop, password in given:
        if not isinstance(password, str) or not password:
            raise ValueError(f"{prop} must be a non-empty string (at least 8 printable characters)")
        if len(password) < 8 or len(password) > 256:
            raise ValueError(f"{prop} must be 8-256 characters long, got {len(password)} characters")
        if not password.isprintable() or any(c.isspace() for c in password):
            raise ValueError(f"{prop} must be printable characters without white space or line breaks")
    if root_password == replication_password:
        raise ValueError("replication_password must differ from root_password: root never replicates")
    passwords = [password for _, password in given]
    if len(set(passwords)) != len(passwords):
        raise ValueError(f"{', '.join(prop for prop, _ in given)} must all differ: each account has its own password")
