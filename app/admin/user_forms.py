"""The account form of app.admin.users: who the person is, their role, neighbourhoods and
organisation. Which roles and neighbourhoods the editor may give is decided by the view
(``allowed_roles``, ``allowed_neighbourhoods``); the form says so field by field."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from ..extensions import db
from ..models import Neighbourhood, Organisation, Role

ROLE_LABELS = {
    Role.FIELD_WORKER: _l("Travailleur·euse de terrain"),
    Role.COORDINATOR: _l("Coordination"),
    Role.PARTNER: _l("Partenaire"),
    Role.ADMIN: _l("Administration"),
}


class UserForm(FlaskForm):
    display_name = StringField(_l("Nom affiché aux collègues"), validators=[
        DataRequired(_l("Le nom est obligatoire.")), Length(max=120)])
    email = StringField(_l("E-mail"), validators=[
        DataRequired(_l("L'adresse e-mail est obligatoire.")), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Adresse e-mail non valide."))])
    role = SelectField(_l("Rôle"), validate_choice=False)
    neighbourhoods = SelectMultipleField(_l("Quartiers"), coerce=int, validate_choice=False)
    organisation = SelectField(_l("Organisation"), validate_choice=False)

    def __init__(self, *args, allowed_roles=(), allowed_neighbourhoods=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.allowed_roles = [str(r) for r in allowed_roles]
        self.allowed_neighbourhoods = list(allowed_neighbourhoods)
        self.role.choices = [(r, ROLE_LABELS[Role(r)]) for r in self.allowed_roles]
        self.neighbourhoods.choices = [(n.id, n.name) for n in self.allowed_neighbourhoods]
        organisations = db.session.scalars(
            select(Organisation).where(Organisation.active.is_(True))
            .order_by(Organisation.name)).all()
        self.organisation.choices = [("", _l("Aucune"))] + [
            (str(o.id), o.name) for o in organisations]

    def validate_role(self, field):
        if field.data not in self.allowed_roles:
            raise ValidationError(_("Vous ne pouvez pas donner ce rôle."))

    def validate_neighbourhoods(self, field):
        allowed = {n.id for n in self.allowed_neighbourhoods}
        if any(code not in allowed for code in field.data or ()):
            raise ValidationError(_("Vous ne pouvez donner que les quartiers où vous travaillez."))

    def validate_organisation(self, field):
        if field.data and self.chosen_organisation() is None:
            raise ValidationError(_("Choisissez une organisation de l'annuaire."))

    def chosen_neighbourhoods(self) -> list[Neighbourhood]:
        wanted = set(self.neighbourhoods.data or ())
        return [n for n in self.allowed_neighbourhoods if n.id in wanted]

    def chosen_organisation(self) -> Organisation | None:
        value = self.organisation.data or ""
        return db.session.get(Organisation, int(value)) if value.isdigit() else None
