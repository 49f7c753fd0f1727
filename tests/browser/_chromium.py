"""How the browser tests and the widget benchmark launch Debian's Chromium (BROWSER-TESTING.md)."""

import os

CHROMIUM = os.environ.get("COCALC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
