"""The installable, offline-capable app: manifest, service worker and offline page."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _

bp = Blueprint("pwa", __name__)
STATIC = Path(__file__).resolve().parent / "static"
# Assets the service worker keeps; their content fingerprints the cache version, so a new
# release replaces the old cache.
SHELL_ASSETS = ("css/app.css", "js/app.js", "js/queue.js", "js/offline.js", "icons/icon.svg",
                "icons/icon-192.png", "icons/icon-512.png")


def shell_version() -> str:
    digest = hashlib.sha256()
    for name in (*SHELL_ASSETS, "sw.js", "icons/icon-maskable-512.png"):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/manifest.webmanifest")
def manifest():
    response = jsonify({
        "name": "Relais — journal de terrain",
        "short_name": "Relais",
        "lang": "fr",
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
              + [url_for("pwa.manifest"), url_for("pwa.offline")]}
    body = (STATIC / "sw.js").read_text(encoding="utf-8").replace(
        "__RELAIS_CONFIG__", json.dumps(config))
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline")
def offline():
    """What a page that was never kept shows without network."""
    return render_template("offline.html")
