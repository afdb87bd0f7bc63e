from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from ..conflicts import formdata
from ..extensions import db
from ..models import Indicator, Objective
from ..validation import Invalid
from .filters import MEASURES, RECORDS, FilterError, validate


class IndicatorForm(FlaskForm):
    objective_id = SelectField(_l("Objectif"), coerce=int)
    code = StringField(_l("Code"), validators=[
        DataRequired(), Length(max=60),
        Regexp(r"^[a-z0-9_]+$", message=_l("Lettres minuscules, chiffres et _ seulement."))])
    label_fr = StringField(_l("Intitulé en français"),
                           validators=[DataRequired(), Length(max=300)])
    label_nl = StringField(_l("Intitulé en néerlandais"),
                           validators=[Optional(), Length(max=300)])
    label_en = StringField(_l("Intitulé en anglais"), validators=[Optional(), Length(max=300)])
    record = SelectField(_l("Enregistrements comptés"),
                         choices=[SelectChoice(r, r) for r in RECORDS])
    measure = SelectField(_l("Mesure"), choices=[
        SelectChoice(m, m) for m in sorted({m for ms in MEASURES.values() for m in ms})])
    filter = StringField(_l("Filtre"), validators=[Optional(), Length(max=500)],
                         description=_l("champ=valeur1|valeur2;champ2=valeur — par exemple "
                                        "situation=risque_perte_logement;org_category="
                                        "logement_energie"))
    position = IntegerField(_l("Ordre"), default=0, validators=[Optional(),
                                                                NumberRange(0, 10000)])
    active = BooleanField(_l("Actif"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.objective_id.choices = [
            SelectChoice(o.id, f"{o.plan} {o.code} — {o.title()[:70]}")
            for o in db.session.scalars(select(Objective).order_by(Objective.plan,
                                                                   Objective.position))]

    def validate_filter(self, field):
        try:
            validate(self.record.data, self.measure.data, field.data)
        except FilterError as exc:
            raise ValidationError(str(exc)) from exc


class ObjectiveForm(FlaskForm):
    title_fr = TextAreaField(_l("Intitulé en français"),
                             validators=[DataRequired(), Length(max=2000)])
    title_nl = TextAreaField(_l("Intitulé en néerlandais"),
                             validators=[Optional(), Length(max=2000)])
    title_en = TextAreaField(_l("Intitulé en anglais"), validators=[Optional(), Length(max=2000)])
    target = IntegerField(_l("Cible (facultative)"), validators=[Optional(),
                                                                 NumberRange(0, 10**9)])


def _translation(field) -> str | None:
    """A Dutch or English text, or None when left empty (the French one is shown then)."""
    return (field.data or "").strip() or None


def indicator_values(form: IndicatorForm) -> dict:
    """A checked form's values, in the terms of the indicator's versions."""
    return {"objective_id": form.objective_id.data, "code": form.code.data,
            "label_fr": form.label_fr.data, "label_nl": _translation(form.label_nl),
            "label_en": _translation(form.label_en), "record": form.record.data,
            "measure": form.measure.data, "filter": (form.filter.data or "").strip(),
            "position": form.position.data or 0, "active": bool(form.active.data)}


def apply_indicator(indicator: Indicator, payload: dict) -> None:
    """Check `payload` with the page's own form, then set it (the page's save and a merged
    retry in app.versions alike)."""
    form = IndicatorForm(formdata=formdata(payload), meta={"csrf": False})
    if not form.validate():
        raise Invalid(form.errors)
    values = indicator_values(form)
    taken = db.session.scalar(select(Indicator).where(Indicator.code == values["code"]))
    if taken is not None and taken is not indicator:
        raise Invalid({"code": [_("Ce code est déjà utilisé.")]})
    for name, value in values.items():
        setattr(indicator, name, value)


def objective_values(form: ObjectiveForm) -> dict:
    return {"title_fr": form.title_fr.data, "title_nl": _translation(form.title_nl),
            "title_en": _translation(form.title_en), "target": form.target.data}


def apply_objective(objective: Objective, payload: dict) -> None:
    form = ObjectiveForm(formdata=formdata(payload), meta={"csrf": False})
    if not form.validate():
        raise Invalid(form.errors)
    for name, value in objective_values(form).items():
        setattr(objective, name, value)
