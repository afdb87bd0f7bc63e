"""Two workers of one team, one record (issue 10): no edit is ever lost.

"Sent exactly once" is judged by the PUTs that reach the server, per record id.
"""

from __future__ import annotations

import time

from .test_offline import queue_read, ready_for_offline, sign_in, wait_until_sent

LOCK = "relais-queue-sync"

API_PUT = """async ({url, body, headers}) => {
  const me = await (await fetch('/api/v1/me', {credentials: 'same-origin'})).json();
  const response = await fetch(url, {method: 'PUT', credentials: 'same-origin',
    headers: Object.assign({'Content-Type': 'application/json', Accept: 'application/json',
                            'X-CSRFToken': me.csrf_token}, headers),
    body: JSON.stringify(body)});
  return {status: response.status, body: await response.json()};
}"""

LOCKS_IDLE = f"""async () => {{
  const state = await navigator.locks.query();
  return ![...state.held, ...state.pending].some(lock => lock.name === '{LOCK}');
}}"""

LOCK_WAITED_FOR = f"""async () => {{
  const state = await navigator.locks.query();
  return state.pending.some(lock => lock.name === '{LOCK}');
}}"""


def back_online(page) -> None:
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")


def service_worker_sync(page):
    """A function that fires the service worker's Background Sync event now, as the browser
    does when the network comes back (through the DevTools protocol)."""
    registrations = []
    cdp = page.context.new_cdp_session(page)
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    while not any(not r["isDeleted"] for r in registrations):
        assert time.monotonic() < deadline, "no service worker registration"
        page.wait_for_timeout(50)
    registration = next(r for r in registrations if not r["isDeleted"])

    def fire():
        cdp.send("ServiceWorker.dispatchSyncEvent", {
            "origin": page.base, "registrationId": registration["registrationId"],
            "tag": "relais-queue", "lastChance": False})
    return fire


def queued(page) -> list[dict]:
    return page.evaluate("RelaisQueue.all()")


# -- sent exactly once -------------------------------------------------------------------------
def test_page_and_service_worker_send_a_record_exactly_once(phone, live_server):
    """The page and the service worker both sync when the network returns: the record
    reaches the server once. PUTs are held at the door until both senders have started, so
    that two senders without a shared lock would both be seen there."""
    page = phone
    sign_in(page)
    ready_for_offline(page)
    fire_background_sync = service_worker_sync(page)
    page.context.set_offline(True)
    page.goto(f"{page.base}/contacts/new")
    page.click("label.chip:has-text('Logement') >> nth=0")
    page.click("button[value=done]")
    page.wait_for_url("**/today")
    assert queue_read(page) == 1
    record_id = queued(page)[0]["id"]
    assert live_server.puts(record_id) == 0

    with live_server.holding_puts():
        back_online(page)           # the page syncs ("online")…
        fire_background_sync()      # …and so does the service worker, at the same moment
        live_server.wait_for_puts(record_id, 1)
        # Both senders are under way: the second either waits for the lock, or (without a
        # lock shared by the page and the worker) has sent the record a second time.
        deadline = time.monotonic() + 30
        while live_server.puts(record_id) < 2 and not page.evaluate(LOCK_WAITED_FOR):
            assert time.monotonic() < deadline, "the second sender never started"
            page.wait_for_timeout(50)
    wait_until_sent(page)
    page.wait_for_function(LOCKS_IDLE)  # both senders are done
    assert live_server.puts(record_id) == 1
    assert live_server.contact(record_id)["themes"] == ["logement"]
