"""Indicator filters: ``field=a|b;field2=c`` — clauses AND-ed, alternatives OR-ed, a repeated
field means both. Which fields each record accepts, and their vocabularies."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import vocab

RECORDS = ("contact", "referral", "bridge", "outing", "collective_action")
MEASURES = {
    "contact": ("count", "people", "distinct_persons_repeat"),
    "referral": ("count", "rate_taken_up", "distinct_services"),
    "bridge": ("count",),
    "outing": ("count", "hours"),
    "collective_action": ("count", "participants"),
}

# Fields of a contact; a referral or a bridge reads them on its origin contact.
CONTACT_FIELDS = {
    "place_type": "place_type", "initiative": "initiative", "age_band": "age_band",
    "gender": "gender", "language": "language", "situation": "situation", "theme": "theme",
    "response": "response",
}
CONTACT_MULTI = {"language", "situation", "theme", "response"}
# Plural spellings as the API uses them.
ALIASES = {"languages": "language", "situations": "situation", "themes": "theme",
           "responses": "response"}
FIELDS = {
    "contact": CONTACT_FIELDS,
    "referral": {**CONTACT_FIELDS, "modality": "referral_modality",
                 "outcome": "referral_outcome", "status": "@referral_status",
                 "org_category": "org_category"},
    "bridge": {**CONTACT_FIELDS, "outcome": "bridge_outcome", "status": "@bridge_status",
               "org_category": "org_category"},
    "outing": {"kind": "outing_kind"},
    "collective_action": {"mission": "collective_mission", "theme": "theme"},
}
FIXED_VALUES = {
    "@referral_status": {"proposed", "sent", "received", "closed"},
    "@bridge_status": {"open", "closed"},
}


class FilterError(ValueError):
    pass


def parse(text: str | None) -> list[tuple[str, list[str]]]:
    """'a=x|y;b=z' → [('a', ['x', 'y']), ('b', ['z'])]; syntax only."""
    clauses = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        field, sep, values = part.partition("=")
        field = ALIASES.get(field.strip(), field.strip())
        alternatives = [v.strip() for v in values.split("|") if v.strip()]
        if not sep or not field or not alternatives:
            raise FilterError(str(_l("« %(part)s » : la forme attendue est champ=valeur ou "
                                     "champ=valeur1|valeur2.", part=part)))
        clauses.append((field, alternatives))
    return clauses


def validate(record: str, measure: str, text: str | None) -> list[tuple[str, list[str]]]:
    """Parse and check against the record's fields and the vocabularies; a clear message
    names what is wrong."""
    if record not in RECORDS:
        raise FilterError(str(_l("Type d'enregistrement inconnu : %(r)s.", r=record)))
    if measure not in MEASURES[record]:
        raise FilterError(str(_l("La mesure %(m)s ne s'applique pas à %(r)s (possibles : "
                                 "%(ok)s).", m=measure, r=record,
                                 ok=", ".join(MEASURES[record]))))
    clauses = parse(text)
    fields = FIELDS[record]
    for field, values in clauses:
        if field not in fields:
            raise FilterError(str(_l("Le champ « %(f)s » n'existe pas pour %(r)s (possibles : "
                                     "%(ok)s).", f=field, r=record, ok=", ".join(fields))))
        source = fields[field]
        known = FIXED_VALUES[source] if source.startswith("@") else \
            vocab.codes(source, include_inactive=True)
        unknown = [v for v in values if v not in known]
        if unknown:
            raise FilterError(str(_l("Valeur inconnue pour « %(f)s » : %(v)s.", f=field,
                                     v=", ".join(unknown))))
    return clauses
