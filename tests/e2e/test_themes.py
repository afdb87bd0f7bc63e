"""Night and sunlight (issue 15, item 3) on a 360×740 phone: the pages a worker uses in the
street (today, the contact form, the evaluation dashboard) in the dark theme and with
`prefers-contrast: more`, light and dark. Screenshots in tests/e2e/screenshots/theme-*.png;
every visible text is measured against the background it is painted on (computed styles,
WCAG formula), and axe-core runs too when the accessibility helpers are there.
"""

from __future__ import annotations

import pytest

from . import conftest
from .conftest import shot
from .test_conflicts import new_contact
from .test_offline import ready_for_offline, sign_in

PAGES = {"today": "/today", "contact": "/contacts/new", "dashboard": "/evaluation"}
MODES = [("light", "no-preference"), ("dark", "no-preference"), ("light", "more"),
         ("dark", "more")]

# Every element with text of its own, visible: its colour against the first opaque
# background under it (translucent ones blended), with the WCAG threshold of its size.
# Returns the failures, and the body's and the primary button's colours.
MEASURE = r"""() => {
  const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = ([r, g, b]) => { const f = v => { v /= 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => { const [h, l] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (h + 0.05) / (l + 0.05); };
  const blend = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3]));
  const background = el => { const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let colour = [255, 255, 255];
    for (const layer of layers.reverse()) colour = blend(layer, colour);
    return colour; };
  const failures = [];
  for (const el of document.querySelectorAll("body *")) {
    if (!["SCRIPT", "STYLE", "svg", "OPTION"].every(t => el.tagName !== t)) continue;
    if (el.closest("svg, [hidden]")) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!own || !box.width || !box.height || style.visibility === "hidden") continue;
    let opacity = 1;
    for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
    if (opacity < 0.1) continue;
    const bg = background(el);
    const fg = blend([...parse(style.color).slice(0, 3), parse(style.color)[3] * opacity], bg);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const got = ratio(fg, bg);
    if (got < need) failures.push({text: el.textContent.trim().slice(0, 40), tag: el.tagName,
      cls: el.className && String(el.className), ratio: Math.round(got * 100) / 100, need});
  }
  const primary = document.querySelector("main .button.primary, main button.primary, .tab-primary");
  const ps = primary && getComputedStyle(primary);
  return {failures, body: getComputedStyle(document.body).backgroundColor,
          primary: ps && {color: ps.color, background: ps.backgroundColor,
                          ratio: ratio(parse(ps.color), background(primary))}};
}"""


def _dark(colour: str) -> bool:
    r, g, b = (float(v) for v in colour[colour.index("(") + 1:].rstrip(")").split(",")[:3])
    return max(r, g, b) < 60


@pytest.fixture
def worker(phone):
    sign_in(phone, "/today")
    for n in range(6):  # enough for the dashboard to draw bars (below 5: suppressed)
        new_contact(phone, themes=["logement", "expulsion"] if n % 2 else ["logement"])
    return phone


def test_street_pages_read_in_every_theme(worker):
    page, problems = worker, []
    axe = getattr(conftest, "axe_violations", None)  # tests/e2e/conftest.py (item 2)
    for scheme, contrast in MODES:
        page.emulate_media(color_scheme=scheme, contrast=contrast)
        for name, path in PAGES.items():
            page.goto(f"{page.base}{path}")
            page.wait_for_load_state()
            if name == "contact":  # a chosen chip and a focused field in the picture
                page.locator("label.chip").first.click()
                page.locator("main textarea, main input[type=text]").first.focus()
            shot(page, f"theme-{scheme}-{contrast}-{name}")
            found = page.evaluate(MEASURE)
            assert _dark(found["body"]) == (scheme == "dark"), (scheme, contrast, name)
            assert found["primary"] and found["primary"]["ratio"] >= 4.5, (name, found)
            problems += [{**f, "page": name, "mode": f"{scheme}/{contrast}"}
                         for f in found["failures"]]
            if axe is not None:
                problems += [{**v, "mode": f"{scheme}/{contrast}"} for v in axe(page)]
    assert problems == []


