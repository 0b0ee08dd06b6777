"""Browser fixtures: a live server on 127.0.0.1:<free port> and Debian's headless Chromium
(``/usr/bin/chromium``, installed by ``scripts/ensure_browser.sh``) driven by Playwright.

* No pytest-django ``live_server``: it is a transactional test that flushes the database
  at teardown, wiping the session's fixture shops. The server here runs inside a test that
  uses ``live_db`` (committed data; shops whose slugs are appended are removed after).
* Hosts: Chromium resolves ``*.localhost`` to the loopback itself, so the platform is
  ``http://localhost:<port>/`` and a shop ``http://<slug>.localhost:<port>/``.
* Playwright's sync API marks an asyncio loop as running in the test's thread while a
  browser is open, so Django refuses ORM calls there: run them through ``orm()``.
* Without Chromium, Playwright or a CJK font (Chinese drawn as boxes) the tests are
  skipped, and fail under ``CI=true``.
* Screenshots go to a temporary directory (``BROWSER_SCREENSHOTS=<dir>`` to keep them).
* Billing pages run against localstripe: ``stripe_on`` (from ``tests/billing/conftest.py``)
  configures Stripe in-process, so the live server's threads see it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from django.conf import settings
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import connections

# The fake Stripe (localstripe) and its settings, for the billing pages in the browser.
from tests.billing.conftest import localstripe_url, stripe_on, webhook_sink  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A phone (iPhone 12-15 size): what most merchants open the signup page on.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
T = TypeVar("T")
# Draws each distinct Han character of an element's text in the element's font on a canvas
# and counts the different images: with no CJK font every one is the same "tofu" box.
_HAN_GLYPHS = """(selector) => {
  const element = document.querySelector(selector);
  const family = getComputedStyle(element).fontFamily;
  const chars = [...new Set([...element.textContent].filter((c) => /\\p{Script=Han}/u.test(c)))];
  const draw = (c) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 64;
    const context = canvas.getContext("2d");
    context.font = `48px ${family}`;
    context.fillText(c, 4, 52);
    return canvas.toDataURL();
  };
  return { chars: chars.length, distinct: new Set(chars.map(draw)).size };
}"""


def unavailable(reason: str) -> None:
    """The browser tests cannot run here: a failure under CI=true, a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; see scripts/ensure_browser.sh)", pytrace=False)
    pytest.skip(reason)


def orm(func: Callable[[], T]) -> T:
    """Run ``func`` (database access) in a worker thread: the test's own thread has
    Playwright's event loop marked as running, where Django refuses synchronous ORM calls."""

    def run() -> T:
        try:
            return func()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def chinese_renders(page: Page, selector: str) -> bool:
    """Whether the Chinese text of ``selector`` is drawn as real glyphs, not boxes."""
    result = page.evaluate(_HAN_GLYPHS, selector)
    return bool(result["chars"] >= 2 and result["distinct"] == result["chars"])


class _RequestHandler(WSGIRequestHandler):
    timeout = 30  # an idle keep-alive connection ends its thread (and DB connection) at the latest then

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadedWSGIServer):
    # Request threads are joined on server_close(): each closes its database connections
    # when its client goes away, so none outlives the test (and the test database).
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # client gone, idle keep-alive timed out
            return
        super().handle_error(request, client_address)


class LiveSite:
    """The project's WSGI application served on 127.0.0.1:<free port> by a thread."""

    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _RequestHandler, allow_reuse_address=False)
        self.server.set_app(get_wsgi_application())
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-site", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def url(self, path: str = "/", shop: str | None = None, host: str | None = None) -> str:
        """``http://localhost:<port><path>``; of a shop's host with ``shop=<slug>``, or of any
        host (``host="nosuch.localhost"``)."""
        domain = settings.PLATFORM_DOMAIN
        hostname = host or (f"{shop}.{domain}" if shop else domain)
        return f"http://{hostname}:{self.port}{path}"


@pytest.fixture
def chromium() -> str:
    """The Chromium binary, Playwright importable; else skip (fail under CI=true)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("Playwright is not installed (pip install playwright; see requirements/test.txt)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        hint = "run scripts/ensure_browser.sh as root" if shutil.which("apt-get") else "install Chromium"
        unavailable(f"no browser at {CHROMIUM}: {hint}")
    return CHROMIUM


@pytest.fixture
def live_site(live_db: list[str], settings: Any) -> Iterator[LiveSite]:
    """A live server on committed data; links the app builds to shops carry its port."""
    site = LiveSite()
    settings.PLATFORM_URL_SCHEME = "http"
    settings.PLATFORM_URL_PORT = str(site.port)
    site.start()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    keep = os.environ.get("BROWSER_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def phone(chromium: str, live_site: LiveSite) -> Iterator[Page]:
    """A page in headless Chromium at phone size (390x844, touch, zh-CN).

    Closed before the live server stops and before ``live_db`` cleans up. JavaScript errors
    on any page fail the test."""
    from playwright.sync_api import sync_playwright

    args = list(CHROMIUM_ARGS)
    domain = settings.PLATFORM_DOMAIN
    if domain != "localhost" and not domain.endswith(".localhost"):
        args.append(f"--host-resolver-rules=MAP {domain} 127.0.0.1,MAP *.{domain} 127.0.0.1")
    page_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            context = browser.new_context(**PHONE)
            context.set_default_timeout(15_000)
            context.on("page", lambda page: page.on("pageerror", lambda exc: page_errors.append(str(exc))))
            page = context.new_page()
            page.set_content('<p id="probe" style="font-family:sans-serif">小鹿茶铺</p>')
            if not chinese_renders(page, "#probe"):
                unavailable("no CJK font: Chinese renders as boxes (run scripts/ensure_browser.sh as root)")
            yield page
            context.close()
        finally:
            browser.close()
    assert not page_errors, f"JavaScript errors: {page_errors}"


@pytest.fixture
def shot(phone: Page, screenshots: Path, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``shot("name")`` saves a full-page screenshot of the phone's page (or ``page=``)."""
    prefix = re.sub(r"\W+", "-", request.node.name).strip("-")[:60]

    def take(name: str, page: Page | None = None) -> Path:
        path = screenshots / f"{prefix}--{name}.png"
        (page or phone).screenshot(path=str(path), full_page=True)
        return path

    return take
