"""The petition form: its fields, reading a browser's post into a draft, and inline errors.

The fields are the CLI's (``petition submit``); the limits are the petition document's
(docs/protocol.md §8.2; tests/ui/test_catalogs.py checks that the two agree). The checks
themselves are the document's and the ID rules' own (:func:`client.petitioner.check_form`,
:func:`crypto.fields.text_field`); this module only decides which input each problem belongs
to and says it in the reader's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.datastructures import FileStorage, MultiDict

from client.errors import InvalidInput
from client.petitioner import (
    PetitionForm,
    attachment_from_bytes,
    check_form,
    validate_identity,
)
from crypto.document import MAX_ATTACHMENTS
from crypto.errors import InvalidIdNumber, SchemaViolation, TooLarge
from crypto.fields import text_field
from crypto.padding import MAX_CONTENT_LENGTH
from webui.i18n import N_, Translator
from webui.messages import describe
from webui.state import Draft

IDENTITY = "identity"
CASE = "case"


@dataclass(frozen=True)
class Field:
    name: str  # the PetitionForm attribute and the input's name and id
    label: str  # a catalog message id
    hint: str  # a catalog message id ("" for none)
    max_chars: int
    required: bool = True
    multi_line: bool = False
    section: str = CASE  # which sealed section carries it: IDENTITY or CASE


@dataclass(frozen=True)
class Choice:
    """A yes/no consent, sealed with the identity (crypto.document.Consent)."""

    name: str  # the input's name; the PetitionForm attribute is ``name``
    question: str  # a catalog message id (the fieldset's legend)
    yes: str  # the label of "yes"
    no: str  # the label of "no"
    default: bool
    note: str = ""  # a catalog message id ("" for none)


FIELDS = (
    Field("real_name", N_("Real name"), N_("As on your ID card."), 100, section=IDENTITY),
    Field(
        "id_number",
        N_("Resident ID number"),
        N_("18 characters. It is checked on this device and sent only inside the sealed petition."),
        64,
        section=IDENTITY,
    ),
    Field(
        "contact",
        N_("How the bureau can reach you"),
        N_("Phone number or postal address; may be left empty."),
        200,
        required=False,
        section=IDENTITY,
    ),
    Field("subject", N_("Subject"), N_("One line."), 200),
    Field("category", N_("Category"), N_("For example: wages, housing, land."), 64),
    Field("region", N_("Region"), N_("The place the matter concerns."), 64),
    Field(
        "respondent",
        N_("Body complained about"),
        N_("The authority, company or person your petition is about; may be left empty."),
        200,
        required=False,
    ),
    Field("body", N_("Your petition"), "", 50_000, multi_line=True),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)
IDENTITY_FIELDS = tuple(field for field in FIELDS if field.section == IDENTITY)
CASE_FIELDS = tuple(field for field in FIELDS if field.section == CASE)

CHOICES = (
    Choice(
        "consent_contact",
        N_("May the bureau contact you?"),
        N_("Yes, the bureau may contact me"),
        N_("No, do not contact me"),
        default=True,
    ),
    Choice(
        "consent_share_identity_on_transfer",
        N_(
            "If your case is transferred to another competent bureau, may your identity go with it?"
        ),
        N_("Yes, my identity may go with the case"),
        N_("No, only the case is transferred"),
        default=False,
        note=N_(
            "Sometimes a bureau sends a case on to the body that can handle it. If you choose "
            "No (the default), that body gets your case without your name, ID number or "
            "contact details, and answers you here, where you read the answer with your "
            "receipt code. Choose Yes only if you want it to be able to contact you directly. "
            "Either way, your identity is never sent to the body you complain about."
        ),
    ),
)
CHOICE_NAMES = tuple(choice.name for choice in CHOICES)
YES = "yes"
NO = "no"

REQUIRED = N_("This field is required.")
TOO_LONG = N_("Too long: at most %(max)s characters.")
CONTROL_CHARACTERS = N_("Contains invisible control characters; please retype it.")
TOO_MANY_ATTACHMENTS = N_("At most %(max)s attachments.")
ATTACHMENT_TOO_LARGE = N_(
    "%(name)s is too large: a petition with its attachments is limited to 16 MiB."
)
ATTACHMENT_NAME = N_("%(name)s cannot be attached: rename the file and try again.")
EMPTY_FILE = N_("%(name)s is empty and was not attached.")


def read_post(form: MultiDict[str, str], draft: Draft) -> dict[str, str]:
    """The typed values, exactly as typed (the document keeps text unchanged), and the choices.

    The ID number is never put back into the form (docs/ui.md): an empty ID field keeps the
    number the draft already holds.
    """
    values = {name: form.get(name, "") for name in FIELD_NAMES}
    if not values["id_number"]:
        values["id_number"] = draft.values.get("id_number", "")
    for choice in CHOICES:
        answer = form.get(choice.name)
        values[choice.name] = answer if answer in {YES, NO} else default_answer(choice)
    return values


def default_answer(choice: Choice) -> str:
    return YES if choice.default else NO


def answer(draft: Draft, choice: Choice) -> str:
    """The draft's answer to a choice: "yes" or "no" (the default before the first save)."""
    value = draft.values.get(choice.name)
    return value if value in {YES, NO} else default_answer(choice)