def test_the_choice_beats_the_phone_and_comes_from_the_server(worker):
    page = worker
    page.emulate_media(color_scheme="light")
    page.goto(f"{page.base}/account")
    page.click("button[name=theme][value=dark]")
    page.wait_for_url("**/account")
    assert page.get_attribute("html", "data-theme") == "dark"
    assert _dark(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert page.get_attribute("button[name=theme][value=dark]", "aria-pressed") == "true"
    # The attribute is in the HTML the server sent: no script, no flash of light.
    html = page.request.get(f"{page.base}/today").text()
    assert '<html lang="fr" data-theme="dark">' in html
    shot(page, "theme-chosen-dark-account")

    page.emulate_media(color_scheme="dark")
    page.click("button[name=theme][value=light]")
    page.wait_for_url("**/account")
    assert not _dark(page.evaluate("getComputedStyle(document.body).backgroundColor"))

    page.click("button[name=theme][value=auto]")
    page.wait_for_url("**/account")
    assert page.get_attribute("html", "data-theme") is None
    assert _dark(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_the_offline_page_follows_the_phone(phone):
    for scheme in ("dark", "light"):
        phone.emulate_media(color_scheme=scheme)
        phone.goto(f"{phone.base}/offline")
        body = phone.evaluate("getComputedStyle(document.body).backgroundColor")
        assert _dark(body) == (scheme == "dark")
    shot(phone, "theme-offline-light")


def test_the_qr_code_stays_dark_on_light(worker):
    page = worker
    page.emulate_media(color_scheme="dark")
    page.goto(f"{page.base}/account/two-factor")
    page.click("main form button.primary[type=submit]")  # start the enrolment: the QR code
    page.wait_for_selector(".qr-box svg")
    background = page.evaluate(
        "getComputedStyle(document.querySelector('.qr-box')).backgroundColor")
    assert background == "rgb(255, 255, 255)"
    shot(page, "theme-dark-two-factor")


def test_signed_out_the_footer_offers_the_choice(phone):
    phone.emulate_media(color_scheme="light")
    phone.goto(f"{phone.base}/login")
    switch = phone.locator("form.theme-switch button")
    assert switch.count() == 3
    box = phone.locator("footer").bounding_box()
    assert box["width"] <= 360  # fits the phone, nothing scrolls sideways
    phone.locator("form.theme-switch button[value=dark]").click()
    phone.wait_for_url("**/login")
    assert phone.get_attribute("html", "data-theme") == "dark"
    assert phone.get_attribute("form.theme-switch button[value=dark]", "aria-current") == "true"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shot(phone, "theme-signed-out-login-dark")


def test_forced_colours_keep_the_chosen_chip_and_the_current_tab(worker):
    """Windows-like contrast themes paint with the system's colours: what colour alone said
    (a chosen chip, the page's tab) must still show."""
    page = worker
    page.emulate_media(forced_colors="active", color_scheme="dark")
    page.goto(f"{page.base}/contacts/new")
    chips = page.locator("fieldset.chips label.chip")
    chips.first.click()
    chosen, other = (chips.nth(i).locator("span").evaluate(
        "el => getComputedStyle(el).backgroundColor") for i in (0, 1))
    assert chosen != other
    assert chips.first.locator("span").evaluate(
        "el => getComputedStyle(el, '::before').content") == '"✓\u00a0"'
    current = page.locator(".tabbar a[aria-current=page]")
    assert current.evaluate("el => getComputedStyle(el).textDecorationLine") == "underline"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shot(page, "theme-forced-colors-contact")


def test_without_network_the_kept_pages_still_follow_the_phone(worker):
    page = worker
    ready_for_offline(page)
    page.emulate_media(color_scheme="dark")
    page.context.set_offline(True)
    try:
        for path in ("/today", "/help-never-kept"):  # a kept page, then the offline page
            page.goto(f"{page.base}{path}")
            body = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert _dark(body), path
    finally:
        page.context.set_offline(False)
