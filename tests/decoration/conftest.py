"""The browser fixtures (headless Chromium, a live server on committed data) for the editor test."""

from tests.browser.conftest import chromium, live_site, screenshots  # noqa: F401
