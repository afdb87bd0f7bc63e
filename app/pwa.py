"""The installable, offline-capable app: manifest, service worker and offline pages.

The phone keeps a few pages for use without network (``OFFLINE_PAGES``); they show a person's
day, so they are kept per person *and* per session. Every response (but static files and
this module's shared pages) says whose session it was answered in, in the header
``X-Relais-Binding: KEY|USER_ID|ENDS_AT`` (``KEY`` the session's opaque offline key,
``ENDS_AT`` in seconds since the epoch, UTC), or ``-`` when nobody is signed in; signed-in
pages also carry it in ``<meta name="relais-binding">``. The service worker keeps pages in a
cache named after the key, drops every other person's pages when it sees another key or a
signed-out answer, and serves nothing after ``ENDS_AT`` (docs/offline.md).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from .js_messages import js_messages

bp = Blueprint("pwa", __name__)
STATIC = Path(__file__).resolve().parent / "static"
# Assets the service worker keeps; their content fingerprints the cache version, so a new
# release replaces the old cache.
SHELL_ASSETS = ("css/app.css", "css/theme.css", "js/app.js", "js/queue.js", "js/offline.js",
                "icons/icon.svg", "icons/icon-192.png", "icons/icon-512.png")


BINDING_HEADER = "X-Relais-Binding"
# Answers that are the same for everybody and kept in the shared shell: no binding in them.
_SHARED_ENDPOINTS = ("static", "pwa.service_worker", "pwa.manifest", "pwa.offline")


@bp.app_template_global()
def relais_binding() -> str:
    """``KEY|USER_ID|ENDS_AT`` of the current request's session, "" when nobody is signed in."""
    if "relais_binding" not in g:
        g.relais_binding = _binding()
    return g.relais_binding


def _binding() -> str:
    from .auth import sessions  # imported here: the sessions module imports the app's models

    record = sessions.current_record()
    key = sessions.offline_key(record) if record is not None else None
    if not key:
        return ""
    return f"{key}|{record.user_id}|{int(sessions.ends_at(record).timestamp())}"


@bp.after_app_request
def binding_header(response: Response) -> Response:
    if request.endpoint not in _SHARED_ENDPOINTS and BINDING_HEADER not in response.headers:
        response.headers[BINDING_HEADER] = relais_binding() or "-"
    if request.endpoint != "static" and "Content-Language" not in response.headers:
        # The service worker learns the person's language from it, to show its offline
        # pages in that language.
        response.headers["Content-Language"] = str(get_locale() or "fr")
    return response


bp.add_app_template_global(js_messages, "js_messages")


def shell_version() -> str:
    digest = hashlib.sha256()
    for name in (*SHELL_ASSETS, "sw.js", "icons/icon-maskable-512.png"):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/manifest.webmanifest")
def manifest():
    response = jsonify({
        "name": _("Relais — journal de terrain"),
        "short_name": "Relais",
        "lang": str(get_locale() or "fr"),
        "dir": "ltr",
        "start_url": "/today",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f5f7f6",
        "theme_color": "#1f5f5b",
        "description": _("Contacts, orientations et suivis-pont du travail de rue, "
                         "anonymisés."),
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192",
             "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512",
             "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-maskable-512.png"),
             "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
        ],
    })
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """Served from the root so that its scope is the whole app. Its configuration (cache
    version, files and pages to keep) is written into it, so that any new release changes
    the worker's bytes and the browser installs the new one."""
    config = {"version": shell_version(), "pages": list(current_app.config["OFFLINE_PAGES"]),
              "assets": [url_for("static", filename=name) for name in SHELL_ASSETS]
              + [url_for("pwa.manifest"), url_for("pwa.offline"),
                 url_for("pwa.offline", session="ended")]
              + [url for pair in offline_pages().values() for url in pair],
              "offline": offline_pages()}
    body = (STATIC / "sw.js").read_text(encoding="utf-8").replace(
        "__RELAIS_CONFIG__", json.dumps(config))
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline():
    """What a page that was never kept shows without network; with ``?session=ended``, what
    the phone shows without network when no session is open on it, or the one that was has
    ended (the pages kept for a person are never shown then). Both are kept in the shared
    shell, so they name nobody: their templates stand alone, without the signed-in layout."""
    template = "offline_signed_out.html" if request.args.get("session") == "ended" \
        else "offline.html"
    lang = request.args.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        # Kept once per language: the service worker shows the one of the person's language.
        with force_locale(lang):
            response = Response(render_template(template))
            response.headers["Content-Language"] = lang
            return response
    return render_template(template)


def offline_pages() -> dict[str, list[str]]:
    """The offline pages in every language, kept in the service worker's shell:
    ``{lang: [page never kept, no session open]}``."""
    return {lang: [url_for("pwa.offline", lang=lang),
                   url_for("pwa.offline", lang=lang, session="ended")]
            for lang in current_app.config["LANGUAGES"]}
