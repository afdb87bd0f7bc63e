"""Versions on the pages: edit forms carry the version they were opened at, a stale form is
merged, a real conflict is asked field by field, and each record's page shows its history
to the team only (issue 10, items 2 and 4; app/conflicts.py).

The forms are submitted as a browser would: every field the page renders, with its value
(`page_form`), so what is tested is what the page really sends.
"""

from __future__ import annotations

import re
import uuid
from html import unescape
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app import crypto, versions
from app.extensions import db
from app.loaders import load_evaluation
from app.models import (
    AuditEvent,
    CollectiveAction,
    Contact,
    Indicator,
    Objective,
    Organisation,
    RecordVersion,
)

from .conftest import Api, login
from .helpers import contact_payload, new_id
from .helpers import moment as moment_ago


# -- a browser, as far as forms go ------------------------------------------------------------
class _FormReader(HTMLParser):
    """The fields a browser would send for the POST form of a page (not the language form)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_form = a.get("method", "").lower() == "post" \
                and "/language" not in a.get("action", "")
            if self._in_form:
                self.forms.append([])
            return
        if not self._in_form:
            return
        fields = self.forms[-1]
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "file"):
                fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            chosen = [v for v, selected in self._options if selected] or \
                [v for v, _ in self._options[:1]]
            self.forms[-1].extend((self._select, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = unescape(self._text)  # a browser drops one line break after <textarea>
            text = text[2:] if text.startswith("\r\n") else text[1:] if text.startswith(
                "\n") else text
            self.forms[-1].append((self._textarea, text))
            self._textarea = None


def page_form(html: str) -> MultiDict:
    reader = _FormReader()
    reader.feed(html)
    assert reader.forms, "no form on the page"
    return MultiDict(reader.forms[0])


def changed(form: MultiDict, **fields) -> MultiDict:
    """The form with some fields typed in (a list for checkboxes)."""
    out = MultiDict(form)
    for name, value in fields.items():
        out.setlist(name, value if isinstance(value, list) else [value])
    return out


def signed_in(app, email: str):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def flashed(response) -> str:
    return " ".join(unescape(m) for m in re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>',
                                                     response.text, re.S))


def conflict_fields(html: str) -> list[str]:
    return re.findall(r'<fieldset class="conflict-field" data-field="([a-z_]+)"', html)


def kept_versions(app, record_type: str, record_id) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(RecordVersion.version).where(
            RecordVersion.record_type == record_type,
            RecordVersion.record_id == str(record_id)).order_by(RecordVersion.version)))


@pytest.fixture
def amina(app, world):
    return signed_in(app, world.worker.key)


@pytest.fixture
def yannick(app, world):
    return signed_in(app, world.colleague.key)


def _contact(app, world, **fields) -> str:
    api = Api(app.test_client(), world.worker.key)
    contact_id = new_id()
    response = api.put(f"/contacts/{contact_id}", contact_payload(**fields))
    assert response.status_code == 201, response.get_json()
    return contact_id


def _stored(app, contact_id) -> Contact:
    with app.app_context():
        contact = db.session.get(Contact, uuid.UUID(contact_id))
        db.session.expunge(contact)
        return contact


def _contact_state(app, contact_id) -> dict:
    with app.app_context():
        contact = db.session.get(Contact, uuid.UUID(contact_id))
        return {**versions.snapshot(contact), "version": contact.version}


# -- contacts ---------------------------------------------------------------------------------
def test_the_edit_form_carries_the_version_it_was_opened_at(app, world, amina, yannick):
    contact_id = _contact(app, world)
    url = f"/contacts/{contact_id}/edit"
    assert page_form(amina.get(url).text)["version"] == "1"
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          people_count="5")).status_code == 302
    assert page_form(amina.get(url).text)["version"] == "2"


def test_a_stale_form_keeps_a_colleagues_change_of_other_fields(app, world, amina, yannick):
    contact_id = _contact(app, world, themes=["logement", "expulsion"])
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)  # Amina opens the form (version 1)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          people_count="5")).status_code == 302
    # Amina saves her older copy, where she changed the themes only.
    response = amina.post(url, data=changed(hers, themes=["logement", "sante"]),
                          follow_redirects=True)
    assert response.status_code == 200
    message = flashed(response)
    assert "Contact modifié." in message and "Nombre de personnes" in message
    state = _contact_state(app, contact_id)
    assert state["people_count"] == 5 and state["themes"] == ["logement", "sante"]
    assert state["version"] == 3
    # Every other field she sent back untouched is as it was (not "changed" by the page).
    assert kept_versions(app, "contact", contact_id) == [1, 2, 3]
    with app.app_context():
        rows = {row.version: row for row in db.session.scalars(select(RecordVersion).where(
            RecordVersion.record_id == contact_id))}
        # The moment, shown to the minute, was sent back untouched: not a change.
        assert rows[2].changed == ["people_count"] and rows[2].via == "page"
        assert rows[3].changed == ["themes"] and rows[3].via == "merge"


def test_multi_valued_fields_merge_as_sets(app, world, amina, yannick):
    contact_id = _contact(app, world, themes=["logement", "expulsion"])
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          themes=["logement", "expulsion", "sante"])
                        ).status_code == 302
    assert amina.post(url, data=changed(hers, themes=["logement", "emploi_formation"])
                      ).status_code == 302
    assert _contact_state(app, contact_id)["themes"] == ["emploi_formation", "logement",
                                                         "sante"]


def test_the_same_field_is_asked_and_nothing_is_written(app, world, amina, yannick):
    contact_id = _contact(app, world, people_count=2)
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          people_count="5")).status_code == 302
    before = _contact_state(app, contact_id)
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(RecordVersion))

    asked = amina.post(url, data=changed(hers, people_count="3", themes=["sante"]))
    assert asked.status_code == 409
    html = asked.text
    assert conflict_fields(html) == ["people_count"]
    section = html[html.index('<section class="conflict"'):html.index("</section>")]
    assert re.search(r'value="yours" required> <span class="who">Votre version</span> '
                     r'<span class="value">3</span>', section)
    assert re.search(r'value="theirs" required> <span class="who">Version actuelle '
                     r'\(collègue\)</span> <span class="value">5</span>', section)
    assert "par Yannick" in section and "checked" not in section  # nothing pre-chosen
    assert "Garder les deux" not in section  # only for free text
    # Nothing written.
    assert _contact_state(app, contact_id) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RecordVersion)) == rows

    # The form is shown again with her other fields, and the version she now compares with.
    again = page_form(html)
    assert again["version"] == "2" and again["base_version"] == "1"
    assert again.getlist("conflicts") == ["people_count"]
    assert again.getlist("themes") == ["sante"] and again["people_count"] == "3"

    # Without a choice, the same question again, still nothing written.
    unanswered = amina.post(url, data=again)
    assert unanswered.status_code == 409 and conflict_fields(unanswered.text) == ["people_count"]
    assert "Choisissez, pour chaque champ" in unanswered.text
    assert _contact_state(app, contact_id) == before

    saved = amina.post(url, data=changed(again, choice__people_count="yours"))
    assert saved.status_code == 302
    state = _contact_state(app, contact_id)
    assert state["people_count"] == 3 and state["themes"] == ["sante"]
    assert kept_versions(app, "contact", contact_id) == [1, 2, 3]


def test_choosing_the_colleagues_value_keeps_it(app, world, amina, yannick):
    contact_id = _contact(app, world, people_count=2, age_band="25_34")
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    theirs = page_form(yannick.get(url).text)
    assert yannick.post(url, data=changed(theirs, people_count="5", age_band="35_64")
                        ).status_code == 302
    asked = amina.post(url, data=changed(hers, people_count="3", age_band="65_plus"))
    assert asked.status_code == 409
    assert sorted(conflict_fields(asked.text)) == ["age_band", "people_count"]
    # Vocabulary labels, never codes.
    assert '<span class="value">35-64 ans</span>' in asked.text
    assert '<span class="value">65 ans et plus</span>' in asked.text
    form = changed(page_form(asked.text), choice__people_count="theirs",
                   choice__age_band="yours")
    assert amina.post(url, data=form).status_code == 302
    state = _contact_state(app, contact_id)
    assert state["people_count"] == 5 and state["age_band"] == "65_plus"


def test_a_note_can_keep_both_texts(app, world, amina, yannick):
    contact_id = _contact(app, world, note="Note de départ")
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert hers["note"] == "Note de départ"
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          note="Rappeler jeudi")).status_code == 302
    asked = amina.post(url, data=changed(hers, note="Orientée vers le CPAS"))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["note"]
    assert 'name="choice__note" value="both"' in asked.text
    assert "Rappeler jeudi" in asked.text and "Orientée vers le CPAS" in asked.text
    with app.app_context():  # showing the colleague's note is a reading
        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "note_read", AuditEvent.object_id == contact_id,
            AuditEvent.detail["via"].as_string() == "conflict_page")) is not None
    assert amina.post(url, data=changed(page_form(asked.text), choice__note="both")
                      ).status_code == 302
    assert _contact_state(app, contact_id)["note"] == "Orientée vers le CPAS\n\nRappeler jeudi"


def test_a_note_sent_back_untouched_is_not_a_change(app, world, amina, yannick):
    """A browser sends a textarea's line breaks as CRLF and a moment to the minute: a field
    left as the page showed it must not count as a change (nor as a conflict)."""
    contact_id = _contact(app, world, note="ligne 1\nligne 2")
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          note="ligne 1\nligne 2\nligne 3")).status_code == 302
    response = amina.post(url, data=changed(hers, note=hers["note"].replace("\n", "\r\n"),
                                            people_count="4"))
    assert response.status_code == 302
    state = _contact_state(app, contact_id)
    assert state["note"] == "ligne 1\nligne 2\nligne 3" and state["people_count"] == 4
    with app.app_context():
        last = db.session.scalar(select(RecordVersion).where(
            RecordVersion.record_id == contact_id, RecordVersion.version == 3))
        assert last.changed == ["people_count"]


def test_a_person_code_conflict_never_shows_a_code(app, world, amina, yannick):
    contact_id = _contact(app, world, person_code="AB-12")
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          person_code="CD-34")).status_code == 302
    asked = amina.post(url, data=changed(hers, person_code="EF-56"))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["person_code"]
    for code in ("AB-12", "CD-34", "EF-56", "AB12", "CD34", "EF56"):
        assert code not in asked.text
    for code in ("AB-12", "CD-34", "EF-56"):  # nor its hash
        assert _person_code_hash(app, code) not in asked.text
    assert _stored(app, contact_id).person_code_hash == _person_code_hash(app, "CD-34")
    assert "Garder le code de votre collègue" in asked.text
    form = page_form(asked.text)
    assert form["person_code"] == ""
    # "Keep the code I typed" without typing it again: asked again, nothing written.
    again = amina.post(url, data=changed(form, choice__person_code="yours"))
    assert again.status_code == 409 and "tapez-le à nouveau" in again.text
    assert _stored(app, contact_id).person_code_hash == _person_code_hash(app, "CD-34")
    assert amina.post(url, data=changed(page_form(again.text), choice__person_code="yours",
                                        person_code="EF-56")).status_code == 302
    assert _stored(app, contact_id).person_code_hash == _person_code_hash(app, "EF-56")


def test_keeping_the_colleagues_code(app, world, amina, yannick):
    contact_id = _contact(app, world, person_code="AB-12")
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          person_code="CD-34")).status_code == 302
    asked = amina.post(url, data=changed(hers, person_code="EF-56", people_count="7"))
    form = changed(page_form(asked.text), choice__person_code="theirs")
    assert amina.post(url, data=form).status_code == 302
    contact = _stored(app, contact_id)
    assert contact.person_code_hash == _person_code_hash(app, "CD-34")
    assert contact.people_count == 7


def _person_code_hash(app, code: str) -> str:
    with app.app_context():
        return crypto.person_code_hash(code)


def test_a_form_without_a_version_never_overwrites_silently(app, world, amina, yannick):
    contact_id = _contact(app, world, people_count=2)
    url = f"/contacts/{contact_id}/edit"
    old_page = page_form(amina.get(url).text)
    del old_page["version"]  # a page opened before versions existed
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          people_count="5")).status_code == 302
    before = _contact_state(app, contact_id)
    asked = amina.post(url, data=changed(old_page, themes=["sante"]))
    # Its base is unknown: every field that differs from the stored record is asked, the
    # colleague's people_count included; nothing is written.
    assert asked.status_code == 409
    assert conflict_fields(asked.text) == ["people_count", "themes"]
    assert "ne dit pas quelle version" in asked.text
    assert _contact_state(app, contact_id) == before
    form = changed(page_form(asked.text), choice__people_count="theirs",
                   choice__themes="yours")
    assert amina.post(url, data=form).status_code == 302
    state = _contact_state(app, contact_id)
    assert state["people_count"] == 5 and state["themes"] == ["sante"]


def test_a_form_without_a_version_that_changes_nothing_is_harmless(app, world, amina):
    contact_id = _contact(app, world)
    url = f"/contacts/{contact_id}/edit"
    form = page_form(amina.get(url).text)
    assert amina.post(url, data=changed(form, people_count="4")).status_code == 302
    form = page_form(amina.get(url).text)
    del form["version"]
    assert amina.post(url, data=form).status_code == 302
    assert _contact_state(app, contact_id)["version"] == 2


def test_a_field_message_keeps_the_version_first_seen(app, world, amina, yannick):
    """A form shown again for a field message (here after a conflict screen) must not carry a
    newer version than its person saw, or the next save would take a colleague's change for
    hers unasked."""
    contact_id = _contact(app, world, people_count=2)
    url = f"/contacts/{contact_id}/edit"
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          people_count="5")).status_code == 302
    asked = amina.post(url, data=changed(hers, people_count="3"))
    invalid = amina.post(url, data=changed(page_form(asked.text), choice__people_count="theirs",
                                           occurred_at="pas une date"))
    assert invalid.status_code == 422
    form = page_form(invalid.text)
    assert form["version"] == "1"
    again = amina.post(url, data=changed(form, occurred_at=hers["occurred_at"]))
    assert again.status_code == 409 and conflict_fields(again.text) == ["people_count"]
    assert _contact_state(app, contact_id)["people_count"] == 5


def test_an_edit_keeps_the_contacts_ended_outing(app, world, amina):
    """The form offers open outings; the contact's own, once ended, must stay on offer, or
    every edit would detach the contact from it unasked."""
    api = Api(app.test_client(), world.worker.key)
    outing_id = new_id()
    assert api.put(f"/outings/{outing_id}", {
        "neighbourhood": "colignon", "kind": "maraude", "started_at": moment_ago(90),
        "ended_at": moment_ago(30)}).status_code == 201
    contact_id = _contact(app, world, outing=outing_id, occurred_at=moment_ago(60))
    url = f"/contacts/{contact_id}/edit"
    form = page_form(amina.get(url).text)
    assert form["outing"] == outing_id
    assert amina.post(url, data=changed(form, people_count="6")).status_code == 302
    state = _contact_state(app, contact_id)
    assert state["outing"] == outing_id and state["people_count"] == 6


# -- collective actions -----------------------------------------------------------------------
def _action(app, world) -> str:
    api = Api(app.test_client(), world.worker.key)
    action_id = new_id()
    assert api.put(f"/collective-actions/{action_id}", {
        "neighbourhood": "colignon", "mission": "maillage", "occurred_on": "2026-03-05",
        "participants": 10, "themes": ["logement"], "organisations": [world.cpas.id],
    }).status_code == 201
    return action_id


def test_collective_action_merges_then_asks(app, world, amina, yannick):
    action_id = _action(app, world)
    url = f"/collective-actions/{action_id}/edit"
    hers = page_form(amina.get(url).text)
    assert hers["version"] == "1"
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          participants="12")).status_code == 302
    merged = amina.post(url, data=changed(hers, themes=["logement", "sante"]),
                        follow_redirects=True)
    assert "Participants" in flashed(merged)
    hers = page_form(amina.get(url).text)  # version 3
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          organisations=[str(world.other_org.id)])
                        ).status_code == 302
    asked = amina.post(url, data=changed(hers, organisations=[str(world.cpas.id),
                                                              str(world.other_org.id)],
                                         participants="20"))
    # Partner services merge as sets: no question there; participants did not change
    # since version 3 on the colleague's side either: merged, saved.
    assert asked.status_code == 302
    with app.app_context():
        action = db.session.get(CollectiveAction, uuid.UUID(action_id))
        assert action.participants == 20 and action.codes("theme") == ["logement", "sante"]
        assert sorted(o.id for o in action.organisations) == [world.other_org.id]
    hers = page_form(amina.get(url).text)
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text),
                                          participants="25")).status_code == 302
    asked = amina.post(url, data=changed(hers, participants="30"))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["participants"]
    with app.app_context():
        assert db.session.get(CollectiveAction, uuid.UUID(action_id)).participants == 25
    assert amina.post(url, data=changed(page_form(asked.text), choice__participants="theirs")
                      ).status_code == 302
    with app.app_context():
        assert db.session.get(CollectiveAction, uuid.UUID(action_id)).participants == 25
    page = amina.get(url).text
    assert "Historique des modifications" in page and "Participants" in page


# -- the directory (admin) --------------------------------------------------------------------
def test_organisation_two_tabs(app, world):
    admin = signed_in(app, world.admin.key)
    url = f"/admin/directory/{world.cpas.id}/edit"
    first, second = page_form(admin.get(url).text), page_form(admin.get(url).text)
    assert first["version"] == "1"
    assert admin.post(url, data=changed(second, phone="02 111 11 11")).status_code == 302
    merged = admin.post(url, data=changed(first, commune="Bruxelles"), follow_redirects=True)
    assert "Téléphone" in flashed(merged)
    with app.app_context():
        org = db.session.get(Organisation, world.cpas.id)
        assert (org.phone, org.commune, org.version) == ("02 111 11 11", "Bruxelles", 3)
    asked = admin.post(url, data=changed(first, phone="02 222 22 22"))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["phone"]
    assert "02 111 11 11" in asked.text and "02 222 22 22" in asked.text
    with app.app_context():
        assert db.session.get(Organisation, world.cpas.id).phone == "02 111 11 11"
    form = page_form(asked.text)
    assert form["commune"] == "Bruxelles" and form["version"] == "3"
    assert admin.post(url, data=changed(form, choice__phone="yours")).status_code == 302
    with app.app_context():
        org = db.session.get(Organisation, world.cpas.id)
        assert (org.phone, org.commune, org.active) == ("02 222 22 22", "Bruxelles", True)


def test_organisation_form_without_version_is_asked(app, world):
    admin = signed_in(app, world.admin.key)
    url = f"/admin/directory/{world.cpas.id}/edit"
    form = page_form(admin.get(url).text)
    assert admin.post(url, data=changed(form, commune="Evere")).status_code == 302
    del form["version"]
    asked = admin.post(url, data=changed(form, phone="02 333 33 33"))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["commune", "phone"]
    with app.app_context():
        assert db.session.get(Organisation, world.cpas.id).commune == "Evere"


# -- the evaluation frame (coordinator) -------------------------------------------------------
@pytest.fixture
def frame(app, world):
    with app.app_context():
        load_evaluation()
        objective = db.session.scalar(select(Objective).order_by(Objective.id))
        indicator = db.session.scalar(select(Indicator).order_by(Indicator.id))
        return objective.id, indicator.id


def test_objective_conflict(app, world, frame):
    objective_id, _ = frame
    coordinator = signed_in(app, world.coordinator.key)
    url = f"/evaluation/objectives/{objective_id}/edit"
    first, second = page_form(coordinator.get(url).text), page_form(coordinator.get(url).text)
    assert coordinator.post(url, data=changed(second, title_fr="Titre B")).status_code == 302
    merged = coordinator.post(url, data=changed(first, target="40"), follow_redirects=True)
    assert "Intitulé" in flashed(merged)
    asked = coordinator.post(url, data=changed(first, title_fr="Titre A"))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["title_fr"]
    with app.app_context():
        objective = db.session.get(Objective, objective_id)
        assert (objective.title_fr, objective.target) == ("Titre B", 40)
    assert coordinator.post(url, data=changed(page_form(asked.text), choice__title_fr="yours")
                            ).status_code == 302
    with app.app_context():
        objective = db.session.get(Objective, objective_id)
        assert (objective.title_fr, objective.target, objective.version) == ("Titre A", 40, 4)


def test_indicator_conflict(app, world, frame):
    _, indicator_id = frame
    coordinator = signed_in(app, world.coordinator.key)
    url = f"/evaluation/indicators/{indicator_id}/edit"
    first, second = page_form(coordinator.get(url).text), page_form(coordinator.get(url).text)
    assert coordinator.post(url, data=changed(second, label_fr="Libellé B")).status_code == 302
    assert coordinator.post(url, data=changed(first, position="7")).status_code == 302
    asked = coordinator.post(url, data=changed(first, label_fr="Libellé A", active=[]))
    assert asked.status_code == 409 and conflict_fields(asked.text) == ["label_fr"]
    with app.app_context():
        indicator = db.session.get(Indicator, indicator_id)
        assert (indicator.label_fr, indicator.position, indicator.active) == \
            ("Libellé B", 7, True)
    form = page_form(asked.text)
    assert form["position"] == "7" and "active" not in form  # her unticked box is kept
    assert coordinator.post(url, data=changed(form, choice__label_fr="theirs")
                            ).status_code == 302
    with app.app_context():
        indicator = db.session.get(Indicator, indicator_id)
        assert (indicator.label_fr, indicator.position, indicator.active) == \
            ("Libellé B", 7, False)


# -- history on the record's pages ------------------------------------------------------------
def test_contact_history_for_the_team_only(app, world, amina, yannick):
    contact_id = _contact(app, world, note="TEXTE-ANCIEN", person_code="AB-12")
    page = amina.get(f"/contacts/{contact_id}").text
    assert "Historique des modifications" in page and "Créé par Amina" in page
    url = f"/contacts/{contact_id}/edit"
    assert yannick.post(url, data=changed(page_form(yannick.get(url).text), note="TEXTE-NEUF",
                                          people_count="4", person_code="CD-34")
                        ).status_code == 302
    page = amina.get(f"/contacts/{contact_id}").text
    history = page[page.index("Historique des modifications"):]
    assert "Créé par Amina" in history and "Yannick" in history
    assert "Nombre de personnes" in history and "note modifiée" in history
    assert "code personne modifié" in history
    for secret in ("TEXTE-ANCIEN", "TEXTE-NEUF", "AB-12", "CD-34"):
        assert secret not in page
    coordinator = signed_in(app, world.coordinator.key)
    refused = coordinator.get(f"/contacts/{contact_id}")
    assert refused.status_code in (403, 404) and "Historique des modifications" not in \
        refused.text


def test_bridge_and_referral_history(app, world, amina):
    api = Api(app.test_client(), world.worker.key)
    contact_id = _contact(app, world, person_code="ZZ-1")
    bridge_id, step_id = new_id(), new_id()
    assert api.put(f"/bridges/{bridge_id}", {"contact": contact_id}).status_code == 201
    assert api.put(f"/bridges/{bridge_id}/steps/{step_id}", {
        "occurred_on": "2026-01-04", "kind": "rencontre", "note": "ETAPE-ANCIENNE"}
    ).status_code == 201
    assert api.put(f"/bridges/{bridge_id}/steps/{step_id}", {
        "occurred_on": "2026-01-04", "kind": "rencontre", "note": "ETAPE-NEUVE"},
        headers={"If-Match": '"1"'}).status_code == 200
    assert amina.post(f"/bridges/{bridge_id}/handover", data={
        "csrf_token": page_form(amina.get(f"/bridges/{bridge_id}").text)["csrf_token"],
        "lead": str(world.colleague.id)}).status_code == 302
    page = amina.get(f"/bridges/{bridge_id}").text
    history = page[page.index("Historique des modifications"):]
    assert "Créé par Amina" in history and "Personne qui mène le suivi" in history
    assert "Étape du" in history and "note modifiée" in history
    assert "ETAPE-ANCIENNE" not in page and "ETAPE-NEUVE" not in page

    referral_id = new_id()
    assert api.put(f"/referrals/{referral_id}", {
        "contact": contact_id, "organisation": world.cpas.id, "modality": "rendez_vous",
        "message": "MESSAGE-SECRET", "send": True}).status_code == 201
    partner = Api(app.test_client(), world.partner.key)
    assert partner.client.post(f"/api/v1/referrals/{referral_id}/status",
                               json={"status": "received"},
                               headers={"X-CSRFToken": partner.token}).status_code == 200
    page = amina.get(f"/referrals/{referral_id}").text
    history = page[page.index("Historique des modifications"):]
    assert "Statut" in history and "Créé par Amina" in history
    partner_page = partner.client.get(f"/referrals/{referral_id}")
    assert partner_page.status_code == 200
    assert "Historique des modifications" not in partner_page.text
    assert "Créé par" not in partner_page.text
