"""A team runs Relais without a developer (issue 13), on 360×740 phones: an admin sets up a
new neighbourhood, a new theme and a new street educator in the browser; the educator opens
the invitation on their phone, chooses a password and records a contact with the new theme;
when the admin deactivates the account, the phone is signed out at its next request. And a
coordinator turns on two-factor sign-in, then signs in with it.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select

from app.cli import create_user
from app.extensions import db
from app.models import Contact, Neighbourhood, Role

from .conftest import PASSWORD, shot

NEW_PASSWORD = "marelle-Tour-Noire-au-printemps"


@pytest.fixture
def tag():
    return uuid.uuid4().hex[:6]


def _account(live_server, email, role, **kwargs):
    with live_server.app.app_context():
        create_user(email, role, PASSWORD, **kwargs)
        db.session.remove()


def _path(page) -> str:
    return urlsplit(page.url).path


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{page.base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def sign_out(page) -> None:
    page.goto(f"{page.base}/logout")
    page.click("form[data-logout] button[type=submit]")
    page.wait_for_url("**/login**")


def submit(page) -> None:
    """The main form's primary button, as a thumb would press it."""
    page.click("main form button.primary")
    page.wait_for_load_state()


def test_an_admin_sets_up_a_neighbourhood_a_theme_and_a_worker_in_the_browser(
        phones, live_server, tag):
    admin_email = f"admin-{tag}@e2e.test"
    worker_email = f"educ-{tag}@e2e.test"
    _account(live_server, admin_email, Role.ADMIN, display_name="Admin")
    admin = phones()
    sign_in(admin, admin_email)
    assert _path(admin) == "/admin"

    # A new neighbourhood.
    admin.click("text=Quartiers")
    admin.click("text=Ajouter un quartier")
    admin.fill("input[name=code]", f"nord-{tag}")
    admin.fill("input[name=name]", f"Nord {tag}")
    admin.fill("input[name=commune]", "Schaerbeek")
    submit(admin)
    assert f"Nord {tag}" in admin.inner_text("main")

    # A new theme, in the three languages.
    admin.goto(f"{admin.base}/admin")
    admin.click("text=Listes de choix")
    admin.click("a:has-text('Thèmes')")
    admin.click("text=Ajouter un terme")
    admin.fill("input[name=code]", f"squat_{tag}")
    admin.fill("input[name=label_fr]", f"Squat {tag}")
    admin.fill("input[name=label_nl]", f"Kraakpand {tag}")
    admin.fill("input[name=label_en]", f"Squat (en) {tag}")
    submit(admin)
    assert f"Squat {tag}" in admin.inner_text("main")

    # A new street educator in that neighbourhood, with a one-time link.
    admin.goto(f"{admin.base}/admin")
    admin.click("text=Comptes et invitations")
    admin.click("text=Inviter une personne")
    admin.fill("input[name=display_name]", f"Nadia {tag}")
    admin.fill("input[name=email]", worker_email)
    admin.select_option("select[name=role]", "field_worker")
    admin.click(f"label.chip:has-text('Nord {tag}')")
    submit(admin)
    link = admin.input_value("#account-link")
    shot(admin, "accounts-01-invitation-link")
    assert "/welcome/" in link

    # The educator opens it on their phone and chooses a password.
    educator = phones()
    educator.goto(link)
    assert _path(educator) == "/welcome"  # the token left the address bar at once
    educator.fill("input[name=new_password]", "password1234")
    educator.fill("input[name=confirm]", "password1234")
    submit(educator)
    assert "trop courant" in educator.inner_text("main")
    educator.fill("input[name=new_password]", NEW_PASSWORD)
    educator.fill("input[name=confirm]", NEW_PASSWORD)
    shot(educator, "accounts-02-choose-password")
    submit(educator)
    assert _path(educator) == "/today"
    assert educator.inner_text(".topbar .who") == f"Nadia {tag}"

    # …and records a contact with the new theme.
    educator.goto(f"{educator.base}/contacts/new")
    educator.click(f"label.chip:has-text('Squat {tag}')")
    shot(educator, "accounts-03-new-theme-on-the-form")
    educator.click("button[value=done]")
    educator.wait_for_url("**/today")
    with live_server.app.app_context():
        contact = db.session.scalars(select(Contact).join(
            Neighbourhood, Contact.neighbourhood_id == Neighbourhood.id).where(
            Neighbourhood.code == f"nord-{tag}")).one()
        assert contact.codes("theme") == [f"squat_{tag}"]
        db.session.remove()

    # The admin deactivates the account; the phone is signed out at its next request.
    admin.goto(f"{admin.base}/users")
    admin.click(f"text=Nadia {tag}")
    admin.click("button:has-text('Désactiver le compte')")
    admin.wait_for_load_state()
    assert "Désactivé" in admin.inner_text("main")
    educator.goto(f"{educator.base}/contacts")
    assert _path(educator) == "/login"
    assert educator.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401
    shot(educator, "accounts-04-signed-out")
    # And the password chosen no longer opens anything.
    sign_in(educator, worker_email, NEW_PASSWORD)
    assert _path(educator) == "/login"


def test_a_coordinator_turns_on_two_factor_and_signs_in_with_it(phone, live_server, tag):
    email = f"coord-{tag}@e2e.test"
    with live_server.app.app_context():
        if db.session.scalar(select(Neighbourhood).where(Neighbourhood.code == "colignon")) \
                is None:
            pytest.fail("the e2e world has no Colignon")
        db.session.remove()
    _account(live_server, email, Role.COORDINATOR, neighbourhoods=["colignon"],
             display_name=f"Coordination {tag}")
    sign_in(phone, email)
    phone.click(".topbar .who")
    phone.click("text=Gérer la double authentification")
    phone.click("button:has-text(\"Commencer l'activation\")")
    assert phone.locator(".qr-box svg").count() == 1  # drawn by the app itself
    phone.click("summary")
    key = phone.inner_text(".totp-key").replace(" ", "")
    totp = pyotp.TOTP(key)
    shot(phone, "accounts-05-two-factor-enrolment")
    phone.fill("form[action$='/confirm'] input[name=code]", totp.now())
    phone.click("form[action$='/confirm'] button[type=submit]")
    phone.wait_for_load_state()
    assert phone.locator(".recovery-list li").count() == 10
    sign_out(phone)

    # The password alone no longer signs in: the code is asked, on a second page.
    sign_in(phone, email)
    assert _path(phone) == "/login/code"
    assert phone.locator(".topbar .who").count() == 0
    # The code of the next 30 seconds: the one used to enrol is never accepted twice.
    phone.fill("input[name=code]", totp.at(time.time() + 30))
    shot(phone, "accounts-06-code-step")
    phone.click("form button.primary")
    phone.wait_for_load_state()
    assert phone.inner_text(".topbar .who") == f"Coordination {tag}"
    assert _path(phone).startswith("/evaluation")
