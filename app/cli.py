"""Command line: `flask --app app <group> <command>` (see README)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from . import audit, crypto, versions
from .admin import accounts
from .auth import links
from .auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from .extensions import db
from .loaders import (
    DEFAULT_DIRECTORY,
    DEFAULT_INDICATORS,
    DEFAULT_OBJECTIVES,
    DEFAULT_VOCABULARIES,
    UnusableFile,
    load_directory,
    load_indicators,
    load_objectives,
    load_vocabularies,
)
from .models import Role, User, encrypted_columns
from .neighbourhoods import save as save_neighbourhood
from .validation import Invalid

keys_cli = AppGroup("keys", help="Encryption keys and the person-code pepper.")
neighbourhood_cli = AppGroup("neighbourhood", help="Neighbourhoods (quartiers).")
user_cli = AppGroup("user", help="User accounts.")
vocab_cli = AppGroup("vocab", help="Controlled vocabularies.")
directory_cli = AppGroup("directory", help="The directory of services.")
evaluation_cli = AppGroup("evaluation", help="CLSS objectives and indicators.")


def _keys_file() -> Path:
    return Path(current_app.config["DATA_KEYS_FILE"])


@keys_cli.command("init")
def keys_init():
    """Create the key ring (mode 0600). Never overwrites an existing one."""
    path = _keys_file()
    if path.exists():
        click.echo(f"Key file {path} already exists; left untouched.")
        return
    crypto.write_key_file(path, crypto.new_key_ring())
    click.echo(f"Key file created: {path} (keep a backup: without it notes cannot be read).")


@keys_cli.command("add")
def keys_add():
    """Add a new data key; new values use it, old keys keep opening old values."""
    path = _keys_file()
    ring = crypto.KeyRing.load(path).with_new_key()
    crypto.write_key_file(path, ring, overwrite=True)
    audit.record_now("key_added", object_type="key", object_id=ring.current.key_id)
    click.echo(f"New current key: {ring.current.key_id}")


@keys_cli.command("rotate")
def keys_rotate():
    """Add a new key, re-encrypt every sealed value under it, then drop the old keys."""
    path = _keys_file()
    ring = crypto.KeyRing.load(path).with_new_key()
    crypto.write_key_file(path, ring, overwrite=True)  # first: never lose the new key
    current_app.extensions["relais_keyring"] = ring
    count = 0
    for model, column in encrypted_columns():
        attribute = getattr(model, column)
        for row in db.session.scalars(select(model).where(attribute.is_not(None))):
            aad = crypto.associated_data(model.__tablename__, column, row.id)
            token = getattr(row, column)
            if ring.key_id_of(token) != ring.current.key_id:
                setattr(row, column, ring.encrypt(ring.decrypt(token, aad), aad))
                versions.not_a_change(row)  # the same text, sealed anew
                count += 1
    count += versions.reseal_history(ring)
    audit.record("key_rotated", object_type="key", object_id=ring.current.key_id,
                 detail={"values": count})
    db.session.commit()
    crypto.write_key_file(path, ring.only_current(), overwrite=True)
    current_app.extensions["relais_keyring"] = ring.only_current()
    click.echo(f"{count} values re-encrypted under {ring.current.key_id}; old keys removed.")


# Free text compared by a keyed digest kept beside it (crypto.same_text): (model, column,
# digest column). The digest key derives from the pepper, which rotation keeps.
DIGESTED = (("bridge_step", "note", "note_digest"), ("referral", "message", "message_digest"))


def fill_digests(ring: crypto.KeyRing) -> int:
    """Give a digest to every sealed value that has none (stored before digests existed).

    Run by an administrator on the server (the values are opened here, by the command, not
    by a request); until then, a resend compared with such a value is taken as a change."""
    from .models import BridgeStep, Referral

    models = {"bridge_step": BridgeStep, "referral": Referral}
    count = 0
    for table, column, digest_column in DIGESTED:
        model = models[table]
        for row in db.session.scalars(select(model).where(
                getattr(model, column).is_not(None), getattr(model, digest_column).is_(None))):
            aad = crypto.associated_data(table, column, row.id)
            text = ring.decrypt(getattr(row, column), aad)
            setattr(row, digest_column, crypto.text_digest(table, column, row.id, text, ring))
            versions.not_a_change(row)  # the same text: only its digest is added
            count += 1
    return count


@keys_cli.command("digests")
def keys_digests():
    """Add the keyed digest of step notes and referral messages stored without one."""
    ring = crypto.keyring()
    count = fill_digests(ring)
    audit.record("digests_filled", object_type="key", detail={"values": count})
    db.session.commit()
    click.echo(f"{count} digests added.")


@neighbourhood_cli.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--commune", required=True, help="Commune, e.g. Schaerbeek")
def neighbourhood_add(code: str, name: str, commune: str):
    """Add a neighbourhood, or rename it when CODE exists (the code never changes)."""
    try:
        save_neighbourhood(code, name, commune)
    except Invalid as exc:
        raise click.UsageError(" ".join(m for ms in exc.errors.values() for m in ms)) from None
    db.session.commit()
    click.echo(f"Neighbourhood {code}: {name} ({commune})")


def _account(email: str, role: str, *, neighbourhoods=(), organisation=None,
             display_name: str | None = None, action: str | None = None) -> User:
    """Create or update an account from the command line's names (neighbourhood codes, an
    organisation's name), through the same service as the pages (app.admin.accounts)."""
    try:
        found, org = accounts.resolve(neighbourhoods, organisation)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from exc
    user = accounts.find(email)
    try:
        return accounts.save_account(
            user, email=email, role=role, neighbourhoods=found, organisation=org,
            display_name=display_name or (user.display_name if user is not None else None),
            action=action)
    except Invalid as exc:
        raise click.UsageError("; ".join(m for ms in exc.errors.values() for m in ms)) from exc


