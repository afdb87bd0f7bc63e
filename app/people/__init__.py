"""The rights of the person met (GDPR articles 15 and 17, issue 14): with the person present
and giving their code, a field worker shows what the team keeps about them, prints it for
them, and forgets it on request. Field workers only, within their own neighbourhoods."""

from flask import Blueprint

# Its own static folder holds the print button's script (the pages' CSP allows no inline
# script); served under /people/static/.
bp = Blueprint("people", __name__, static_folder="static", static_url_path="/people/static")

from . import routes  # noqa: E402,F401
