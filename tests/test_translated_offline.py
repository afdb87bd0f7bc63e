"""The offline side speaks the person's language: the scripts' texts come with the page, the
service worker keeps the offline pages in every language and learns which one to show."""

from __future__ import annotations

import html
import json
import re

from flask_babel import force_locale

from app.js_messages import js_messages

from .conftest import csrf_from, login

BLOCK = re.compile(r'<script type="application/json" id="relais-messages">(.*?)</script>', re.S)


def _in_dutch(client, world):
    assert login(client, world.worker.key).status_code == 302
    page = client.get("/today")
    client.post("/language", data={"lang": "nl", "next": "/today",
                                   "csrf_token": csrf_from(page.text)})


def test_pages_carry_the_scripts_texts_in_the_persons_language(app, client, world):
    _in_dutch(client, world)
    page = client.get("/today")
    assert page.headers["Content-Language"] == "nl"  # what the service worker learns
    found = BLOCK.search(page.text)
    assert found, "no JSON block of the scripts' texts"
    messages = json.loads(html.unescape(found.group(1)))
    with app.test_request_context(), force_locale("nl"):
        assert messages == json.loads(json.dumps(js_messages()))
    assert messages["fields"]["neighbourhood"] != "Quartier"  # translated already
    assert set(messages["conflict_title"]) == {"one", "other"}
    assert "%(num)d" in messages["conflict_title"]["other"]  # the script fills it


def test_offline_pages_are_kept_in_every_language(app, client):
    worker = client.get("/sw.js").text
    config = json.loads(re.search(r"var CONFIG = (\{.*?\});\n", worker).group(1))
    assert set(config["offline"]) == set(app.config["LANGUAGES"])
    for lang, (page, ended) in config["offline"].items():
        assert page in config["assets"] and ended in config["assets"]
        for url in (page, ended):
            answer = client.get(url)
            assert answer.status_code == 200
            assert answer.headers["Content-Language"] == lang
            assert f'<html lang="{lang}">' in answer.text
            assert "X-Relais-Binding" not in answer.headers  # shared: names nobody
    dutch = client.get(config["offline"]["nl"][1]).text
    assert "Connexion nécessaire" not in dutch
    assert "Connexion nécessaire" in client.get(config["offline"]["fr"][1]).text
