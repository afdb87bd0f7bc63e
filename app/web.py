"""What every page shares: error pages, security headers, template helpers, the home
dispatch by role and the language switch."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError

from . import crypto
from .access import wants_json
from .extensions import db, login_manager
from .formats import format_date, format_datetime, format_decimal, format_time
from .models import Role, User
from .vocab import labels_for, labels_in_order, offered
from .vocab import terms as vocab_terms

bp = Blueprint("core", __name__)

HOME_BY_ROLE = {
    Role.FIELD_WORKER: "outreach.today",
    Role.COORDINATOR: "evaluation.view",
    Role.PARTNER: "partners.home",
    Role.ADMIN: "admin.admin_home",
}

REFERRAL_STATUS_LABELS = {
    "proposed": _l("Proposée"),
    "sent": _l("Envoyée au service"),
    "received": _l("Reçue par le service"),
    "closed": _l("Clôturée"),
}

ERROR_MESSAGES = {
    400: _l("La demande n'a pas pu être comprise."),
    401: _l("Veuillez vous connecter."),
    403: _l("Vous n'avez pas accès à cette page."),
    404: _l("Cette page n'existe pas ou ne vous est pas accessible."),
    405: _l("Cette action n'est pas permise ici."),
    413: _l("Les données envoyées sont trop volumineuses."),
    429: _l("Trop d'essais. Attendez quelques minutes et réessayez."),
    422: _l("Certaines données ne sont pas valides."),
    500: _l("Une erreur est survenue. Rien n'a été enregistré ; réessayez dans un instant."),
    503: _l("Le service n'est pas prêt : les clés de chiffrement ne sont pas configurées."),
}


def is_safe_redirect(target: str | None) -> bool:
    """Only same-site relative paths: never bounce a worker to another site after sign-in."""
    if not target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") \
        and not target.startswith("//") and "\\" not in target


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME_BY_ROLE[Role(current_user.role)]))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated and current_user.language != lang:
            current_user.language = lang  # kept on the account: every device follows
            db.session.commit()
    target = request.form.get("next")
    return redirect(target if is_safe_redirect(target) else url_for("core.home"))


# The person's choice of colours, written on <html data-theme> by the server (no flash of the
# wrong theme); absent, the page follows the phone (prefers-color-scheme; app/static/css/theme.css).
THEMES = ("light", "dark")


@bp.post("/theme")
def set_theme():
    """Automatic, light or dark: kept on the account when signed in (every device of the
    person follows, like the language), on the device before sign-in. An unknown value
    changes nothing."""
    theme = request.form.get("theme", "")
    if theme in (*THEMES, "auto"):
        chosen = theme if theme in THEMES else None
        if current_user.is_authenticated:
            session.pop("theme", None)  # the person's choice now speaks for this device too
            if current_user.theme != chosen:
                current_user.theme = chosen
                db.session.commit()
        elif chosen:
            session["theme"] = chosen
        else:
            session.pop("theme", None)
    target = request.form.get("next")
    return redirect(target if is_safe_redirect(target) else url_for("core.home"))


def current_theme() -> str | None:
    """The person's choice when signed in, else this device's (None: follow the phone)."""
    theme = getattr(current_user, "theme", None) or session.get("theme")
    return theme if theme in THEMES else None


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


def local_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["LOCAL_TIMEZONE"])


def local_now() -> datetime:
    return datetime.now(local_tz())


def by_local_day(records) -> list[tuple]:
    """Records (already sorted by time) grouped under their local calendar day."""
    groups: list[tuple] = []
    for record in records:
        day = record.occurred_at.astimezone(local_tz()).date()
        if groups and groups[-1][0] == day:
            groups[-1][1].append(record)
        else:
            groups.append((day, [record]))
    return groups


def _error_response(code: int, message=None, errors: dict | None = None):
    message = str(message or ERROR_MESSAGES.get(code, ERROR_MESSAGES[500]))
    if wants_json():
        body = {"error": message}
        if errors:
            body["errors"] = errors
        return jsonify(body), code
    # lang_next: an error page never echoes the address that was asked for.
    return render_template("errors/error.html", code=code, message=message, lang_next="/"), code


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @login_manager.user_loader
    def load_user(user_id: str):
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_json():
            return _error_response(401)
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    for code in (400, 403, 404, 405, 413, 422, 429):
        app.register_error_handler(code, lambda exc, code=code: _error_response(code))

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        message = _l("La session du formulaire a expiré. Rechargez la page et réessayez.")
        return _error_response(400, message, {"csrf_token": [str(message)]})

    @app.errorhandler(crypto.KeyRingError)
    def keys_missing(exc):
        db.session.rollback()
        current_app.logger.error("key ring problem: %s", exc)
        return _error_response(503)

    @app.errorhandler(SQLAlchemyError)
    @app.errorhandler(500)
    def server_error(exc):
        # Never show the exception: it may quote a value. Roll back so nothing half-written
        # stays in the session.
        db.session.rollback()
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(500)

    @app.before_request
    def keys_must_be_loaded():
        if "relais_keyring" not in current_app.extensions and request.endpoint not in (
            "static", "core.healthz", "pwa.service_worker", "pwa.manifest"
        ):
            return _error_response(503)
        return None

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        )
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
        if request.endpoint != "static":
            # Pages carry personal context: never keep them in a shared or proxy cache.
            headers.setdefault("Cache-Control", "no-store")
        return response

    # Globals rather than a context processor, so that imported macros see them too.
    app.jinja_env.globals.update(labels_for=labels_for, labels_in_order=labels_in_order,
                                 vocab_terms=vocab_terms, vocab_offered=offered, Role=Role,
                                 referral_status_labels=REFERRAL_STATUS_LABELS,
                                 languages=app.config["LANGUAGES"])

    @app.context_processor
    def template_helpers():
        return {"current_locale": str(get_locale() or "fr"), "current_theme": current_theme()}

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["local_datetime"] = lambda v: format_datetime(v, "short") if v else ""
    app.jinja_env.filters["local_date"] = lambda v: format_date(v, "medium") if v else ""
    app.jinja_env.filters["local_time"] = lambda v: format_time(v, "HH:mm") if v else ""
    app.jinja_env.filters["local_weekday"] = lambda v: format_date(v, "EEEE d MMMM y")
    app.jinja_env.filters["local_month"] = lambda v: format_date(v, "LLLL y")
    app.jinja_env.filters["local_number"] = lambda v: format_decimal(v) if v is not None else ""
    app.jinja_env.filters["by_local_day"] = by_local_day
