"""Help in the app is there without network (issue 15): the service worker keeps /help and
the role pages with the person's other pages (OFFLINE_PAGES), so a worker in a basement can
still read what never goes in a note."""

from __future__ import annotations

import time

from .conftest import shot
from .test_offline import ready_for_offline, sign_in

KEPT = """async () => {
  for (const name of await caches.keys()) {
    if (!name.startsWith('relais-pages-')) continue;
    const cache = await caches.open(name);
    if (await cache.match('/help') && await cache.match('/help/partner')) return true;
  }
  return false;
}"""


def test_help_opens_offline_after_a_first_visit(phone):
    page = phone
    sign_in(page)
    ready_for_offline(page)
    page.click("footer a[href='/help']")
    page.wait_for_url("**/help")
    assert "Ce qu'on n'écrit jamais dans une note" in page.inner_text("#main")
    deadline = time.monotonic() + 20
    while not page.evaluate(KEPT):
        assert time.monotonic() < deadline, "the help pages were never kept"
        page.wait_for_timeout(200)

    page.context.set_offline(True)
    page.goto(f"{page.base}/today")
    page.goto(f"{page.base}/help")  # without network: the kept page
    main = page.inner_text("#main")
    assert "Ce qu'on n'écrit jamais dans une note" in main
    assert "Jamais son nom" in main
    page.click("a[href='/help/partner']")
    page.wait_for_url("**/help/partner")
    assert "Uniquement les orientations envoyées à votre service" in page.inner_text("#main")
    shot(page, "help-offline")
    page.context.set_offline(False)
