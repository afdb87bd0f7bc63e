"""Accessibility, WCAG 2.2 AA (issue 15, item 2): every screen of every role, at 360×740 and
1280×800, in the light and the dark colour scheme and with `prefers-contrast: more`, checked
by axe-core; no page wider than a 360 px phone, even at 200 % text size.

The pages are the demo's (app/demo.py, a smaller sample), on a server of this module's own so
that its hundred contacts never reach the other browser tests' team. One browser context per
role and size visits the whole list; the colour schemes are switched on the loaded page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from app.demo import DEMO_PASSWORD, load_demo
from app.extensions import db
from app.models import Bridge, Contact, Indicator, Objective, Organisation, Referral, User

from .conftest import axe_violations, make_app, serve_axe, serving, shot

FIELD = "terrain@relais.demo"
COORDINATOR = "coordination@relais.demo"
PARTNER = "partenaire@relais.demo"
ADMIN = "admin@relais.demo"
SIZES = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 800}}
# (colour scheme, contrast): the phone's night setting, and the sunlight's "more contrast".
SCHEMES = [("light", "no-preference"), ("dark", "no-preference"), ("light", "more"),
           ("dark", "more")]


@dataclass
class DemoServer:
    url: str
    pages: dict[str, list[str]] = field(default_factory=dict)


def _first(statement):
    return db.session.scalars(statement.limit(1)).first()


@pytest.fixture(scope="module")
def demo_server():
    app, folder = make_app("a11y")
    with app.app_context():
        load_demo(contact_count=120)
        worker = db.session.scalar(select(User).where(User.email == FIELD))
        contact = _first(select(Contact).where(Contact.author_id == worker.id)
                         .order_by(Contact.occurred_at.desc()))
        referral = _first(select(Referral).where(Referral.created_by_id == worker.id)
                          .order_by(Referral.created_at.desc()))
        partner = db.session.scalar(select(User).where(User.email == PARTNER))
        partner_referral = _first(select(Referral).where(
            Referral.organisation_id == partner.organisation_id,
            Referral.status != "proposed"))
        bridge = _first(select(Bridge).where(Bridge.lead_id == worker.id))
        objective = _first(select(Objective).order_by(Objective.id))
        indicator = _first(select(Indicator).order_by(Indicator.id))
        organisation = _first(select(Organisation).order_by(Organisation.id))
        assert None not in (contact, referral, partner_referral, bridge, objective, indicator)
        pages = {
            "field": [
                "/today", "/contacts/new", "/contacts", f"/contacts/{contact.id}",
                f"/contacts/{contact.id}/edit", "/referrals", f"/referrals/{referral.id}",
                f"/contacts/{contact.id}/refer", "/bridges", f"/bridges/{bridge.id}",
                "/collective-actions", "/collective-actions/new", "/evaluation", "/account",
                "/people", "/directory", f"/directory/{organisation.id}",
            ],
            "coordinator": [
                "/evaluation", "/evaluation/indicators",
                f"/evaluation/objectives/{objective.id}/edit", "/evaluation/indicators/new",
                f"/evaluation/indicators/{indicator.id}/edit", "/evaluation/print", "/users",
                "/users/new", "/account",
            ],
            "partner": ["/partner", f"/referrals/{partner_referral.id}", "/account"],
            "admin": [
                "/admin", "/users", f"/users/{worker.id}/edit", "/admin/neighbourhoods",
                "/admin/neighbourhoods/colignon/edit", "/admin/vocabularies",
                "/admin/vocabularies/theme", "/admin/vocabularies/theme/new", "/admin/audit",
                "/admin/directory", f"/admin/directory/{organisation.id}/edit", "/account",
            ],
            "anonymous": ["/login", "/offline"],
        }
        db.session.remove()
    serve_axe(app)
    with serving(app, folder) as url:
        yield DemoServer(url, pages)


ACCOUNTS = {"field": FIELD, "coordinator": COORDINATOR, "partner": PARTNER, "admin": ADMIN,
            "anonymous": None}


def _browser_page(chromium, demo_server, role: str, size: str):
    viewport = SIZES[size]
    phone = size == "phone"
    context = chromium.new_context(viewport=viewport, device_scale_factor=2 if phone else 1,
                                   is_mobile=phone, has_touch=phone, locale="fr-BE",
                                   timezone_id="Europe/Brussels", service_workers="block")
    context.set_default_timeout(30000)
    page = context.new_page()
    email = ACCOUNTS[role]
    if email:
        page.goto(f"{demo_server.url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
    return context, page


OPEN_DETAILS_JS = "() => document.querySelectorAll('details').forEach(d => { d.open = true; })"


def _format(problems) -> str:
    return "\n".join(f"{p['page']} [{p['scheme']}] {p['id']} ({p['impact']}): {p['help']}\n"
                     f"    {p['targets']}" for p in problems)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_axe_finds_nothing_serious_on_any_screen(chromium, demo_server, role, size):
    context, page = _browser_page(chromium, demo_server, role, size)
    problems = []
    try:
        for path in demo_server.pages[role]:
            answer = page.goto(demo_server.url + path)
            assert answer.ok, f"{path} answered {answer.status}"
            page.evaluate(OPEN_DETAILS_JS)  # what is folded is checked too
            # Both themes at both sizes (a wide screen shows parts a phone folds away); the
            # "more contrast" readings, for the street in full sun, at the phone's size.
            for index, (scheme, contrast) in enumerate(SCHEMES if size == "phone" else SCHEMES[:2]):
                page.emulate_media(color_scheme=scheme, contrast=contrast)
                # Every rule once; in the other schemes only what a scheme changes: colours.
                rules = ["color-contrast", "link-in-text-block"] if index else None
                for problem in axe_violations(page, rules=rules):
                    problems.append({**problem, "scheme": f"{scheme}/{contrast}"})
            page.emulate_media(color_scheme="light", contrast="no-preference")
    finally:
        context.close()
    assert not problems, f"axe-core, {role} at {size}:\n{_format(problems)}"


# The printable evaluation is an A4 document (its layout is issue 15's item 4), not a phone
# screen: axe checks it, the width test does not.
PRINTED = {"/evaluation/print"}
WIDTH_JS = "() => document.documentElement.scrollWidth"
# What sticks out: the innermost elements whose right edge passes the viewport.
OVERFLOW_JS = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 361
          && ![...e.children].some(c => c.getBoundingClientRect().right > 361))
  .slice(0, 6).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                   + ' «' + (e.textContent || '').trim().slice(0, 30) + '»')"""
