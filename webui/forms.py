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


@dataclass(frozen=True)
class Field:
    name: str  # the PetitionForm attribute and the input's name and id
    label: str  # a catalog message id
    hint: str  # a catalog message id ("" for none)
    max_chars: int
    required: bool = True
    multi_line: bool = False


FIELDS = (
    Field("real_name", N_("Real name"), N_("As on your ID card."), 100),
    Field(
        "id_number",
        N_("Resident ID number"),
        N_("18 characters. It is checked on this device and sent only inside the sealed petition."),
        64,
    ),
    Field(
        "contact",
        N_("How the bureau can reach you"),
        N_("Phone number or postal address; may be left empty."),
        200,
        required=False,
    ),
    Field("subject", N_("Subject"), N_("One line."), 200),
    Field("category", N_("Category"), N_("For example: wages, housing, land."), 64),
    Field("region", N_("Region"), N_("The place the matter concerns."), 64),
    Field("body", N_("Your petition"), "", 50_000, multi_line=True),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)

REQUIRED = N_("This field is required.")
TOO_LONG = N_("Too long: at most %(max)s characters.")
CONTROL_CHARACTERS = N_("Contains invisible control characters; please retype it.")
TOO_MANY_ATTACHMENTS = N_("At most %(max)s attachments.")
ATTACHMENT_TOO_LARGE = N_(
    "%(name)s is too large: a petition with its attachments is limited to 16 MiB."
)
ATTACHMENT_NAME = N_("%(name)s cannot be attached: rename the file and try again.")
EMPTY_FILE = N_("%(name)s is empty and was not attached.")


def read_post(form: MultiDict[str, str]) -> dict[str, str]:
    """The typed values, exactly as typed (the document keeps text unchanged)."""
    return {name: form.get(name, "") for name in FIELD_NAMES}


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
