"""Objectives and indicators in the reader's language: Dutch and English texts beside the French
reference one, on the dashboard, in the exports, on the printed report and in the API; French
when a text is not translated; loaded from the CSVs and edited (and versioned) by coordinators."""

from __future__ import annotations

import html
from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.loaders import load_evaluation, load_indicators, load_objectives
from app.models import Indicator, Objective, RecordVersion

from .conftest import Api, csrf_from, login
from .evaluation_data import BXL
from .test_pages_versions import changed, page_form

# raq_m2_contacts and its objective RAQ M2, as app/data/clss-*.csv write them.
TEXTS = {
    "fr": ("Contacts individuels", "Assurer une orientation individuelle"),
    "nl": ("Individuele contacten", "Individuele doorverwijzing verzekeren"),
    "en": ("Individual contacts", "Provide individual referral"),
}


def _reader(app, email: str, lang: str):
    client = app.test_client()
    login(client, email)
    client.post("/language", data={"lang": lang, "csrf_token": csrf_from(
        client.get("/evaluation").text)})
    return client


@pytest.fixture
def frame(app, world):
    with app.app_context():
        load_evaluation()


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_dashboard_export_and_print_read_in_the_readers_language(app, world, frame, lang):
    label, title = TEXTS[lang]
    client = _reader(app, world.coordinator.key, lang)
    year = datetime.now(BXL).year
    pages = {
        "dashboard": client.get(f"/evaluation?period=year&year={year}"),
        "csv": client.get(f"/evaluation/export/indicators.csv?year={year}"),
        "print": client.get(f"/evaluation/print?year={year}"),
        "indicators": client.get("/evaluation/indicators"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = html.unescape(response.data.decode("utf-8-sig"))
        assert label in text, (lang, name)
        if name != "csv":  # the CSV has no objective titles, only their codes
            assert title in text, (lang, name)
        for other, (other_label, other_title) in TEXTS.items():
            if other != lang:
                assert other_label not in text and other_title not in text, (lang, name, other)


def test_the_api_gives_the_label_in_the_readers_language_and_all_three(app, world, frame):
    api = Api(app.test_client(), world.coordinator.key)
    api.client.post("/language", data={"lang": "en", "csrf_token": csrf_from(
        api.client.get("/evaluation").text)})
    body = api.get("/indicators?neighbourhood=colignon").get_json()
    contacts = next(i for i in body["indicators"] if i["code"] == "raq_m2_contacts")
    assert contacts["label"] == "Individual contacts"
    assert contacts["labels"] == {"fr": "Contacts individuels", "nl": "Individuele contacten",
                                  "en": "Individual contacts"}


def test_an_untranslated_text_is_shown_in_french(app, world, frame):
    with app.app_context():
        indicator = db.session.scalar(select(Indicator).where(
            Indicator.code == "raq_m2_contacts"))
        indicator.label_nl = None
        indicator.label_en = ""
        indicator.objective.title_nl = "   "
        db.session.commit()
    year = datetime.now(BXL).year
    for lang in ("nl", "en"):
        client = _reader(app, world.coordinator.key, lang)
        for url in (f"/evaluation?period=year&year={year}", f"/evaluation/print?year={year}",
                    f"/evaluation/export/indicators.csv?year={year}"):
            text = html.unescape(client.get(url).data.decode("utf-8-sig"))
            assert TEXTS["fr"][0] in text, (lang, url)
            if lang == "nl" and "csv" not in url:
                assert TEXTS["fr"][1] in text, url


def test_title_and_label_fall_back_to_french():
    objective = Objective(title_fr="Titre", title_nl="Titel", title_en=None)
    indicator = Indicator(label_fr="Libellé", label_nl="", label_en="Label")
    assert [objective.title(lang) for lang in ("fr", "nl", "en", "de")] == \
        ["Titre", "Titel", "Titre", "Titre"]
    assert [indicator.label(lang) for lang in ("fr", "nl", "en", "nl_BE")] == \
        ["Libellé", "Libellé", "Label", "Libellé"]


# -- the CSVs ------------------------------------------------------------------------------------
OBJECTIVES_OLD = "plan,code,parent,level,title_fr,target\nZZ,1,,general,Titre un,\n"
INDICATORS_OLD = ("plan,objective,code,label_fr,record,measure,filter\n"
                  "ZZ,1,zz_contacts,Contacts,contact,people,\n")
OBJECTIVES_NEW = ("plan,code,parent,level,title_fr,target,title_nl,title_en\n"
                  "ZZ,1,,general,Titre un,,Titel een,Title one\n")
INDICATORS_NEW = ("plan,objective,code,label_fr,record,measure,filter,label_nl,label_en\n"
                  "ZZ,1,zz_contacts,Contacts,contact,people,,Contacten,\n")


def _load(app, tmp_path, objectives: str, indicators: str):
    (tmp_path / "o.csv").write_text(objectives, encoding="utf-8")
    (tmp_path / "i.csv").write_text(indicators, encoding="utf-8")
    with app.app_context():
        reports = load_objectives(tmp_path / "o.csv"), load_indicators(tmp_path / "i.csv")
        assert not reports[0].rejected and not reports[1].rejected
        objective = db.session.scalar(select(Objective).where(Objective.plan == "ZZ"))
        indicator = db.session.scalar(select(Indicator).where(
            Indicator.code == "zz_contacts"))
        return ((objective.title_fr, objective.title_nl, objective.title_en),
                (indicator.label_fr, indicator.label_nl, indicator.label_en))


def test_the_loaders_read_the_translations_and_still_accept_older_csvs(app, world, tmp_path):
    assert _load(app, tmp_path, OBJECTIVES_OLD, INDICATORS_OLD) == (
        ("Titre un", None, None), ("Contacts", None, None))
    assert _load(app, tmp_path, OBJECTIVES_NEW, INDICATORS_NEW) == (
        ("Titre un", "Titel een", "Title one"), ("Contacts", "Contacten", None))
    # An older CSV leaves the translations already there as they are.
    assert _load(app, tmp_path, OBJECTIVES_OLD.replace("Titre un", "Titre 1"),
                 INDICATORS_OLD) == (
        ("Titre 1", "Titel een", "Title one"), ("Contacts", "Contacten", None))


def test_the_built_in_frame_is_translated_throughout(app, world, frame):
    with app.app_context():
        for record in [*db.session.scalars(select(Objective)),
                       *db.session.scalars(select(Indicator))]:
            texts = ((record.title_fr, record.title_nl, record.title_en)
                     if isinstance(record, Objective)
                     else (record.label_fr, record.label_nl, record.label_en))
            assert all(texts) and len(set(texts)) == 3, texts


# -- the coordinators' forms ---------------------------------------------------------------------
def _form(client, url: str):
    return page_form(client.get(url).text)


def _changes(app, record_type: str, record_id) -> list:
    with app.app_context():
        return list(db.session.scalars(select(RecordVersion.changed).where(
            RecordVersion.record_type == record_type,
            RecordVersion.record_id == str(record_id)).order_by(RecordVersion.version)))


def test_coordinators_edit_and_version_the_three_languages(app, world, frame):
    with app.app_context():
        objective_id = db.session.scalar(select(Objective.id).where(
            Objective.plan == "RAQ", Objective.code == "M1"))
        indicator_id = db.session.scalar(select(Indicator.id).where(
            Indicator.code == "raq_m1_actions"))
    client = app.test_client()
    login(client, world.coordinator.key)

    url = f"/evaluation/objectives/{objective_id}/edit"
    page = client.get(url).text
    assert 'name="title_nl"' in page and 'lang="nl"' in page and 'name="title_en"' in page
    form = changed(_form(client, url), title_nl="Netwerken in de wijk", title_en="")
    assert client.post(url, data=form).status_code == 302
    with app.app_context():
        objective = db.session.get(Objective, objective_id)
        assert (objective.title_nl, objective.title_en) == ("Netwerken in de wijk", None)
    assert {"title_nl", "title_en"} <= set(_changes(app, "objective", objective_id)[-1])

    url = f"/evaluation/indicators/{indicator_id}/edit"
    form = _form(client, url)
    assert form["label_nl"] == "Gevoerde netwerkacties"
    form = changed(form, label_nl="Netwerkacties", label_en="  ")
    assert client.post(url, data=form).status_code == 302
    with app.app_context():
        indicator = db.session.get(Indicator, indicator_id)
        assert (indicator.label_fr, indicator.label_nl, indicator.label_en) == \
            ("Actions de maillage menées", "Netwerkacties", None)
    assert set(_changes(app, "indicator", indicator_id)[-1]) == {"label_nl", "label_en"}

    # The page in English shows the English text; a new indicator can be created with all three.
    english = _reader(app, world.coordinator.key, "en")
    assert "Build a network across the neighbourhood" not in \
        html.unescape(english.get("/evaluation/indicators").text)  # its English was emptied
    new = changed(_form(english, "/evaluation/indicators/new"),
                  objective_id=str(objective_id), code="raq_m1_nouveau", label_fr="Nouveau",
                  label_nl="Nieuw", label_en="New", record="contact", measure="people",
                  filter="", position="9")
    assert english.post("/evaluation/indicators/new", data=new).status_code == 302
    with app.app_context():
        created = db.session.scalar(select(Indicator).where(
            Indicator.code == "raq_m1_nouveau"))
        assert (created.label_fr, created.label_nl, created.label_en) == \
            ("Nouveau", "Nieuw", "New")
    assert 'row-main">New' in english.get("/evaluation/indicators").text
