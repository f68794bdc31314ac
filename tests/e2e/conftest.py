"""Browser tests: Playwright for Python driving Debian's Chromium (``apt-get install chromium``).

No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``CHROMIUM`` overrides).
Outside CI a missing Chromium skips these tests; under CI=true it fails them.

Every page any test opens is watched for Content-Security-Policy violations (Chromium reports
each one in the console): a test that met one fails.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator

import pytest
from django.utils import timezone

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Package scope: Playwright's sync API runs an event loop on this thread while the browser is
# open, and the suite's other tests (run after these: pytest-django orders tests without a
# database last) call asyncio.run(), which refuses to start inside a running loop.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but Chromium is not installed at {CHROMIUM}")
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; Django's ORM calls in the test
    # body are still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture(autouse=True)
def csp_violations(request: pytest.FixtureRequest, monkeypatch) -> Iterator[list[str]]:
    """The CSP violations the pages of this test's browser contexts reported; none at the end."""
    violations: list[str] = []
    if "browser" not in request.fixturenames:
        yield violations
        return
    browser = request.getfixturevalue("browser")
    new_context = browser.new_context

    def watched_context(*args, **kwargs):
        context = new_context(*args, **kwargs)

        def on_console(message) -> None:
            if "Content Security Policy" in message.text:
                violations.append(f"{message.page.url if message.page else ''}: {message.text}")

        context.on("console", on_console)
        return context

    monkeypatch.setattr(browser, "new_context", watched_context)
    yield violations
    assert violations == [], "\n".join(violations)


@pytest.fixture
def phone(browser):
    """A phone-sized page (iPhone 13-ish viewport, touch)."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    """A desktop-sized page (a laptop's window)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def clock(monkeypatch):
    """The server's clock, moved on by ``clock(days=1)`` (every ``timezone.now()`` of the app,
    the live server's thread included)."""
    real_now = timezone.now
    offset = [dt.timedelta(0)]
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset[0])

    def move(**delta: float) -> dt.datetime:
        offset[0] = dt.timedelta(**delta)
        return timezone.now()

    move.real_now = real_now  # type: ignore[attr-defined]
    return move


@pytest.fixture
def axe():
    """``axe(page)``: axe-core finds no serious or critical violation on the page as it is."""
    return assert_accessible


def assert_accessible(page) -> None:
    """axe-core (bundled by axe-playwright-python) finds no serious or critical violation on
    the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    report = [
        f"{v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in serious
    ]
    assert not serious, f"{page.url}\n" + "\n".join(report)
