"""The texts of the scripts (static/js/offline.js, queue.js), translated on the server.

They are defined here once, marked for extraction like every other message, and written into
the page as a JSON data block (``<script type="application/json" id="relais-messages">`` in
base.html: not executed, so the CSP's ``script-src 'self'`` allows it). The scripts read it,
with a French copy of the same texts as a fallback for a page without the block.

Placeholders are left for the script to fill (``%(num)d``, ``%(when)s``…): the texts are
taken raw from the catalogue, not formatted here. A plural is given as its two forms,
``{"one": …, "other": …}``, that the script chooses with ``Intl.PluralRules`` of the page's
language (for French, Dutch and English these agree with the catalogues' plural rules: French
says "one" for 0 and 1, Dutch and English for 1 only).

The service worker has no text of its own: without network it shows the offline pages
(pwa.py), rendered and kept in every language.
"""

from __future__ import annotations

from flask_babel import get_translations
from flask_babel import gettext as _


def ngettext(singular: str, plural: str) -> dict[str, str]:
    """Both forms of a plural message, untranslated placeholders left in. Named like the
    usual keyword so that ``pybabel extract`` finds the two texts (its spec ``1,2``)."""
    translations = get_translations()
    return {"one": translations.ngettext(singular, plural, 1),
            "other": translations.ngettext(singular, plural, 2)}


def js_messages() -> dict:
    """The scripts' texts in the language of the current request."""
    return {
        # The queue: states, badge and list of what waits on the phone.
        "state_waiting": _("En attente du réseau"),
        "state_auth": _("Reconnexion nécessaire"),
        "state_error": _("À corriger"),
        "state_blocked": _("Refusé par le serveur"),
        "state_to_resolve": _("À résoudre"),
        "badge_to_resolve": _("à résoudre"),
        "badge_waiting": ngettext("%(num)d en attente d'envoi", "%(num)d en attente d'envoi"),
        "badge_waiting_to_resolve": ngettext("dont %(num)d à résoudre",
                                             "dont %(num)d à résoudre"),
        "other_author": ngettext(
            "%(num)d enregistrement attend son auteur·e : il partira à sa prochaine connexion "
            "sur ce téléphone.",
            "%(num)d enregistrements attendent leur auteur·e : ils partiront à sa prochaine "
            "connexion sur ce téléphone."),
        "field_error": _("%(field)s : %(errors)s"),
        "compare": _("Comparer et choisir"),
        "correct": _("Corriger"),
        "delete": _("Supprimer"),
        "confirm_delete": _("Supprimer définitivement cet enregistrement du téléphone ? "
                            "Il ne sera jamais envoyé."),
        # Why a record waits (queue.js keeps the reason, the page says it).
        "reason_invalid": _("Certaines données ne sont pas valides."),
        "reason_403": _("Écriture refusée : vous n'êtes peut-être plus membre de ce quartier. "
                        "Demandez à l'administration, ou supprimez cet enregistrement."),
        "reason_404": _("Un enregistrement lié n'existe plus (sortie, contact…). "
                        "Corrigez ou supprimez."),
        "reason_412": _("Cet enregistrement n'existe plus sur le serveur : il ne peut pas être "
                        "modifié."),
        "reason_428": _("Le serveur demande la version de départ de cette modification. "
                        "Supprimez-la et refaites-la depuis la fiche."),
        "reason_to_resolve": _("Un·e collègue a modifié les mêmes champs : choisissez, champ "
                               "par champ, la version à garder."),
        # What a queued record is called in the list.
        "label_contact": _("Contact du %(when)s"),
        "label_referral": _("Orientation du %(when)s"),
        "label_bridge_step": _("Étape du %(when)s"),
        "label_collective_action": _("Action collective du %(when)s"),
        "label_edit": _("%(label)s (modification)"),
        "saved": _("Enregistré."),
        "saved_offline": _("Enregistré sur le téléphone : il sera envoyé au retour du réseau."),
        # The comparison screen.
        "conflict_title": ngettext("Un champ a été modifié aussi par un·e collègue",
                                   "%(num)d champs ont été modifiés aussi par un·e collègue"),
        "conflict_intro": _("« %(label)s » attend sur ce téléphone. Depuis la version que vous "
                            "aviez, un·e collègue a enregistré une autre valeur pour ces "
                            "champs. Rien n'est encore envoyé : choisissez, pour chaque champ, "
                            "la version à garder. Vos autres changements et ceux de votre "
                            "collègue sont gardés."),
        "yours": _("Votre version"),
        "theirs": _("Version actuelle (collègue)"),
        "code_typed": _("Le code que vous avez tapé"),
        "code_removed": _("Pas de code : vous l'aviez retiré"),
        "code_theirs": _("Le code enregistré par votre collègue"),
        "code_none": _("Pas de code"),
        "keep_both": _("Garder les deux"),
        "keep_both_hint": _("Votre texte, une ligne vide, puis celui de votre collègue."),
        "save_choice": _("Enregistrer ce choix"),
        "later": _("Plus tard"),
        "changed_by": _("par %(name)s, le %(when)s"),
        "changed_on": _("le %(when)s"),
        "empty": _("(vide)"),
        "other_outing": _("Une autre sortie"),
        "changed_again": _("Un·e collègue a encore modifié cet enregistrement : comparez à "
                           "nouveau."),
        "choice_kept": _("Votre choix est gardé sur le téléphone : il sera envoyé au retour "
                         "du réseau."),
        "fields": {
            "neighbourhood": _("Quartier"), "outing": _("Sortie"), "occurred_at": _("Quand"),
            "people_count": _("Nombre de personnes"), "place_type": _("Lieu"),
            "initiative": _("À l'initiative de"), "age_band": _("Âge"), "gender": _("Genre"),
            "languages": _("Langues"), "situations": _("Situations"), "themes": _("Thèmes"),
            "responses": _("Réponses"), "person_code": _("Code personne"), "note": _("Note"),
            "mission": _("Mission"), "occurred_on": _("Date"),
            "participants": _("Nombre de participants"), "organisations": _("Partenaires"),
            "title": _("Intitulé"), "organisation": _("Service"), "modality": _("Modalité"),
            "message": _("Message"), "kind": _("Type d'étape"),
        },
    }