# Text at 200 %: the root size doubled (what a phone's "large text" setting does to rem-based
# CSS), the layout must reflow within the 360 px.
BIG_TEXT_JS = "() => { document.documentElement.style.fontSize = '200%'; }"


@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_no_page_is_wider_than_the_phone_even_at_200_percent_text(chromium, demo_server, role):
    context, page = _browser_page(chromium, demo_server, role, "phone")
    too_wide = []
    try:
        for path in demo_server.pages[role]:
            if path in PRINTED:
                continue
            page.goto(demo_server.url + path)
            page.evaluate(OPEN_DETAILS_JS)  # what is folded must fit too, once opened
            width = page.evaluate(WIDTH_JS)
            if width > 360:
                too_wide.append(f"{path}: {width} px at 100 %: {page.evaluate(OVERFLOW_JS)}")
            page.evaluate(BIG_TEXT_JS)
            width = page.evaluate(WIDTH_JS)
            if width > 360:
                too_wide.append(f"{path}: {width} px at 200 % text: {page.evaluate(OVERFLOW_JS)}")
                shot(page, f"a11y-too-wide-{role}-{path.strip('/').replace('/', '-')[:40]}")
    finally:
        context.close()
    assert not too_wide, "\n".join(too_wide)


# -- the keyboard alone ---------------------------------------------------------------------

