"""Help in the app (issue 15): a short page per role — field worker, coordinator, partner,
admin — in French, Dutch and English, readable by everybody (signed out too) and kept on the
phone for use without network (OFFLINE_PAGES).

The help is long prose, so each page is a whole template per language
(``templates/help/<lang>/<page>.html``) rather than gettext fragments: a translator writes the
page as a social worker of that language would, not sentence by sentence. Only the short
labels around them (titles, links) go through gettext."""

from flask import Blueprint

bp = Blueprint("help", __name__)

from . import routes  # noqa: E402,F401
