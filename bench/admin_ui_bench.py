"""The admin UI's records screen with 10,000 rows in the model (issue 19): time from navigating to
`/_/models/Contact` until the first page of the table is painted, in headless Chromium (Debian `chromium`,
driven by Playwright), median of several loads; plus the UI's bundle size. One Atomo server (bundled sample)
prefilled with 10,000 contacts. Reports numbers; asserts nothing.

Usage: python bench/admin_ui_bench.py [--rows 10000] [--loads 7]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from atomo_peer import ADMIN_EMAIL, ADMIN_PASSWORD, REPO, AtomoPeer  # noqa: E402

ASSETS = REPO / "atomo" / "http" / "static" / "admin"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def bundle() -> tuple[int, int]:
    files = [p for p in ASSETS.iterdir() if p.is_file()]
    return sum(p.stat().st_size for p in files), sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=7)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    raw, packed = bundle()
    peer = AtomoPeer()
    try:
        peer.start()
        peer.login()
        peer.prefill(args.rows - peer.count())
        print(f"atomo {peer.code_version()}: {peer.count()} contacts; admin UI {raw:,} bytes ({packed:,} gzip)")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(peer.base_url + "/_/")
            page.fill("#login input[name=email]", ADMIN_EMAIL)
            page.fill("#login input[name=password]", ADMIN_PASSWORD)
            page.click("#login button[type=submit]")
            page.wait_for_selector("a[href$='/models/Contact']")
            times, fcp = [], []
            for _ in range(args.loads):
                page.goto(peer.base_url + "/_/models/Contact", wait_until="commit")
                page.wait_for_selector("#records tbody tr")
                # the next animation frame after the rows exist: they have been painted
                times.append(page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                                           "requestAnimationFrame(() => r(performance.now()))))"))
                fcp.append(page.evaluate("() => (performance.getEntriesByName('first-contentful-paint')[0] || "
                                         "{startTime: 0}).startTime"))
                rows = page.eval_on_selector_all("#records tbody tr", "rows => rows.length")
            info = page.text_content("#page-info")
            browser.close()
        print(f"records screen, {rows} rows shown ({info}): first paint of the table "
              f"median {statistics.median(times):.0f} ms (min {min(times):.0f}, max {max(times):.0f}) over "
              f"{args.loads} loads; first contentful paint of the page median {statistics.median(fcp):.0f} ms")
    finally:
        peer.close()


if __name__ == "__main__":
    main()
