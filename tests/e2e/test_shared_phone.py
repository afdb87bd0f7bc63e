"""One phone, two people (issue 12): what the phone keeps for one person is never shown to
another, nor after that person's session has ended, with or without network; what one
person queued waits for them, untouched, and is never sent under somebody else's session.

Each test makes its own two field workers, each alone in a neighbourhood of their own, so
that nothing of person one (their name, their neighbourhood) can be on person two's pages
for any other reason than the phone showing person one's kept page.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from app.cli import create_user
from app.extensions import db
from app.models import Neighbourhood, Role, User

from .conftest import PASSWORD, shot
from .test_offline import queue_read, ready_for_offline, record_contact, wait_until_sent

PERSON_CACHES = """async () => (await caches.keys()).filter(k => k.startsWith('relais-pages-'))"""
QUEUE = "RelaisQueue.all().then(items => items.map(i => ({id: i.id, userId: i.userId})))"


@dataclass
class Person:
    id: int
    email: str
    name: str
    neighbourhood: str


@pytest.fixture
def two_people(live_server):
    """Two field workers who have nothing in common but the phone."""
    tag = uuid.uuid4().hex[:8]
    people = []
    with live_server.app.app_context():
        for n, first in enumerate(("Zéphyrine", "Barnabé")):
            code = f"q{n}-{tag}"
            db.session.add(Neighbourhood(code=code, name=f"Quartier {code}", commune="Bruxelles"))
            db.session.commit()
            email = f"p{n}-{tag}@e2e.test"
            name = f"{first} {tag}"
            user = create_user(email, Role.FIELD_WORKER, PASSWORD, neighbourhoods=[code],
                               display_name=name)
            people.append(Person(user.id, email, name, code))
        db.session.remove()
    return people


def sign_in(page, person: Person, next_path: str = "/today") -> None:
    page.goto(f"{page.base}/login?next={next_path}")
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).path == next_path)
    assert page.inner_text(".topbar .who") == person.name


def sign_out(page) -> None:
    page.goto(f"{page.base}/logout")
    page.click("form[data-logout] button[type=submit]")
    page.wait_for_url("**/login**")


def _sessions_of(person: Person):
    from sqlalchemy import select

    from app.models import UserSession

    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == person.id)))


def end_session(live_server, person: Person) -> None:
    """The person's session passes its idle time on the server, the phone not told: the
    browser keeps a cookie that opens nothing any more."""
    from app.auth import sessions

    with live_server.app.app_context():
        rows = _sessions_of(person)
        assert rows, "no session row for this person"
        for row in rows:
            row.last_seen_at = datetime.now(UTC) - sessions.idle_timeout() - timedelta(minutes=1)
        db.session.commit()
        db.session.remove()


def session_ends_in(live_server, person: Person, seconds: float) -> None:
    """The person's session reaches its absolute lifetime `seconds` from now: it was opened
    that long before. (Its idle end moves as the phone uses it; this one does not.)"""
    from app.auth import sessions

    with live_server.app.app_context():
        rows = _sessions_of(person)
        assert rows, "no session row for this person"
        for row in rows:
            row.created_at = datetime.now(UTC) + timedelta(seconds=seconds) - sessions.lifetime()
            assert sessions.ends_at(row) <= datetime.now(UTC) + timedelta(seconds=seconds)
        db.session.commit()
        db.session.remove()


def offline_today(page) -> str:
    """What the phone shows for /today without network: the whole page's text."""
    page.context.set_offline(True)
    try:
        page.goto(f"{page.base}/today")
        return page.inner_text("body")
    finally:
        page.context.set_offline(False)


def assert_nothing_of(text: str, person: Person) -> None:
    assert person.name not in text
    assert person.neighbourhood not in text


def test_the_next_person_never_gets_the_last_ones_pages(phone, live_server, two_people):
    one, two = two_people
    page = phone
    sign_in(page, one)
    ready_for_offline(page)
    assert one.name in offline_today(page)  # kept for person one, in their session
    end_session(live_server, one)

    # Person two signs in on the same phone: person one's pages go, theirs are kept.
    sign_in(page, two)
    ready_for_offline(page)
    assert len(page.evaluate(PERSON_CACHES)) == 1
    text = offline_today(page)
    assert two.name in text
    assert_nothing_of(text, one)
    page.goto(f"{page.base}/contacts/new")
    page.context.set_offline(True)
    page.goto(f"{page.base}/contacts/new")
    assert_nothing_of(page.inner_text("body"), one)
    page.context.set_offline(False)
    shot(page, "20-shared-phone-second-person-offline")


def test_an_answer_in_another_session_drops_the_pages(phones, live_server, two_people):
    """The phone's cookie now opens person two's session, and the phone is told so by an
    answer of the server, with no signed-out page between: person one's pages go."""
    one, two = two_people
    page, elsewhere = phones(), phones()
    sign_in(page, one)
    ready_for_offline(page)
    sign_in(elsewhere, two)
    page.context.clear_cookies()
    page.context.add_cookies(elsewhere.context.cookies())
    page.goto(f"{page.base}/contacts")
    assert page.inner_text(".topbar .who") == two.name
    ready_for_offline(page)
    assert len(page.evaluate(PERSON_CACHES)) == 1
    text = offline_today(page)
    assert two.name in text
    assert_nothing_of(text, one)


