"""Benchmarks: what users of mysql-ha pay, measured against a floor in the same run.

``python -m benchmarks`` (``--tiny`` for a smoke run, ``--write-docs`` to refresh
docs/performance.md). Every figure is a ratio of two timings taken back to back on
the same machine, because timings from different runs on these machines are not
comparable. Not part of the default test run; tests/test_benchmarks_smoke.py runs
the tiny mode so the command cannot rot.
"""

import sys
from pathlib import Path

# The pod emulator lives beside the e2e scenarios, in tests/; their client helpers in tests/e2e/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
