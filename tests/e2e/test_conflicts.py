"""Two workers of one team, one record (issue 10): no edit is ever lost.

Two browser contexts are two phones at 360 px: Amina (WORKER) and Yannick (COLLEAGUE), both in
Colignon. "Sent exactly once" is judged by the PUTs that reach the server, per record id.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from .conftest import COLLEAGUE, shot
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


def new_contact(page, **fields) -> str:
    """A contact created through the API by this phone's worker; its id."""
    contact_id = str(uuid.uuid4())
    # Seconds and microseconds on purpose: the edit form shows minutes only, and an edit
    # that leaves the time alone must not count it as changed.
    moment = (datetime.now(UTC) - timedelta(hours=1)).replace(second=37, microsecond=123456)
    body = {"neighbourhood": "colignon", "occurred_at": moment.isoformat(),
            "people_count": 2, "themes": ["logement"], **fields}
    answer = page.evaluate(API_PUT, {"url": f"/api/v1/contacts/{contact_id}", "body": body,
                                     "headers": {"If-None-Match": "*"}})
    assert answer["status"] == 201, answer
    return contact_id


def open_edit(page, contact_id: str) -> None:
    page.goto(f"{page.base}/contacts/{contact_id}/edit")
    page.wait_for_selector("form[data-queue-edit=contact] input[name=version]", state="attached")


def theme_chip(page, code: str):
    return page.locator(f"#field-themes label.chip:has(input[value='{code}'])")


def place_chip(page, code: str):
    return page.locator(f"#field-place_type label.chip:has(input[value='{code}'])")


def save_online(page, contact_id: str) -> None:
    """Save the edit form with network: the page posts it, the server answers."""
    page.click("button[value=done]")
    page.wait_for_url(f"**/contacts/{contact_id}")


def save_offline(page) -> None:
    """Save the edit form without network: it goes to the queue with its version."""
    page.click("button[value=done]")
    page.wait_for_url("**/today")
    assert "sera envoyé au retour du réseau" in page.inner_text("#main")


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


# -- different fields merge by themselves ------------------------------------------------------
def test_offline_edit_of_another_field_merges_without_a_question(phones, live_server):
    amina, yannick = phones(), phones()
    sign_in(amina)
    sign_in(yannick, email=COLLEAGUE)
    ready_for_offline(yannick)
    contact_id = new_contact(amina)
    created = live_server.contact(contact_id)

    # Yannick opens the contact, loses the network, adds a theme: it waits on his phone.
    open_edit(yannick, contact_id)
    yannick.context.set_offline(True)
    theme_chip(yannick, "sante").click()
    save_offline(yannick)
    assert queue_read(yannick) == 1
    assert queued(yannick)[0]["precondition"] == {"version": 1}

    # Meanwhile Amina changes the number of people.
    open_edit(amina, contact_id)
    amina.fill("#people_count", "4")
    save_online(amina, contact_id)
    assert live_server.contact(contact_id)["people_count"] == 4

    # Yannick's phone gets the network back: merged by the server, nothing asked.
    back_online(yannick)
    wait_until_sent(yannick)
    assert yannick.locator(".conflict").count() == 0
    stored = live_server.contact(contact_id)
    assert stored["people_count"] == 4
    assert sorted(stored["themes"]) == ["logement", "sante"]
    assert stored["occurred_at"] == created["occurred_at"]  # untouched, to the microsecond
    assert stored["version"] == 3


def test_stale_page_edit_of_another_field_merges_without_a_question(phones, live_server):
    amina, yannick = phones(), phones()
    sign_in(amina)
    sign_in(yannick, email=COLLEAGUE)
    contact_id = new_contact(amina)
    open_edit(yannick, contact_id)  # opened at version 1, left open

    open_edit(amina, contact_id)
    amina.fill("#people_count", "4")
    save_online(amina, contact_id)

    theme_chip(yannick, "sante").click()
    save_online(yannick, contact_id)  # the stale page, with network: the page posts it
    assert yannick.locator(".conflict").count() == 0
    stored = live_server.contact(contact_id)
    assert stored["people_count"] == 4
    assert sorted(stored["themes"]) == ["logement", "sante"]


