"""Builds the API reference of mysql_ha from its docstrings into docs/api/ (pdoc).

    pipenv run python tools/api_docs.py [OUTPUT_FOLDER]      # then open docs/api/index.html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Importing mysql_ha starts jsii: on the LTS Node that `npm ci` installs, as main.py does.
_LOCKED_NODE = REPO / "node_modules" / ".bin" / "node"
if _LOCKED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(_LOCKED_NODE))

import pdoc  # noqa: E402
import pdoc.render  # noqa: E402

# Imported here, not by pdoc: pdoc forbids subprocesses while it imports, and jsii is one.
import mysql_ha  # noqa: E402, F401


def build(output: Path) -> Path:
    """Writes the reference into ``output`` and returns the path of its index page."""
    pdoc.render.configure(docformat="restructuredtext", footer_text="mysql-ha", search=True, show_source=False)
    pdoc.pdoc("mysql_ha", output_directory=output)
    return output / "index.html"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "api"
    print(f"wrote {build(target)}")
