"""The rules of the layout that DESIGN.md states, checked on the source itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "sources"
SOURCE_TESTS = ROOT / "tests" / "integrations"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_leads_never_imports_integrations():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "leads").rglob("*.py")
        if any(m == "integrations" or m.startswith("integrations.") for m in imported_modules(path))
    ]
    assert offenders == []


def test_every_registered_source_has_fixtures():
    from integrations.intake.sources import SOURCES

    missing = [key for key in SOURCES if not any((FIXTURES / key).glob("*__*.*"))]
    assert missing == []


def test_every_fixture_is_named_by_a_test():
    test_text = "\n".join(p.read_text() for p in SOURCE_TESTS.rglob("test_*.py"))
    unused = [
        str(path.relative_to(FIXTURES))
        for path in sorted(FIXTURES.glob("*/*"))
        if path.is_file() and path.name not in test_text
    ]
    assert unused == []


def test_fixture_names_follow_event_double_underscore_variant():
    pattern = re.compile(r"^[a-z0-9_]+__[a-z0-9_]+\.(json|txt)$")
    bad = [p.name for p in FIXTURES.glob("*/*") if p.is_file() and not pattern.match(p.name)]
    assert bad == []
