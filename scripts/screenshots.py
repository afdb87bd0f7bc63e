"""Screenshots of the main screens at phone size (360 × 740), to look at what we build.

Usage: python scripts/screenshots.py [BASE_URL] [OUT_DIR]
Needs a running demo (`make run`) and the system Chromium (/usr/bin/chromium): Playwright
cannot download a browser here, so it is given the executable path.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "screenshots")
PASSWORD = "relais-demo-2026"  # noqa: S105 (the published demo accounts of `make run`)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def sign_in(page, email: str) -> None:
    page.goto(f"{BASE}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def conflict_and_history(browser) -> None:
    """Two workers of one team edit the same contact: the second one's comparison screen
    (the same field changed on both sides), then the contact's history."""
    def phone(email):
        page = browser.new_context(viewport={"width": 360, "height": 740},
                                   device_scale_factor=2, locale="fr-BE").new_page()
        sign_in(page, email)
        return page

    amina, yannick = phone("terrain@relais.demo"), phone("binome@relais.demo")
    yannick.goto(f"{BASE}/contacts?neighbourhood=colignon")
    yannick.click(".rows a.row >> nth=0")
    yannick.wait_for_load_state()
    contact = yannick.url
    amina.goto(f"{contact}/edit")  # Amina opens the form first…
    yannick.goto(f"{contact}/edit")  # …Yannick too, and saves before her
    count = int(yannick.input_value("#people_count"))  # both change it, to other values
    yannick.fill("#people_count", str(count + 2))
    yannick.fill("#note", yannick.input_value("#note") + "\nRappeler jeudi (CPAS).")
    yannick.click(".actionbar button[type=submit]")
    yannick.wait_for_load_state()
    amina.fill("#people_count", str(count + 1))
    amina.fill("#note", f"Orientée vers le CPAS ({count + 1} personnes).")
    amina.click(".actionbar button[type=submit]")
    amina.wait_for_load_state()
    amina.bring_to_front()  # two phones in one browser: capture the one in front
    amina.wait_for_function("document.activeElement.classList.contains('conflict')")
    amina.wait_for_timeout(300)
    amina.screenshot(path=OUT / "14-conflict.png")
    amina.screenshot(path=OUT / "15-conflict-full.png", full_page=True)
    amina.check("input[name=choice__people_count][value=yours]")
    amina.check("input[name=choice__note][value=both]")
    amina.click(".conflict button[type=submit]")
    amina.wait_for_load_state()
    amina.click(".versions-history > summary")
    amina.locator(".versions-history").scroll_into_view_if_needed()
    amina.screenshot(path=OUT / "16-contact-history.png", full_page=True)


def team_pages(browser) -> None:
    """What a team runs by itself (issue 13): the admin's pages, a coordinator's team, and
    one's own account."""
    for email, pages in (
            ("admin@relais.demo", (("20-admin", "/admin"), ("21-users", "/users"),
                                   ("22-user-new", "/users/new"),
                                   ("23-neighbourhoods", "/admin/neighbourhoods"),
                                   ("24-vocabularies", "/admin/vocabularies"),
                                   ("25-vocabulary-theme", "/admin/vocabularies/theme"),
                                   ("26-audit", "/admin/audit"))),
            ("coordination@relais.demo", (("27-team", "/users"),
                                          ("28-account", "/account"),
                                          ("29-password", "/account/password"),
                                          ("30-two-factor", "/account/two-factor")))):
        page = browser.new_context(viewport={"width": 360, "height": 740},
                                   device_scale_factor=2, locale="fr-BE").new_page()
        sign_in(page, email)
        for name, path in pages:
            page.goto(f"{BASE}{path}")
            page.screenshot(path=OUT / f"{name}.png", full_page=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 740},
                                      device_scale_factor=2, locale="fr-BE")
        page = context.new_page()
        page.goto(f"{BASE}/login")
        page.screenshot(path=OUT / "01-login.png")
        sign_in(page, "terrain@relais.demo")
        page.screenshot(path=OUT / "02-today.png", full_page=True)
        page.goto(f"{BASE}/contacts/new")
        page.screenshot(path=OUT / "03-contact-form.png")
        page.screenshot(path=OUT / "04-contact-form-full.png", full_page=True)
        page.goto(f"{BASE}/contacts")
        page.screenshot(path=OUT / "05-contacts.png")
        page.click(".rows a.row >> nth=0")
        page.wait_for_load_state()
        page.screenshot(path=OUT / "06-contact.png", full_page=True)
        for name, path in (("08-referrals", "/referrals"), ("09-follow-ups", "/bridges"),
                           ("10-directory", "/directory"),
                           ("11-collective-actions", "/collective-actions"),
                           ("12-worker-dashboard", "/evaluation")):
            page.goto(f"{BASE}{path}")
            page.screenshot(path=OUT / f"{name}.png", full_page=True)
        for number, email in (("07-coordination", "coordination@relais.demo"),
                              ("13-partner", "partenaire@relais.demo")):
            other = browser.new_context(viewport={"width": 360, "height": 740},
                                        device_scale_factor=2).new_page()
            sign_in(other, email)
            other.screenshot(path=OUT / f"{number}.png", full_page=True)
        conflict_and_history(browser)
        team_pages(browser)
        browser.close()
    print(f"screenshots in {OUT}/")


if __name__ == "__main__":
    main()
