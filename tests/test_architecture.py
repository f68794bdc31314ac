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


EMAIL_FIXTURES = ROOT / "tests" / "fixtures" / "email"


def test_every_registered_source_has_fixtures():
    from integrations.intake.sources import SOURCES

    # Lead emails have theirs per parser, below (DESIGN.md: fixtures/email/<vendor>__<variant>.eml).
    missing = [
        key for key in SOURCES if key != "email" and not any((FIXTURES / key).glob("*__*.*"))
    ]
    assert missing == []


def test_every_email_parser_has_fixtures_named_by_a_test():
    from integrations.intake.sources.email.parsers import PARSERS

    missing = [key for key in PARSERS if not any(EMAIL_FIXTURES.glob(f"{key}__*.eml"))]
    assert missing == []
    pattern = re.compile(r"^[a-z0-9_]+__[a-z0-9_]+\.eml$")
    bad = [p.name for p in EMAIL_FIXTURES.iterdir() if not pattern.match(p.name)]
    assert bad == []
    test_text = "\n".join(p.read_text() for p in SOURCE_TESTS.rglob("test_*.py"))
    unused = [p.name for p in sorted(EMAIL_FIXTURES.iterdir()) if p.name not in test_text]
    assert unused == []


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