def create_user(email: str, role: str, password: str, *, neighbourhoods=(), organisation=None,
                display_name: str | None = None) -> User:
    """Create or update an account with a password; used by `user add` and by the demo."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.UsageError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    # Audited as user_saved whether new or not, as this command always was.
    user = _account(email, role, neighbourhoods=neighbourhoods, organisation=organisation,
                    display_name=display_name, action="user_saved")
    user.password_hash = hash_password(password)
    user.active = True
    db.session.commit()
    return user


def _account_options(command):
    """The options that say who an account is, alike for `user add` and `user invite`."""
    for option in reversed((
            click.option("--role", required=True, type=click.Choice([r.value for r in Role])),
            click.option("--neighbourhood", "neighbourhoods", multiple=True,
                         help="Code; repeatable"),
            click.option("--organisation",
                         help="Directory name (partners; host partner of workers)"),
            click.option("--name", "display_name", help="Name shown to colleagues"))):
        command = option(command)
    return command


@user_cli.command("add")
@click.argument("email")
@_account_options
@click.option("--password", help="Prompted for when not given")
def user_add(email, role, neighbourhoods, organisation, display_name, password):
    """Create an account (or update it when EMAIL exists)."""
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = create_user(email, role, password, neighbourhoods=neighbourhoods,
                       organisation=organisation, display_name=display_name)
    click.echo(f"User {user.email} ({user.role}) saved.")


@user_cli.command("invite")
@click.argument("email")
@_account_options
def user_invite(email, role, neighbourhoods, organisation, display_name):
    """Create an account (or update it when EMAIL exists) and print a one-time link with
    which its owner chooses a password (valid ACCOUNT_LINK_HOURS, earlier links voided)."""
    user = _account(email, role, neighbourhoods=neighbourhoods, organisation=organisation,
                    display_name=display_name)
    token = accounts.invite(user)
    db.session.commit()
    hours = current_app.config["ACCOUNT_LINK_HOURS"]
    click.echo(f"User {user.email} ({user.role}) saved. One-time link, valid {hours} h:")
    click.echo(links.link_url(token, current_app.config["PUBLIC_BASE_URL"]))
    if not user.active:
        click.echo("Note: this account is deactivated; the link works once it is reactivated.")


@user_cli.command("deactivate")
@click.argument("email")
def user_deactivate(email):
    """Deactivate an account: no more sign-in, open sessions end at their next request;
    the person's records stay."""
    user = accounts.find(email)
    if user is None:
        raise click.ClickException(f"no account with the e-mail {email!r}")
    ended = accounts.deactivate(user)
    db.session.commit()
    click.echo(f"User {user.email} deactivated ({ended} open session(s) ended).")


