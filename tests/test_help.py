"""Help in the app (issue 15): a page per role in French, Dutch and English, the same for
everybody (nothing personal in it), linked from every page and kept for offline use."""

from __future__ import annotations

import re

import pytest

from .conftest import csrf_from, login

ROLES = ("field_worker", "coordinator", "partner", "admin")
# One characteristic sentence of each page, per language.
SENTENCES = {
    "field_worker": {
        "fr": "Ce qu'on n'écrit jamais dans une note",
        "nl": "Wat je nooit in een notitie schrijft",
        "en": "What never goes in a note",
    },
    "coordinator": {
        "fr": "Ce que veut dire « &lt;5 »",
        "nl": "Wat \"&lt;5\" betekent",
        "en": "What \"&lt;5\" means",
    },
    "partner": {
        "fr": "Uniquement les orientations envoyées à votre service",
        "nl": "Alleen de doorverwijzingen naar jouw dienst",
        "en": "Only the referrals sent to your service",
    },
    "admin": {
        "fr": "Réinitialiser la double authentification",
        "nl": "De dagelijkse opschoning",
        "en": "The daily purge",
    },
}
INDEX = {"fr": "Chaque rôle a sa page d'aide", "nl": "Elke rol heeft een korte hulppagina",
         "en": "Each role has its own short help page"}


def _choose(client, lang: str) -> None:
    token = csrf_from(client.get("/help").text)
    response = client.post("/language", data={"lang": lang, "next": "/help",
                                              "csrf_token": token})
    assert response.status_code == 302


def _main(html: str) -> str:
    found = re.search(r'<main id="main"[^>]*>(.*?)</main>', html, re.S)
    assert found, "no <main> in the page"
    return found.group(1)


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_its_page_in_its_language(client, world, role, lang):
    assert login(client, world.user(role).key).status_code == 302
    if lang != "fr":
        _choose(client, lang)
    own = client.get("/help")
    assert own.status_code == 200
    assert SENTENCES[role][lang] in own.text
    assert f'<html lang="{lang}"' in own.text
    for other in ROLES:  # every role's page can be read, in the person's language
        page = client.get(f"/help/{other}")
        assert page.status_code == 200
        assert SENTENCES[other][lang] in page.text
        for not_this_language in {"fr", "nl", "en"} - {lang}:
            assert SENTENCES[other][not_this_language] not in page.text


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_signed_out_help_links_to_every_role(client, lang):
    if lang != "fr":
        _choose(client, lang)
    page = client.get("/help")
    assert page.status_code == 200
    assert INDEX[lang] in page.text
    for role in ROLES:
        assert f'href="/help/{role}"' in page.text
        assert SENTENCES[role][lang] in client.get(f"/help/{role}").text


def test_an_unknown_role_is_not_found(client):
    assert client.get("/help/nobody").status_code == 404
    assert client.get("/help/Field_worker").status_code == 404
    assert client.get("/help/index").status_code == 404  # the signed-out page is /help


def test_every_page_links_to_the_help(client, world):
    assert 'href="/help"' in client.get("/login").text
    for role in ROLES:
        role_client = client.application.test_client()
        login(role_client, world.user(role).key)
        assert 'href="/help"' in role_client.get("/account").text


@pytest.mark.parametrize("role", ROLES)
def test_help_holds_nothing_personal(app, client, world, role):
    """The help is the same for everybody: the person's name and address never appear in its
    content (the page's top bar is the layout's, not the help's)."""
    from app.extensions import db
    from app.models import User

    with app.app_context():
        user = db.session.get(User, world.user(role).id)
        user.display_name = "Zorglub Quelquepart"
        db.session.commit()
        email = user.email
    login(client, email)
    for lang in ("fr", "nl", "en"):
        _choose(client, lang)
        for path in ("/help", *(f"/help/{r}" for r in ROLES)):
            content = _main(client.get(path).text)
            assert "Zorglub" not in content and email not in content


def test_help_pages_are_kept_offline(app):
    pages = app.config["OFFLINE_PAGES"]
    assert "/help" in pages
    assert all(f"/help/{role}" in pages for role in ROLES)
