"""Synthesizes the example cluster into dist/ (or $CDK8S_OUTDIR when run by `cdk8s synth`), with
the Kustomization that makes the folder a kustomize base.

Environment (all optional; the committed dist/ uses none of them):
  MYSQL_HA_ENGINE         mysql-8.4 (default), mysql-9.7, mysql-5.7 or mariadb-11.4
  MYSQL_HA_ROOT_PASSWORD, MYSQL_HA_ADMIN_PASSWORD, MYSQL_HA_STATUS_PASSWORD,
  MYSQL_HA_REPLICATION_PASSWORD, MYSQL_HA_CLONE_PASSWORD
                          build the Secret from these passwords (all five, or none); the
                          output then holds them, so keep it out of version control. Without
                          them the pods read the existing Secret "mysql-credentials" (keys
                          root-password, admin-password, status-password, replication-password
                          and clone-password).
"""

from __future__ import annotations

import os
from pathlib import Path

# jsii runs cdk8s on Node.js. `npm ci` installs a supported LTS Node from package-lock.json into
# node_modules/; use it rather than whatever `node` is first on PATH. A JSII_NODE set by the
# caller wins.
_LOCKED_NODE = Path(__file__).resolve().parent / "node_modules" / ".bin" / "node"
if _LOCKED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_LOCKED_NODE))

import cdk8s  # noqa: E402

from mysql_ha import MySQLCredentials, MySQLHAChart, engine_by_name, write_kustomization  # noqa: E402


PASSWORD_VARIABLES = {account: f"MYSQL_HA_{account.upper()}_PASSWORD"
                      for account in ("root", "admin", "status", "replication", "clone")}


def credentials_from(environ: os._Environ[str] | dict[str, str]) -> MySQLCredentials:
    given = {account: environ.get(variable) for account, variable in PASSWORD_VARIABLES.items()}
    if all(value is None for value in given.values()):
        return MySQLCredentials.from_existing_secret("mysql-credentials")
    missing = [PASSWORD_VARIABLES[account] for account, value in given.items() if value is None]
    if missing:
        raise SystemExit(f"set all of {', '.join(PASSWORD_VARIABLES.values())}, or none; missing: {', '.join(missing)}")
    return MySQLCredentials.from_passwords(**{f"{account}_password": value for account, value in given.items()})


def main() -> None:
    try:
        engine = engine_by_name(os.environ.get("MYSQL_HA_ENGINE", "mysql-8.4"))
        credentials = credentials_from(os.environ)
        app = cdk8s.App()
        MySQLHAChart(app, "mysql-ha", engine=engine, credentials=credentials)
    except ValueError as error:
        raise SystemExit(f"mysql-ha: {error}") from None
    app.synth()
    write_kustomization(app)


if __name__ == "__main__":
    main()
