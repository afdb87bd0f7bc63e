"""The API's preconditions on writes (If-None-Match, If-Match) and their answers.

DESIGN §5: `If-None-Match: *` creates, `If-Match: "<v>"` updates the version the sender saw
(merged three ways when stale), `If-Match: *` overwrites on purpose, and a changing PUT
without a precondition is refused with 428.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import jsonify
from flask_babel import gettext as _
from werkzeug.datastructures import Headers

from .. import audit, versions
from ..extensions import db
from ..validation import Invalid

STRONG_VERSION = re.compile(r'"(\d{1,9})"')


@dataclass(frozen=True)
class Precondition:
    create: bool = False          # If-None-Match: *
    version: int | str | None = None  # If-Match: the version seen, or versions.ANY


def read(headers: Headers) -> Precondition:
    none_match, match = headers.get("If-None-Match"), headers.get("If-Match")
    if none_match is not None and match is not None:
        raise Invalid({"If-Match": [_("Envoyez If-None-Match ou If-Match, pas les deux.")]})
    if none_match is not None:
        if none_match.strip() != "*":
            raise Invalid({"If-None-Match": [_("Seule la valeur * est acceptée : "
                                                "« créer s'il n'existe pas ».")]})
        return Precondition(create=True)
    if match is None:
        return Precondition()
    match = match.strip()
    if match == "*":
        return Precondition(version=versions.ANY)
    found = STRONG_VERSION.fullmatch(match)
    if found is None or int(found.group(1)) < 1:
        raise Invalid({"If-Match": [_('Une version entre guillemets est attendue, par '
                                      'exemple "3", ou *.')]})
    return Precondition(version=int(found.group(1)))


def answer(body: dict, record, status: int = 200):
    """A record with its version, in the body and as a strong ETag."""
    body["version"] = record.version
    response = jsonify(body)
    response.status_code = status
    response.set_etag(str(record.version))
    return response


def _refusal(status: int, message: str, **extra):
    db.session.rollback()
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


def required():
    return _refusal(428, _('Cet enregistrement existe déjà : envoyez If-Match: "<version>" '
                           'avec la version que vous avez modifiée (ou If-None-Match: * '
                           'pour une création).'))


def missing():
    return _refusal(412, _("Cet enregistrement n'existe pas : il ne peut pas être modifié. "
                           "Envoyez If-None-Match: * pour le créer."), current=None)


def exists(record, current: dict):
    kind = versions.kind_of(record)
    return _with_audit(record, 412, _("Cet enregistrement existe déjà avec un autre "
                                      "contenu : rien n'a été remplacé."),
                       {"current": versions.public(kind, current, record.version)})


def unknown_version(record):
    kind = versions.kind_of(record)
    return _with_audit(record, 412, _("Cette version de l'enregistrement n'existe pas."),
                       {"current": versions.public(kind, versions.snapshot(record),
                                                   record.version)})


def conflict(record, found: versions.Conflict):
    kind = versions.kind_of(record)
    return _with_audit(record, 409, _("Une autre personne a modifié les mêmes champs "
                                      "depuis votre version : choisissez, champ par "
                                      "champ, la valeur à garder. Rien n'a été enregistré."),
                       {"conflicts": found.fields,
                        "labels": {name: kind.label(name) for name in found.fields},
                        # who gave the current value (a write-only code is never named,
                        # not even as a key)
                        "changed_by": versions.changed_by(
                            record, [f for f in found.fields if f not in kind.hashed],
                            found.current_version),
                        "current": versions.public(kind, found.current, found.current_version),
                        "base": versions.public(kind, found.base, found.base_version),
                        "yours": versions.public(kind, found.yours)})


def _with_audit(record, status: int, message: str, body: dict):
    """An answer that shows a record's free text leaves a trace, like any note read."""
    kind = versions.kind_of(record)
    # The stored versions were opened to be shown ("yours" is what the sender sent).
    opened = [(body.get(part) or {}).get(name)
              for part in ("current", "base") for name in kind.secrets]
    db.session.rollback()
    audit.opened(record, *opened, object_type=kind.name, via=f"api_{status}")
    response = jsonify(error=message, **body)
    response.status_code = status
    return response