def test_a_session_that_ended_leaves_nothing_to_a_visitor(phone, live_server, two_people):
    """Person one's session ends on the server; the next visitor, online then offline,
    meets the sign-in page, then the offline 'sign in' page: never person one's day."""
    one, _ = two_people
    page = phone
    sign_in(page, one)
    ready_for_offline(page)
    end_session(live_server, one)
    page.goto(f"{page.base}/today")  # the server says: nobody is signed in
    page.wait_for_url("**/login**")
    assert page.evaluate(PERSON_CACHES) == []
    text = offline_today(page)
    assert_nothing_of(text, one)
    assert page.locator("[data-offline=signed-out]").count() == 1


def test_signing_out_clears_the_pages(phone, live_server, two_people):
    one, _ = two_people
    page = phone
    sign_in(page, one)
    ready_for_offline(page)
    sign_out(page)
    assert page.evaluate(PERSON_CACHES) == []
    text = offline_today(page)
    assert_nothing_of(text, one)
    assert page.locator("[data-offline=signed-out]").count() == 1
    shot(page, "21-shared-phone-signed-out-offline")


def test_an_expired_session_shows_no_page_without_network(phone, live_server, two_people):
    """The phone learnt when the session ends; offline after that moment it shows the
    'sign in' page, not the page it kept, even though nobody told it the session ended."""
    one, _ = two_people
    page = phone
    sign_in(page, one)
    ready_for_offline(page)
    session_ends_in(live_server, one, 4)
    page.goto(f"{page.base}/contacts")  # an answer that says when the session ends
    page.context.set_offline(True)
    page.goto(f"{page.base}/today")
    assert one.name in page.inner_text("body")  # still within the session
    page.wait_for_timeout(4500)
    page.goto(f"{page.base}/today")
    assert_nothing_of(page.inner_text("body"), one)
    assert page.locator("[data-offline=signed-out]").count() == 1
    page.goto(f"{page.base}/contacts/new")
    assert_nothing_of(page.inner_text("body"), one)
    page.context.set_offline(False)
    assert page.evaluate(PERSON_CACHES) == []


def test_a_queued_record_waits_for_its_author(phone, live_server, two_people):
    one, two = two_people
    page = phone
    sign_in(page, one)
    ready_for_offline(page)
    page.context.set_offline(True)
    record_contact(page)
    queued = page.evaluate(QUEUE)
    assert [item["userId"] for item in queued] == [one.id]
    record_id = queued[0]["id"]
    # Their session ends while the phone is offline (ended first: the phone, back online,
    # would otherwise send it at once under their session, as it should).
    end_session(live_server, one)
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_selector("#queue-banner:not([hidden])")  # kept, "sign in again"
    # Let the service worker's own sync (Background Sync) be refused too before signing in:
    # an answer to the ended session's cookie deletes the cookie, and one arriving after the
    # sign-in page's would delete that page's new session (its CSRF token with it).
    page.wait_for_timeout(1500)

    # Person two, online, on the same phone: the record is neither lost nor sent.
    sign_in(page, two)
    assert queue_read(page) == 0  # nothing of theirs waits
    page.wait_for_selector(".queue-other-author")
    assert "attend son auteur" in page.inner_text("#queue-panel")
    assert_nothing_of(page.inner_text("#queue-panel"), one)
    page.evaluate("window.relaisOffline.syncNow()")
    page.click("[data-queue-send]")
    page.reload()
    queue_read(page)
    page.evaluate("window.relaisOffline.syncNow()")
    assert page.evaluate(QUEUE) == queued
    assert live_server.puts(record_id) == 0
    shot(page, "22-shared-phone-waiting-for-author")

    # Person one again: it leaves, under their own session.
    sign_out(page)
    sign_in(page, one)
    wait_until_sent(page)
    assert live_server.puts(record_id) == 1
    with live_server.app.app_context():
        from app.models import Contact

        contact = db.session.get(Contact, uuid.UUID(record_id))
        assert contact is not None and contact.author_id == one.id
        assert db.session.get(User, one.id).email == one.email
        db.session.remove()


def test_every_answer_says_whose_session_it_was_made_in(live_server, two_people):
    """The server's side of the binding, without a browser: a key per session (not per
    person), the session's end, nothing in what the shared shell keeps."""
    from app.auth import sessions

    one, _ = two_people
    app = live_server.app

    def signed_in():
        client = app.test_client()
        form = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        answer = client.post("/login", data={"email": one.email, "password": PASSWORD,
                                             "csrf_token": token})
        assert answer.status_code == 302
        return client

    anonymous = app.test_client()
    assert anonymous.get("/login").headers["X-Relais-Binding"] == "-"
    assert anonymous.get("/api/v1/me").headers["X-Relais-Binding"] == "-"
    first, second = signed_in(), signed_in()
    keys = []
    for client in (first, second):
        today = client.get("/today")
        key, user_id, ends = today.headers["X-Relais-Binding"].split("|")
        assert int(user_id) == one.id
        assert f'content="{key}|{user_id}|{ends}"' in today.get_data(as_text=True)
        assert client.get("/api/v1/me").headers["X-Relais-Binding"].startswith(key + "|")
        with app.app_context():
            row = next(r for r in _sessions_of(one) if sessions.offline_key(r) == key)
            assert abs(int(ends) - sessions.ends_at(row).timestamp()) < 2
            db.session.remove()
        for shared in ("/offline", "/offline?session=ended", "/sw.js",
                       "/manifest.webmanifest", "/static/js/app.js"):
            answer = client.get(shared)
            assert "X-Relais-Binding" not in answer.headers
            assert one.name not in answer.get_data(as_text=True)
        keys.append(key)
    assert keys[0] != keys[1]  # the same person, two sessions: two keys