def test_offline_edit_of_a_collective_action_merges(phones, live_server):
    amina, yannick = phones(), phones()
    sign_in(amina)
    sign_in(yannick, email=COLLEAGUE)
    ready_for_offline(yannick)
    action_id = str(uuid.uuid4())
    body = {"neighbourhood": "colignon", "mission": "communautaire",
            "occurred_on": datetime.now(UTC).date().isoformat(), "participants": 12,
            "themes": ["logement"], "organisations": [], "title": "Repas de quartier"}
    answer = amina.evaluate(API_PUT, {"url": f"/api/v1/collective-actions/{action_id}",
                                      "body": body, "headers": {"If-None-Match": "*"}})
    assert answer["status"] == 201, answer

    yannick.goto(f"{yannick.base}/collective-actions/{action_id}/edit")
    yannick.wait_for_selector("form[data-queue-edit=collective_action] input[name=version]",
                              state="attached")
    yannick.context.set_offline(True)
    yannick.fill("#participants", "15")
    yannick.click("form[data-queue-edit] button[type=submit]")
    yannick.wait_for_url("**/today")
    assert queued(yannick)[0]["precondition"] == {"version": 1}

    amina.goto(f"{amina.base}/collective-actions/{action_id}/edit")
    theme_chip(amina, "sante").click()
    amina.click("form[data-queue-edit] button[type=submit]")
    amina.wait_for_url("**/collective-actions")

    back_online(yannick)
    wait_until_sent(yannick)
    stored = live_server.collective_action(action_id)
    assert stored["participants"] == 15
    assert sorted(stored["themes"]) == ["logement", "sante"]
    assert stored["title"] == "Repas de quartier"
    assert live_server.puts(action_id) == 2  # Amina's creation, Yannick's edit: once each


# -- the same field: the worker chooses --------------------------------------------------------
def test_same_field_offline_asks_and_the_choice_is_saved(phones, live_server):
    amina, yannick = phones(), phones()
    sign_in(amina)
    sign_in(yannick, email=COLLEAGUE)
    ready_for_offline(yannick)
    contact_id = new_contact(amina)

    # Yannick, without network: 3 people, in the metro, and a note.
    open_edit(yannick, contact_id)
    yannick.context.set_offline(True)
    yannick.fill("#people_count", "3")
    place_chip(yannick, "gare_metro").click()
    yannick.fill("#note", "Vu au métro.")
    save_offline(yannick)

    # Amina, with network: 5 people, in the street, a note of her own, and a theme.
    open_edit(amina, contact_id)
    amina.fill("#people_count", "5")
    place_chip(amina, "rue").click()
    amina.fill("#note", "Orienté vers le CPAS.")
    theme_chip(amina, "sante").click()
    save_online(amina, contact_id)

    # Back online, Yannick's phone is told: nothing written, the record is "to resolve".
    back_online(yannick)
    yannick.wait_for_selector('#queue-badge[data-to-resolve="1"]', state="attached")
    assert "à résoudre" in yannick.inner_text("#queue-badge")
    assert "dont 1 à résoudre" in yannick.get_attribute("#queue-badge", "aria-label")
    assert live_server.contact(contact_id)["people_count"] == 5
    item = queued(yannick)[0]
    assert item["status"] == "to-resolve"
    assert sorted(item["conflict"]["fields"]) == ["note", "people_count", "place_type"]
    shot(yannick, "10-queue-to-resolve")

    # He chooses without network: the screen is drawn from the phone's queue.
    yannick.context.set_offline(True)
    yannick.goto(f"{yannick.base}/today")
    yannick.click(f"[data-resolve='{contact_id}']")
    screen = yannick.locator("section.conflict")
    screen.wait_for()
    assert screen.locator("input:checked").count() == 0  # nothing chosen for him
    people = screen.locator("fieldset.conflict-field[data-field=people_count]")
    assert people.locator("legend").inner_text() == "Nombre de personnes"
    assert people.locator("label:has(input[value=yours]) .value").inner_text() == "3"
    assert people.locator("label:has(input[value=theirs]) .value").inner_text() == "5"
    assert people.locator("label:has(input[value=theirs]) .by").inner_text().startswith(
        "par Amina, le ")  # whose value it is
    place = screen.locator("fieldset.conflict-field[data-field=place_type]")
    # Codes are shown by their labels, from the vocabularies the phone keeps.
    assert place.locator("label:has(input[value=yours]) .value").inner_text() == "Gare / métro"
    assert place.locator("label:has(input[value=theirs]) .value").inner_text() == "Rue"
    note = screen.locator("fieldset.conflict-field[data-field=note]")
    assert note.locator("label:has(input[value=theirs]) .value").inner_text() == \
        "Orienté vers le CPAS."
    assert note.locator("input[value=both]").count() == 1
    shot(yannick, "11-comparison-screen")

    screen.locator("button[type=submit]").click()  # nothing chosen: the browser asks
    assert screen.is_visible()
    people.locator("label:has(input[value=yours])").click()
    place.locator("label:has(input[value=theirs])").click()
    note.locator("label:has(input[value=both])").click()
    screen.locator("button[type=submit]").click()
    yannick.wait_for_selector(".flash:has-text('il sera envoyé au retour du réseau')")
    assert queued(yannick)[0]["status"] == "waiting"
    assert queued(yannick)[0]["precondition"] == {"version": 2}

    back_online(yannick)
    wait_until_sent(yannick)
    stored = live_server.contact(contact_id)
    assert stored["people_count"] == 3                                 # his choice
    assert stored["place_type"] == "rue"                               # hers, chosen
    assert stored["note"] == "Vu au métro.\n\nOrienté vers le CPAS."   # both kept
    assert sorted(stored["themes"]) == ["logement", "sante"]           # her other change
    assert stored["version"] == 3