FOCUS_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  // A chip's radio or checkbox is hidden under its label: the label is what one sees.
  const seen = e.closest('label.chip') ? e.closest('label.chip').querySelector('span') : e;
  const r = seen.getBoundingClientRect();
  const style = getComputedStyle(seen);
  const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  const hit = document.elementFromPoint(x, y);
  return {
    tag: e.tagName.toLowerCase(), type: e.type || '', name: e.name || '', value: e.value || '',
    text: (seen.textContent || '').trim().slice(0, 40),
    ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
    inView: r.bottom > 0 && r.top < innerHeight,
    covered: !!hit && !seen.contains(hit) && !hit.contains(seen)
             && !!hit.closest('.topbar, .tabbar, .actionbar')
             && !seen.closest('.topbar, .tabbar, .actionbar'),
  };
}"""


def _tab_until(page, wanted, limit: int = 200) -> dict:
    """Tab until the focused element answers `wanted`; every stop on the way must show a
    focus ring and not be hidden under the top or bottom bars (WCAG 2.4.7, 2.4.11)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_JS)
        assert focus, "the focus left the page"
        assert focus["ring"], f"no visible focus ring on {focus}"
        assert focus["inView"] and not focus["covered"], f"focus hidden: {focus}"
        if wanted(focus):
            return focus
    raise AssertionError(f"{limit} Tabs never reached what was wanted")


def test_a_contact_is_recorded_with_the_keyboard_alone(chromium, demo_server):
    context, page = _browser_page(chromium, demo_server, "field", "phone")
    try:
        page.goto(demo_server.url + "/contacts/new")
        # The skip link comes first and lands in the content.
        focus = _tab_until(page, lambda f: True)
        assert focus["tag"] == "a" and "contenu" in focus["text"]
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"

        _tab_until(page, lambda f: f["name"] == "themes" and f["value"] == "logement")
        page.keyboard.press("Space")
        _tab_until(page, lambda f: f["name"] == "responses" and f["value"] == "ecoute")
        page.keyboard.press("Space")
        assert page.is_checked("input[name=themes][value=logement]")
        assert page.is_checked("input[name=responses][value=ecoute]")
        shot(page, "a11y-keyboard-chip-focus")
        _tab_until(page, lambda f: f["tag"] == "button" and f["value"] == "done")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert "Enregistré" in page.inner_text("#main")
        # The message that says so is in a live region.
        assert page.locator("#main [role=status]").first.inner_text().strip()
    finally:
        context.close()


# -- touch targets --------------------------------------------------------------------------

TARGETS_JS = """() => {
  const small = [];
  const seen = new Set();
  for (const e of document.querySelectorAll(
      'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex="0"]')) {
    // A chip's input and a checkbox inside its label: the label is the target.
    const target = e.closest('label') && e.matches('input') ? e.closest('label') : e;
    if (seen.has(target)) continue;
    seen.add(target);
    const style = getComputedStyle(target);
    if (style.visibility === 'hidden' || target.closest('[hidden]')) continue;
    const r = target.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    // WCAG 2.5.8's inline exception: a link inside a sentence.
    if (target.matches('a') && style.display === 'inline') {
      const block = target.parentElement.closest('p, li, dd, td, small, span, h1, h2, h3');
      if (block && block.textContent.trim() !== target.textContent.trim()) continue;
    }
    if (r.width < 44 || r.height < 44) {
      small.push(`${target.tagName.toLowerCase()}.${target.className} «${
        (target.textContent || target.name || '').trim().slice(0, 25)}» ${
        Math.round(r.width)}×${Math.round(r.height)}`);
    }
  }
  return small;
}"""


