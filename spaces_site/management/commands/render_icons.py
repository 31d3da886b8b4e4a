"""Render the app's PNG icons from static/icons/app.svg and badge.svg with Debian's headless Chromium.

Run once after changing an SVG, and commit the PNGs: phones want PNGs in the web app manifest, the home
screen (apple-touch-icon) and notifications, and the site serves them as plain static files.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

CHROMIUM = Path("/usr/bin/chromium")
ICONS = Path(settings.BASE_DIR) / "static" / "icons"

# file name -> (source SVG, size in pixels, scale of the mark, transparent background)
RENDERS = {
    "icon-192.png": ("app.svg", 192, 1.0, False),
    "icon-512.png": ("app.svg", 512, 1.0, False),
    # A launcher may crop a maskable icon to a circle of 80% of its width: the mark shrinks to stay inside.
    "maskable-512.png": ("app.svg", 512, 0.86, False),
    "apple-touch-icon.png": ("app.svg", 180, 1.0, False),
    "badge-96.png": ("badge.svg", 96, 1.0, True),
}
BACKGROUND = "#0f1020"  # app.svg's own background, around a shrunken mark


async def _render(renders: dict[str, tuple[str, int, float, bool]]) -> list[Path]:
    from playwright.async_api import async_playwright

    written = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            for name, (source, size, scale, transparent) in renders.items():
                page = await browser.new_page(viewport={"width": size, "height": size})
                svg = (ICONS / source).read_text()
                background = "transparent" if transparent else BACKGROUND
                style = (
                    f"html,body{{margin:0;height:100%;background:{background}}}"
                    "body{display:grid;place-items:center}"
                    f"svg{{display:block;width:{scale * 100}vw;height:{scale * 100}vh}}"
                )
                await page.set_content(f"<style>{style}</style>{svg}")
                target = ICONS / name
                await page.screenshot(path=str(target), omit_background=transparent)
                await page.close()
                written.append(target)
        finally:
            await browser.close()
    return written


class Command(BaseCommand):
    help = "Render static/icons/*.png from the app's SVG icons (needs /usr/bin/chromium)."

    def handle(self, *args, **options) -> None:
        if not CHROMIUM.exists():
            raise CommandError("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
        for path in asyncio.run(_render(RENDERS)):
            self.stdout.write(f"wrote {path.relative_to(settings.BASE_DIR)}")