@user_cli.command("reset-two-factor")
@click.argument("email")
def user_reset_two_factor(email):
    """Forget an account's second factor and recovery codes (a lost phone, an admin locked
    out of the admin page) and end its open sessions; the person enrols again at their next
    sign-in. Then check who they are by a channel you trust before telling them."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no account with the e-mail {email!r}")
    had = user.has_two_factor
    ended = accounts.reset_two_factor(user, via="cli")
    db.session.commit()
    state = "reset" if had else "was not enabled; any enrolment under way was cleared"
    click.echo(f"Two-factor of {user.email}: {state} ({ended} open session(s) ended).")


def _load(loader, path: Path) -> None:
    try:
        report = loader(path)
    except UnusableFile as exc:
        raise click.ClickException(f"{path.name}: {exc}; nothing imported") from exc
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)


@vocab_cli.command("load")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False), required=False)
def vocab_load(csv_path):
    """Load vocabularies (vocabulary,code,label_fr,label_nl,label_en); default: built in."""
    _load(load_vocabularies, Path(csv_path) if csv_path else DEFAULT_VOCABULARIES)


@directory_cli.command("load")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False), required=False)
def directory_load(csv_path):
    """Load services (name,category,commune,note); default: the demo directory."""
    _load(load_directory, Path(csv_path) if csv_path else DEFAULT_DIRECTORY)


@evaluation_cli.command("load")
@click.option("--objectives", type=click.Path(exists=True, dir_okay=False),
              help="plan,code,parent,level,title_fr,target (default: built in)")
@click.option("--indicators", type=click.Path(exists=True, dir_okay=False),
              help="plan,objective,code,label_fr,record,measure,filter (default: built in)")
def evaluation_load(objectives, indicators):
    """Load objectives, then indicators (each filter checked against the vocabularies)."""
    _load(load_objectives, Path(objectives) if objectives else DEFAULT_OBJECTIVES)
    _load(load_indicators, Path(indicators) if indicators else DEFAULT_INDICATORS)


def recompute_figures() -> int:
    """Compute again every monthly block of figures; returns how many are kept (also run by
    `backup restore`)."""
    from .evaluation import blocks
    from .evaluation.dashboard import active_indicators
    from .web import local_now

    blocks.invalidate_all()
    db.session.commit()
    return blocks.fill(active_indicators(), local_now().date())


@evaluation_cli.command("recompute")
def evaluation_recompute():
    """Compute again every monthly block of figures (after an upgrade, after records were
    written with SQL, or a backup restored), so that no dashboard has to."""
    count = recompute_figures()
    click.echo(f"{count} monthly blocks of figures computed and kept.")


@click.command("demo")
@with_appcontext
@click.option("--contacts", default=300, show_default=True, help="How many contacts")
def demo_command(contacts: int):
    """Load the demo: vocabularies, directory, neighbourhoods, one user per role, contacts."""
    from .demo import DEMO_PASSWORD, DEMO_USERS, load_demo

    if db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("The database already has users: demo not loaded again.")
    else:
        load_demo(contact_count=contacts)
        click.echo("Demo data loaded.")
    click.echo(f"Demo logins (password: {DEMO_PASSWORD}):")
    for email, role, *_ in DEMO_USERS:
        click.echo(f"  {role:<13} {email}")
    required = current_app.config["TWO_FACTOR_REQUIRED_ROLES"]
    if required:
        click.echo(f"Two-factor sign-in is required of: {', '.join(required)} (they enrol at "
                   "their first sign-in, with an authenticator app).")
    else:
        click.echo("Two-factor sign-in is optional in this demo, so that every role can be "
                   "tried at once; each person can turn it on under 'Mon compte'. In "
                   "production it is required of admins and coordinators.")


def init_app(app: Flask) -> None:
    from .backups import backup_cli
    from .retention import retention_cli

    for group in (keys_cli, neighbourhood_cli, user_cli, vocab_cli, directory_cli,
                  evaluation_cli, backup_cli, retention_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