def test_touch_targets_on_the_field_screens_are_at_least_44_px(chromium, demo_server):
    context, page = _browser_page(chromium, demo_server, "field", "phone")
    field_screens = [p for p in demo_server.pages["field"]
                     if p in ("/today", "/contacts/new", "/contacts")
                     or p.endswith("/refer") or p.startswith("/bridges/")]
    assert len(field_screens) == 5
    small = []
    try:
        for path in field_screens:
            page.goto(demo_server.url + path)
            # What is folded is a target too once opened.
            page.evaluate(OPEN_DETAILS_JS)
            small += [f"{path}: {what}" for what in page.evaluate(TARGETS_JS)]
    finally:
        context.close()
    assert not small, "targets under 44×44 px:\n" + "\n".join(small)


# -- live regions ---------------------------------------------------------------------------

def test_what_waits_saving_and_errors_are_announced(phones, live_server):
    """The queue badge sits in a polite live region whose text changes as records wait; the
    message that a record is saved is a status; form errors are an alert."""
    from .test_offline import ready_for_offline, record_contact, sign_in, wait_until_sent

    page = phones()
    sign_in(page)
    region = page.locator(".topbar [role=status]")
    assert region.get_attribute("aria-live") == "polite"
    assert region.locator("#queue-badge").count() == 1
    ready_for_offline(page)

    page.context.set_offline(True)
    record_contact(page)
    page.wait_for_function("() => document.getElementById('queue-badge').textContent === '1'")
    assert region.inner_text().strip() == "1"
    assert "attente" in page.get_attribute("#queue-badge", "aria-label")
    # "Saved on the phone" is said in a status message, and read out: the live region that
    # was in the page from the start, empty, receives its text.
    assert "sera envoyé" in page.locator("#main [role=status]").first.inner_text()
    announcer = page.locator("#announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent.includes('sera envoyé')")
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until_sent(page)
    assert region.inner_text().strip() in ("", "0")

    # A form the server refuses: the page's script shows each message as an alert.
    page.goto(f"{page.base}/collective-actions/new")
    page.fill("input[name=participants]", "-3")
    page.click("main form button.primary")
    page.wait_for_selector(".js-error")
    alert = page.locator("#main .js-error[role=alert]")
    assert alert.count() >= 1 and alert.first.inner_text().strip()

    # Without the script (a form the server checks): the summary is an alert.
    page.goto(f"{page.base}/account/password")
    page.fill("input[type=password] >> nth=0", "wrong password")
    page.click("main form button.primary")
    page.wait_for_load_state()
    alert = page.locator("#main [role=alert]")
    assert alert.count() >= 1 and alert.first.inner_text().strip()


def test_a_chosen_chip_shows_in_forced_colours(chromium, demo_server):
    """Windows' contrast themes repaint backgrounds: a chosen chip must still differ from
    the others by more than its (erased) background colour."""
    context, page = _browser_page(chromium, demo_server, "field", "phone")
    try:
        page.emulate_media(forced_colors="active")
        page.goto(demo_server.url + "/contacts/new")
        page.check("input[name=themes][value=logement]", force=True)
        look = """value => { const s = getComputedStyle(document.querySelector(
            `input[name=themes][value=${value}] + span`));
            return [s.backgroundColor, s.color, s.borderTopWidth, s.outlineStyle].join(' '); }"""
        assert page.evaluate(look, "logement") != page.evaluate(look, "sante")
        shot(page, "a11y-forced-colours-chip")
    finally:
        context.close()


def test_a_message_the_server_sends_after_a_save_is_read_out(phones, live_server):
    """A flash arrives written in the new page; the empty live region receives it."""
    from .test_offline import sign_in

    page = phones()
    sign_in(page)
    page.goto(f"{page.base}/logout")
    page.click("form[data-logout] button[type=submit]")
    page.wait_for_url("**/login**")
    assert "déconnecté" in page.locator("#main .flash[role=status]").inner_text()
    page.wait_for_function(
        "() => document.getElementById('announcer').textContent.includes('déconnecté')")
