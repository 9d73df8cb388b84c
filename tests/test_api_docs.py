"""`pipenv run python tools/api_docs.py` builds the API reference (pdoc) from the docstrings,
quietly, with every public name of the package and each construct's documented props."""

from __future__ import annotations

import html
import inspect
import re
import subprocess
import sys

import pytest
from synth_helpers import REPO

import mysql_ha


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    output = tmp_path_factory.mktemp("api")
    result = subprocess.run([sys.executable, "tools/api_docs.py", str(output)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    page = output / "mysql_ha.html"
    assert (output / "index.html").exists() and page.exists()
    return page.read_text()


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_every_public_name_is_documented(reference):
    for name in mysql_ha.__all__:
        assert f'id="{name}"' in reference, name


def test_docstrings_and_props_are_rendered(reference):
    text = _text(reference)
    for construct in (mysql_ha.LocalStorage, mysql_ha.MySQLConfig, mysql_ha.ReadWriteServices,
                      mysql_ha.ReplicatedMySQL, mysql_ha.MySQLHAChart):
        first_line = " ".join(inspect.getdoc(construct).split("\n\n")[0].split())
        assert first_line in text, construct.__name__
        for prop in inspect.signature(construct.__init__).parameters:
            if prop not in ("self", "scope", "id"):
                assert re.search(rf"\b{prop}\b", text), f"{construct.__name__}({prop}=...) is not in the reference"