# -- a replayed creation -----------------------------------------------------------------------
def test_replayed_creation_keeps_a_colleagues_correction(phones, live_server):
    amina, yannick = phones(), phones()
    sign_in(amina)
    sign_in(yannick, email=COLLEAGUE)
    ready_for_offline(amina)
    lost, held = [], [True]

    def lose_the_answer(route):
        if route.request.method != "PUT":
            route.continue_()
        elif not lost:
            lost.append(route.fetch())     # the server stores it…
            route.abort("connectionreset")  # …but the phone never hears back
        elif held[0]:
            route.abort("internetdisconnected")  # and the network is gone a while
        else:
            route.continue_()

    # Routes on the context also see the service worker's requests (Background Sync).
    amina.context.route("**/api/v1/contacts/*", lose_the_answer)
    amina.goto(f"{amina.base}/contacts/new")
    amina.fill("#people_count", "2")
    theme_chip(amina, "logement").click()
    amina.click("button[value=done]")
    amina.wait_for_url("**/today")
    assert lost and lost[0].status == 201
    contact_id = queued(amina)[0]["id"]
    assert live_server.puts(contact_id) == 1

    # Yannick corrects the record the server has.
    open_edit(yannick, contact_id)
    yannick.fill("#people_count", "6")
    save_online(yannick, contact_id)
    assert live_server.contact(contact_id)["people_count"] == 6

    # Amina's phone sends its creation again: the correction stays, the queue empties.
    held[0] = False
    amina.evaluate("window.relaisOffline.syncNow()")
    wait_until_sent(amina)
    stored = live_server.contact(contact_id)
    assert stored["people_count"] == 6
    assert stored["themes"] == ["logement"]
    assert stored["version"] == 2
    # The creation again (412: it exists and differs), then as an edit of version 1 (merged).
    assert live_server.puts(contact_id) == 3


# -- what is sent once the worker has chosen -------------------------------------------------------
RESOLVE = """([payload, conflict, choices]) => RelaisQueue.resolve(
  {payload: payload, conflict: conflict}, choices)"""


def test_resolved_record_keeps_every_change_it_was_not_asked_about(phone):
    """The record sent after the choice: the choice where asked; ours where only this phone
    changed; theirs where only the colleague did; lists merged by codes added and removed; a
    person code sent only when ours is kept; a note absent when neither it nor the choice
    touched it (the server then keeps it as it is)."""
    page = phone
    sign_in(page)
    queue_read(page)
    base = {"people_count": 2, "place_type": "rue", "themes": ["logement", "sante"],
            "situations": [], "initiative": None, "has_person_code": True,
            "note": None, "occurred_at": "2026-03-02T09:15:00+01:00", "version": 1}
    current = {**base, "people_count": 5, "initiative": "demande_personne",
               "themes": ["logement", "sejour"], "has_person_code": True, "version": 2}
    payload = {"people_count": 3, "place_type": "gare_metro",
               "themes": ["sante", "emploi_formation"], "situations": [], "initiative": None,
               "person_code": "AB12",
               "occurred_at": "2026-03-02T08:15:00.000Z"}
    yours = {**base, "people_count": 3, "place_type": "gare_metro",
             "themes": ["emploi_formation", "sante"], "has_person_code": True}
    conflict = {"fields": ["people_count", "person_code"], "current": current, "base": base,
                "yours": yours, "version": 2,
                "changed": {"people_count": True, "place_type": True, "themes": True,
                            "situations": False, "initiative": False, "person_code": True,
                            "occurred_at": False}}

    sent = page.evaluate(RESOLVE, [payload, conflict,
                                   {"people_count": "theirs", "person_code": "theirs"}])
    assert sent["people_count"] == 5                  # chosen: theirs
    assert "person_code" not in sent                  # theirs: the code is left as it is
    assert sent["place_type"] == "gare_metro"         # only ours changed it
    assert sent["initiative"] == "demande_personne"   # only theirs changed it
    assert sent["occurred_at"] == base["occurred_at"]  # nobody changed it
    # themes: we removed logement and added emploi_formation; they removed sante, added sejour
    assert sorted(sent["themes"]) == ["emploi_formation", "sejour"]
    assert "note" not in sent

    sent = page.evaluate(RESOLVE, [payload, conflict,
                                   {"people_count": "yours", "person_code": "yours"}])
    assert sent["people_count"] == 3 and sent["person_code"] == "AB12"

    notes = {"fields": ["note"], "current": {"note": "Orienté vers le CPAS."},
             "base": {"note": None}, "yours": {"note": "Vu au métro."}, "version": 4,
             "changed": {"note": True}}
    assert page.evaluate(RESOLVE, [{"note": "Vu au métro."}, notes, {"note": "both"}]) == \
        {"note": "Vu au métro.\n\nOrienté vers le CPAS."}
    assert page.evaluate(RESOLVE, [{"note": "Vu au métro."}, notes, {"note": "theirs"}]) == \
        {"note": "Orienté vers le CPAS."}
