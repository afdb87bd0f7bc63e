"""The partner organisations' view: the referrals addressed to them."""

from flask import Blueprint

bp = Blueprint("partners", __name__)

from . import routes  # noqa: E402,F401
