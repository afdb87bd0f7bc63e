"""All models, imported here so that Alembic and the app see one metadata."""

from .account_link import INVITATION, PASSWORD_RESET, AccountLink, RecoveryCode
from .audit import AuditEvent
from .bridge import Bridge, BridgeHandover, BridgeStep
from .directory import Organisation
from .evaluation import (
    CollectiveAction,
    CollectiveActionTerm,
    FigureBlock,
    Indicator,
    Objective,
    collective_action_organisation,
)
from .history import RecordVersion, Versioned
from .outreach import Contact, ContactTerm, Outing, outing_team
from .people import Neighbourhood, Role, User, membership
from .record_key import RecordKeyed
from .referral import OPEN_STATUSES, STATUSES, Referral, ReferralEvent
from .session import UserSession
from .vocabulary import CONTACT_MULTI_TERMS, CONTACT_SINGLE_TERMS, Term

__all__ = [
    "AccountLink",
    "INVITATION",
    "PASSWORD_RESET",
    "RecoveryCode",
    "AuditEvent",
    "Bridge",
    "BridgeHandover",
    "BridgeStep",
    "CONTACT_MULTI_TERMS",
    "CONTACT_SINGLE_TERMS",
    "CollectiveAction",
    "CollectiveActionTerm",
    "Contact",
    "ContactTerm",
    "FigureBlock",
    "Indicator",
    "Neighbourhood",
    "Objective",
    "Organisation",
    "OPEN_STATUSES",
    "Outing",
    "Referral",
    "RecordKeyed",
    "RecordVersion",
    "ReferralEvent",
    "STATUSES",
    "Role",
    "Term",
    "User",
    "UserSession",
    "Versioned",
    "collective_action_organisation",
    "membership",
    "outing_team",
]


def encrypted_columns():
    """(model, column) pairs holding sealed values: what key rotation must re-encrypt."""
    from ..extensions import db

    for mapper in db.Model.registry.mappers:
        for column in getattr(mapper.class_, "__encrypted__", ()):
            yield mapper.class_, column
