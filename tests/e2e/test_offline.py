"""Offline capture on a phone-sized Chromium: nothing a worker records is ever lost."""

from __future__ import annotations

import time

from .conftest import PASSWORD, WORKER, shot

WAIT_FOR_SHELL = """async () => {
  const reg = await navigator.serviceWorker.getRegistration();
  if (!reg || !reg.active || reg.active.state !== 'activated') return false;
  if (!navigator.serviceWorker.controller) return false;
  return !!(await caches.match('/contacts/new')) && !!(await caches.match('/today'));
}"""


def sign_in(page, next_path: str = "/today", email: str = WORKER) -> None:
    page.goto(f"{page.base}/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def ready_for_offline(page, timeout: float = 20.0) -> None:
    """Wait until the service worker controls the page and keeps the forms."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(WAIT_FOR_SHELL):
        assert time.monotonic() < deadline, "the service worker never took the app offline"
        page.wait_for_timeout(200)


def record_contact(page, theme: str = "Logement") -> None:
    page.goto(f"{page.base}/contacts/new")
    page.click(f"label.chip:has-text('{theme}') >> nth=0")
    page.click("button[value=done]")
    page.wait_for_url("**/today")


def badge(page) -> str:
    element = page.locator("#queue-badge")
    return element.inner_text() if element.is_visible() else "0"


def queue_read(page) -> int:
    """Wait until the page's script has read the queue; how many records wait.

    The badge is served `hidden`: before offline.js has read IndexedDB, a hidden badge says
    nothing. `data-count` is only written once the queue has been read."""
    page.wait_for_selector("#queue-badge[data-count]", state="attached")
    return int(page.get_attribute("#queue-badge", "data-count"))


def wait_until_sent(page) -> None:
    """Wait until this phone's queue is empty, as read from IndexedDB by the page."""
    page.wait_for_selector('#queue-badge[data-count="0"]', state="attached")
    assert page.evaluate("RelaisQueue.all().then(items => items.length)") == 0


def test_record_online_then_offline_and_sync(phone, live_server):
    page = phone
    sign_in(page)
    shot(page, "01-today")
    ready_for_offline(page)
    before = live_server.contact_count()
    record_contact(page)
    assert live_server.contact_count() == before + 1
    assert "Enregistré." in page.inner_text("#main")

    page.context.set_offline(True)
    for theme in ("Santé", "Logement", "Séjour / papiers"):
        record_contact(page, theme)
    assert "sera envoyé au retour du réseau" in page.inner_text("#main")
    page.wait_for_function("() => document.getElementById('queue-badge').textContent === '3'")
    assert badge(page) == "3"
    shot(page, "02-today-offline-3-waiting")

    page.goto(f"{page.base}/contacts/new")  # still there without network
    assert page.locator("form[data-queue=contact]").is_visible()
    page.reload()
    assert page.locator("form[data-queue=contact]").is_visible()
    shot(page, "03-contact-form-offline")
    assert live_server.contact_count() == before + 1

    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until_sent(page)
    assert page.locator("#queue-badge").is_hidden()
    assert live_server.contact_count() == before + 4


def test_session_expired_while_offline(phone, live_server):
    page = phone
    sign_in(page)
    ready_for_offline(page)
    before = live_server.contact_count()
    page.context.set_offline(True)
    record_contact(page)
    live_server.expire_sessions(WORKER)  # the session ends while the phone is offline
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#queue-banner:not([hidden])")
    assert badge(page) == "1"
    shot(page, "04-session-expired")
    assert live_server.contact_count() == before

    page.click("#queue-banner a")
    page.fill("input[name=email]", WORKER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/today")
    # Not "the badge is hidden": the page is served with it hidden, before its script has
    # even read the queue (this made the test pass its wait too early, now and then).
    wait_until_sent(page)
    assert live_server.contact_count() == before + 1


def test_answer_lost_on_the_way_back_gives_one_row(phone, live_server):
    page = phone
    sign_in(page)
    ready_for_offline(page)
    before = live_server.contact_count()
    lost = []

    def drop_the_answer(route):
        if route.request.method == "PUT" and not lost:
            lost.append(route.fetch())  # the server stores it...
            route.abort("connectionreset")  # ...but the phone never hears back
        else:
            route.continue_()

    page.route("**/api/v1/contacts/*", drop_the_answer)
    record_contact(page)
    assert lost and lost[0].status == 201
    assert live_server.contact_count() == before + 1
    # The phone did not hear back, so it kept the record to send it again…
    assert "sera envoyé au retour du réseau" in page.inner_text("#main")
    page.unroute("**/api/v1/contacts/*")
    queue_read(page)
    # "Envoyer maintenant" (a no-op when Background Sync has already sent it again).
    page.evaluate("window.relaisOffline.syncNow()")
    wait_until_sent(page)
    # …and the same id sent again made no second row.
    assert live_server.contact_count() == before + 1


def test_invalid_record_stays_and_can_be_fixed(phone, live_server):
    page = phone
    sign_in(page)
    ready_for_offline(page)
    before = live_server.contact_count()
    page.goto(f"{page.base}/contacts/new")
    page.fill("#people_count", "0")
    page.click("button[value=done]")
    page.wait_for_selector(".js-error")
    assert "Entre 1 et 500." in page.inner_text("form")
    assert badge(page) == "1"
    page.fill("#people_count", "2")
    page.click("button[value=done]")
    page.wait_for_url("**/today")
    wait_until_sent(page)
    assert live_server.contact_count() == before + 1
    shot(page, "05-today-after-fix")
