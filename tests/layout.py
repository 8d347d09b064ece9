"""Where things are, for every test wherever it sits (tests/ is on sys.path via conftest)."""
from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent                       # the repository
PACKAGE = ROOT / "labkit"
CASES = TESTS / "cases"                   # build scenarios (tests/cases/README.md)
CORPUS = TESTS / "corpus"                 # inputs that once broke something
FIXTURES = TESTS / "fixtures"             # notebooks and submissions the tests drive
ORACLES = TESTS / "oracles"               # the frozen first tar reader lives here
