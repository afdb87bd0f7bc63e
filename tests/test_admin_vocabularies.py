"""Neighbourhoods and vocabularies managed in the browser by an admin (issue 13).

Codes never change and terms are never deleted; a retired term leaves the forms but keeps
its label on old records; every change is audited.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Neighbourhood, Term

from .conftest import Api, csrf_from, login
from .helpers import contact_payload, new_id


@pytest.fixture
def admin(client, world):
    assert login(client, world.admin.key).status_code == 302
    return client


def _post(client, url: str, data: dict | None = None, page: str | None = None):
    token = csrf_from(client.get(page or url).text)
    return client.post(url, data={**(data or {}), "csrf_token": token})


def _events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return found


def _terms(app, vocabulary: str) -> list[tuple[str, int, bool]]:
    with app.app_context():
        return [(t.code, t.position, t.active) for t in db.session.scalars(
            select(Term).where(Term.vocabulary == vocabulary).order_by(Term.position))]


def _term(app, vocabulary: str, code: str) -> Term:
    with app.app_context():
        term = db.session.scalar(select(Term).where(Term.vocabulary == vocabulary,
                                                    Term.code == code))
        db.session.expunge(term)
        return term


# -- neighbourhoods ------------------------------------------------------------------------
def test_admin_adds_and_renames_a_neighbourhood(app, admin):
    assert "Colignon" in admin.get("/admin/neighbourhoods").text
    response = _post(admin, "/admin/neighbourhoods/new",
                     {"code": "cureghem-nord", "name": "Cureghem Nord", "commune": "Anderlecht"})
    assert response.status_code == 302
    assert "Cureghem Nord" in admin.get("/admin/neighbourhoods").text
    # Rename: name and commune change; a code sent along is ignored, the address names it.
    response = _post(admin, "/admin/neighbourhoods/cureghem-nord/edit",
                     {"code": "autre", "name": "Cureghem", "commune": "Anderlecht (1070)"})
    assert response.status_code == 302
    with app.app_context():
        places = {n.code: (n.name, n.commune) for n in db.session.scalars(select(Neighbourhood))}
    assert places["cureghem-nord"] == ("Cureghem", "Anderlecht (1070)")
    assert "autre" not in places
    saved = _events(app, "neighbourhood_saved")
    assert [e.detail["created"] for e in saved] == [True, False]
    assert {e.detail["code"] for e in saved} == {"cureghem-nord"}
    assert saved[1].detail["changed"] == ["commune", "name"]
    assert saved[0].neighbourhood_id is not None


@pytest.mark.parametrize("form, field", [
    ({"code": "colignon", "name": "Autre", "commune": "Schaerbeek"}, "Un quartier porte déjà"),
    ({"code": "Nord Est", "name": "Nord", "commune": "Evere"}, "minuscules"),
    ({"code": "nord-", "name": "Nord", "commune": "Evere"}, "minuscules"),
    ({"code": "nord", "name": "", "commune": "Evere"}, "obligatoire"),
])
def test_a_bad_or_duplicate_neighbourhood_is_refused(app, admin, form, field):
    response = _post(admin, "/admin/neighbourhoods/new", form)
    assert response.status_code == 422
    assert field in response.text
    with app.app_context():
        assert db.session.scalar(select(Neighbourhood.name).where(
            Neighbourhood.code == "colignon")) == "Colignon"
    assert _events(app, "neighbourhood_saved") == []


def test_renaming_needs_a_name_and_an_existing_neighbourhood(admin):
    response = _post(admin, "/admin/neighbourhoods/colignon/edit", {"name": "", "commune": "X"})
    assert response.status_code == 422 and "obligatoire" in response.text
    assert admin.get("/admin/neighbourhoods/nowhere/edit").status_code == 404


def test_the_command_line_shares_the_rule(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["neighbourhood", "add", "Bad Code", "X", "--commune", "Y"])
    assert result.exit_code != 0 and "minuscules" in result.output
    result = runner.invoke(args=["neighbourhood", "add", "colignon", "Colignon-Haecht",
                                 "--commune", "Schaerbeek"])
    assert result.exit_code == 0, result.output
    assert _events(app, "neighbourhood_saved")[-1].detail == {
        "code": "colignon", "created": False, "changed": ["name"]}


# -- vocabularies --------------------------------------------------------------------------
def test_the_vocabularies_are_listed_with_french_titles(admin):
    page = admin.get("/admin/vocabularies")
    assert page.status_code == 200
    assert "Thèmes abordés" in page.text and "Tranches d&#39;âge" in page.text
    page = admin.get("/admin/vocabularies/theme")
    assert page.status_code == 200
    assert "Logement" in page.text and "Huisvesting" in page.text and "Housing" in page.text
    assert admin.get("/admin/vocabularies/nothing").status_code == 404
    assert admin.get("/admin/vocabularies/theme/nothing/edit").status_code == 404
    assert admin.get("/admin/vocabularies/nothing/new").status_code == 404


def test_admin_adds_a_term_at_the_end(app, admin):
    before = _terms(app, "theme")
    response = _post(admin, "/admin/vocabularies/theme/new",
                     {"code": "jeux_hasard", "label_fr": "Jeux de hasard",
                      "label_nl": "Kansspelen", "label_en": ""})
    assert response.status_code == 302
    after = _terms(app, "theme")
    assert after[-1] == ("jeux_hasard", len(before) + 1, True)
    term = _term(app, "theme", "jeux_hasard")
    assert (term.label_nl, term.label_en) == ("Kansspelen", None)
    # The English label is missing: the next page says so.
    assert "anglais" in admin.get("/admin/vocabularies/theme").text
    event = _events(app, "term_saved")[-1]
    assert event.detail == {"vocabulary": "theme", "code": "jeux_hasard", "created": True}
    assert event.object_type == "term"


@pytest.mark.parametrize("form, message", [
    ({"code": "logement", "label_fr": "Encore"}, "existe déjà"),
    ({"code": "Numérique", "label_fr": "X"}, "minuscules"),
    ({"code": "num-erique", "label_fr": "X"}, "minuscules"),
    ({"code": "jeux_hasard", "label_fr": ""}, "libellé français est obligatoire"),
])
def test_a_bad_or_duplicate_term_is_refused(app, admin, form, message):
    before = _terms(app, "theme")
    response = _post(admin, "/admin/vocabularies/theme/new", form)
    assert response.status_code == 422
    assert message in response.text
    assert _terms(app, "theme") == before
    assert _events(app, "term_saved") == []


def test_the_same_code_may_exist_in_another_vocabulary(app, admin):
    response = _post(admin, "/admin/vocabularies/situation/new",
                     {"code": "logement", "label_fr": "Logement"})
    assert response.status_code == 302
    assert _term(app, "situation", "logement").active


def test_editing_changes_labels_never_the_code(app, admin):
    response = _post(admin, "/admin/vocabularies/theme/logement/edit",
                     {"code": "housing", "label_fr": "Logement, habitat",
                      "label_nl": "Huisvesting", "label_en": "Housing"})
    assert response.status_code == 302
    term = _term(app, "theme", "logement")
    assert term.label_fr == "Logement, habitat"
    with app.app_context():
        assert db.session.scalar(select(Term).where(Term.code == "housing")) is None
    assert _events(app, "term_saved")[-1].detail == {
        "vocabulary": "theme", "code": "logement", "created": False, "changed": ["label_fr"]}
    # An empty French label is refused, with its message.
    response = _post(admin, "/admin/vocabularies/theme/logement/edit", {"label_fr": " "})
    assert response.status_code == 422 and "obligatoire" in response.text


def test_terms_move_up_and_down_and_positions_stay_dense(app, admin):
    codes = [code for code, _, _ in _terms(app, "gender")]
    page = "/admin/vocabularies/gender"
    assert _post(admin, f"/admin/vocabularies/gender/{codes[1]}/up", page=page).status_code == 302
    order = _terms(app, "gender")
    assert [c for c, _, _ in order] == [codes[1], codes[0], *codes[2:]]
    assert [p for _, p, _ in order] == list(range(1, len(codes) + 1))
    assert _post(admin, f"/admin/vocabularies/gender/{codes[1]}/down",
                 page=page).status_code == 302
    assert [c for c, _, _ in _terms(app, "gender")] == codes
    # The first cannot go up, the last cannot go down: nothing changes, nothing is audited.
    assert _post(admin, f"/admin/vocabularies/gender/{codes[0]}/up", page=page).status_code == 302
    assert _post(admin, f"/admin/vocabularies/gender/{codes[-1]}/down",
                 page=page).status_code == 302
    assert [c for c, _, _ in _terms(app, "gender")] == codes
    moved = _events(app, "term_moved")
    assert [(e.detail["code"], e.detail["direction"]) for e in moved] == [
        (codes[1], "up"), (codes[1], "down")]
    assert all(e.detail["vocabulary"] == "gender" for e in moved)
    assert admin.post("/admin/vocabularies/gender/nothing/up", data={
        "csrf_token": csrf_from(admin.get(page).text)}).status_code == 404


def test_moving_needs_the_csrf_token(app, admin):
    before = _terms(app, "gender")
    assert admin.post(f"/admin/vocabularies/gender/{before[1][0]}/up").status_code == 400
    assert _terms(app, "gender") == before


def test_there_is_no_way_to_delete_a_term(app, admin):
    token = csrf_from(admin.get("/admin/vocabularies/theme").text)
    for method in ("DELETE", "POST"):
        for url in ("/admin/vocabularies/theme/logement",
                    "/admin/vocabularies/theme/logement/delete"):
            response = admin.open(url, method=method, data={"csrf_token": token})
            assert response.status_code in (404, 405)
    assert not [r for r in app.url_map.iter_rules()
                if r.rule.startswith("/admin/vocabularies") and "DELETE" in r.methods]
    assert ("logement", 1, True) in _terms(app, "theme")


def test_a_retired_term_leaves_the_form_but_keeps_its_label(app, client, world):
    # A contact recorded with the theme "expulsion" before it is retired.
    worker = Api(app.test_client(), world.worker.key)
    contact = new_id()
    assert worker.put(f"/contacts/{contact}", contact_payload()).status_code == 201

    login(client, world.admin.key)
    response = _post(client, "/admin/vocabularies/theme/expulsion/retire",
                     page="/admin/vocabularies/theme")
    assert response.status_code == 302
    assert not _term(app, "theme", "expulsion").active
    assert "Retiré" in client.get("/admin/vocabularies/theme").text
    assert _events(app, "term_retired")[-1].detail == {"vocabulary": "theme",
                                                       "code": "expulsion"}

    # The contact form no longer offers it; the old contact still shows its label.
    form = worker.client.get("/contacts/new").text
    assert 'value="expulsion"' not in form and 'value="logement"' in form
    assert "Expulsion / conflit locatif" in worker.client.get(f"/contacts/{contact}").text
    # The old contact's edit page still offers it, chosen: saving the page keeps it.
    edit_page = worker.client.get(f"/contacts/{contact}/edit").text
    assert re.search(r'value="expulsion"\s+checked', edit_page)
    # A new contact cannot use it; the old one keeps it when edited.
    assert worker.put(f"/contacts/{new_id()}", contact_payload()).status_code == 422
    assert worker.edit(f"/contacts/{contact}", contact_payload(people_count=3)).status_code == 200
    # The evaluation still reads it (indicators filter on codes, retired ones included).
    coordinator = app.test_client()
    login(coordinator, world.coordinator.key)
    assert coordinator.get("/evaluation?n=colignon").status_code == 200

    # Brought back: offered again.
    response = _post(client, "/admin/vocabularies/theme/expulsion/restore",
                     page="/admin/vocabularies/theme")
    assert response.status_code == 302
    assert _term(app, "theme", "expulsion").active
    assert 'value="expulsion"' in worker.client.get("/contacts/new").text
    assert _events(app, "term_restored")[-1].detail == {"vocabulary": "theme",
                                                        "code": "expulsion"}


def test_the_change_shows_at_once(app, admin):
    """No stale term list after a change: the page after the redirect shows it."""
    _post(admin, "/admin/vocabularies/theme/logement/edit",
          {"label_fr": "Habitat", "label_nl": "Wonen", "label_en": "Housing"})
    page = admin.get("/admin/vocabularies/theme").text
    assert "Habitat" in page and "Wonen" in page
    vocabularies = admin.get("/api/v1/vocabularies").get_json()["vocabularies"]
    logement = next(t for t in vocabularies["theme"] if t["code"] == "logement")
    assert logement["labels"]["fr"] == "Habitat" and logement["active"]
