from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from .. import vocab
from ..conflicts import formdata
from ..extensions import db
from ..models import Organisation
from ..validation import Invalid


class OrganisationForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[
        DataRequired(_l("Le nom est obligatoire.")), Length(max=200)])
    category = SelectField(_l("Catégorie"), validators=[Optional()])
    commune = StringField(_l("Commune"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Téléphone du service"), validators=[
        Optional(), Length(max=40),
        Regexp(r"^[0-9+ ./()-]+$", message=_l("Chiffres, espaces et + . / - ( ) seulement."))])
    email = StringField(_l("E-mail du service"), validators=[
        Optional(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Adresse e-mail non valide."))])
    website = StringField(_l("Site web"), validators=[
        Optional(), Length(max=300),
        Regexp(r"^https?://\S+$", message=_l("Une adresse commençant par https:// est attendue."))])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    active = BooleanField(_l("Actif dans l'annuaire"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A retired category the organisation already has stays a valid choice.
        self.category.choices = [SelectChoice("", _l("Non précisée"))] + [
            SelectChoice(t.code, t.label())
            for t in vocab.offered("org_category", [self.category.data])]


ORGANISATION_TEXTS = ("name", "category", "commune", "phone", "email", "website", "description")


def organisation_values(form: OrganisationForm) -> dict:
    """A checked form's values, in the terms of the organisation's versions."""
    values = {name: (getattr(form, name).data or "").strip() or None
              for name in ORGANISATION_TEXTS}
    values["active"] = bool(form.active.data)
    return values


def apply_organisation(organisation: Organisation, payload: dict) -> None:
    """Check `payload` (an organisation's fields) with the same form as the page, then set
    it: the page's save and a merged retry in app.versions go through here alike."""
    form = OrganisationForm(formdata=formdata(payload), meta={"csrf": False})
    if not form.validate():
        raise Invalid(form.errors)
    values = organisation_values(form)
    taken = db.session.scalar(select(Organisation).where(
        func.lower(Organisation.name) == values["name"].lower()))
    if taken is not None and taken is not organisation:
        raise Invalid({"name": [_("Un service porte déjà ce nom.")]})
    for name, value in values.items():
        setattr(organisation, name, value)


class DirectoryImportForm(FlaskForm):
    file = FileField(_l("Fichier CSV (name, category, commune, note)"),
                     validators=[FileRequired(_l("Choisissez un fichier."))])
