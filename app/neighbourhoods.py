"""Adding and renaming a neighbourhood: one rule for the admin pages and `neighbourhood add`.

A neighbourhood's code is a slug that records, memberships and exports refer to: it is chosen
once, when the neighbourhood is added, and never changes. Its name and commune may be changed.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import audit
from .extensions import db
from .models import Neighbourhood
from .validation import Invalid

CODE_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
CODE_MAX, NAME_MAX = 40, 120
CODE_HINT = _l("Lettres minuscules sans accents, chiffres et traits d'union (ex. : "
               "cureghem-nord) ; il ne pourra plus être changé.")


def _checked(code: str | None, name: str, commune: str) -> dict[str, list]:
    errors: dict[str, list] = {}
    if code is not None and (not re.fullmatch(CODE_PATTERN, code) or len(code) > CODE_MAX):
        errors["code"] = [_l("Le code ne peut contenir que des lettres minuscules sans accents, "
                             "des chiffres et des traits d'union (40 caractères au plus).")]
    for field, value in (("name", name), ("commune", commune)):
        if not value:
            errors[field] = [_l("Ce champ est obligatoire.")]
        elif len(value) > NAME_MAX:
            errors[field] = [_l("120 caractères au plus.")]
    return errors


def save(code: str, name: str, commune: str, *, rename_only: bool | None = None
         ) -> tuple[Neighbourhood, bool]:
    """Add the neighbourhood `code`, or rename it when it exists; audited, not committed.

    `rename_only`: None (the command line) adds or renames; False (the add page) refuses a
    code that exists; True (the rename page) refuses a code that does not. Returns the
    neighbourhood and whether it was created. Raises `Invalid` with field messages.
    """
    code, name, commune = code.strip(), name.strip(), commune.strip()
    found = db.session.scalar(select(Neighbourhood).where(Neighbourhood.code == code))
    created = found is None
    errors = _checked(code if created else None, name, commune)
    if created and rename_only:
        errors["code"] = [_l("Ce quartier n'existe pas.")]
    if not created and rename_only is False:
        errors["code"] = [_l("Un quartier porte déjà ce code.")]
    if errors:
        raise Invalid(errors)
    if created:
        found = Neighbourhood(code=code)
        db.session.add(found)
    changed = {field: value for field, value in (("name", name), ("commune", commune))
               if getattr(found, field) != value}
    found.name, found.commune = name, commune
    try:
        db.session.flush()
    except IntegrityError:  # added at the same moment by someone else
        db.session.rollback()
        raise Invalid({"code": [_l("Un quartier porte déjà ce code.")]}) from None
    audit.record("neighbourhood_saved", obj=found, neighbourhood_id=found.id,
                 detail={"code": code, "created": created, "changed": sorted(changed)})
    return found, created