def update_attachments(
    draft: Draft, removed: list[str], uploads: list[FileStorage], t: Translator
) -> list[str]:
    """Drop the attachments the petitioner unticked, add new uploads; return problems.

    Uploads are read whole into memory (the request parser keeps them there too): nothing
    about a petition touches the disk.
    """
    problems: list[str] = []
    keep = [a for index, a in enumerate(draft.attachments) if str(index) not in removed]
    for upload in uploads:
        if not upload.filename:
            continue  # an empty file input
        name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
        data = upload.stream.read(MAX_CONTENT_LENGTH + 1)
        if not data:
            problems.append(t.gettext(EMPTY_FILE, name=name))
            continue
        if len(keep) >= MAX_ATTACHMENTS:
            problems.append(t.gettext(TOO_MANY_ATTACHMENTS, max=MAX_ATTACHMENTS))
            break
        try:
            keep.append(attachment_from_bytes(name, data, _media_type(upload)))
        except InvalidInput:
            template = ATTACHMENT_TOO_LARGE if len(data) > MAX_CONTENT_LENGTH else ATTACHMENT_NAME
            problems.append(t.gettext(template, name=name))
    draft.attachments = keep
    return problems


def _media_type(upload: FileStorage) -> str | None:
    """The browser's media type without parameters, or None to guess from the name."""
    media_type = (upload.mimetype or "").lower()
    return None if media_type in {"", "application/octet-stream"} else media_type


def petition_form(draft: Draft) -> PetitionForm:
    values = draft.values
    return PetitionForm(
        bureau_id=draft.bureau_id,
        real_name=values.get("real_name", ""),
        id_number=values.get("id_number", ""),
        contact=values.get("contact", ""),
        subject=values.get("subject", ""),
        body=values.get("body", ""),
        category=values.get("category", ""),
        region=values.get("region", ""),
        attachments=tuple(draft.attachments),
        respondent=values.get("respondent", ""),
        consent_contact=answer(draft, CHOICES[0]) == YES,
        consent_share_identity_on_transfer=answer(draft, CHOICES[1]) == YES,
    )


def field_errors(draft: Draft, t: Translator) -> dict[str, str]:
    """Every field's problem at once (input name -> sentence), then the whole-form check."""
    errors: dict[str, str] = {}
    for field in FIELDS:
        value = draft.values.get(field.name, "")
        if field.name == "id_number":
            try:
                validate_identity(value)
            except InvalidIdNumber as exc:
                errors[field.name] = describe(exc, t)
            continue
        try:
            text_field(value, field.name, int(field.required), field.max_chars,
                       multi_line=field.multi_line)  # fmt: skip
        except SchemaViolation:
            if field.required and not value:
                errors[field.name] = t.gettext(REQUIRED)
            elif len(value) > field.max_chars:
                errors[field.name] = t.gettext(TOO_LONG, max=field.max_chars)
            else:
                errors[field.name] = t.gettext(CONTROL_CHARACTERS)
    if errors:
        return errors
    try:
        check_form(petition_form(draft))  # the authority: exactly what sealing will check
    except InvalidIdNumber as exc:
        errors["id_number"] = describe(exc, t)
    except TooLarge as exc:
        errors["attachments"] = describe(exc, t)
    except SchemaViolation as exc:
        name = exc.message.split(":", 1)[0]
        errors[name if name in FIELD_NAMES else "attachments"] = describe(exc, t)
    return errors
