from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[
        DataRequired(_l("Indiquez votre adresse e-mail.")), Length(max=254)])
    password = PasswordField(_l("Mot de passe"), validators=[
        DataRequired(_l("Indiquez votre mot de passe.")), Length(max=1024)])


class NewPasswordFields:
    """The two fields every password choice has: the new one, and the same again."""

    new_password = PasswordField(_l("Nouveau mot de passe"), validators=[
        DataRequired(_l("Choisissez un mot de passe.")), Length(max=1024)])
    confirm = PasswordField(_l("Le même, une seconde fois"), validators=[
        DataRequired(_l("Recopiez le mot de passe.")),
        EqualTo("new_password", _l("Les deux mots de passe ne sont pas identiques."))])


class ChangePasswordForm(NewPasswordFields, FlaskForm):
    current_password = PasswordField(_l("Mot de passe actuel"), validators=[
        DataRequired(_l("Indiquez votre mot de passe actuel.")), Length(max=1024)])
