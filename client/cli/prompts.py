"""Asking a person at the terminal, forgivingly: ``submit``, ``seal`` and ``review`` share it.

A petitioner may be frightened, typing on a borrowed machine, with the ID number at a prompt
that shows nothing. So each field is checked the moment it is entered, with the rules sealing
applies (:func:`client.petitioner.check_field`, which reads the limits from crypto/document.py
and the ID rules from crypto/idnumber.py: no copy of them here), and on a mistake the reason is
shown and the same field is asked again; nothing typed before is lost. The ID number comes
first, because it is the field most often mistyped and cannot be seen. Optional fields say so.
The text is written in ``$EDITOR`` when it is set, in a private temporary folder removed at
once. Before anything is sealed the person sees a summary and must answer "y" to go on.

Ctrl-D and Ctrl-C at any prompt end the command with one line (:class:`Cancelled`), never a
traceback or an internal error; declining at the last question does the same.

Every sentence a person reads is defined at the top of this module, marked with ``N_`` for the
shared gettext catalogs (cli_support/i18n.py) and translated where it is shown, in the language
the command line was started with (``--lang``, ``PETITION_LANG`` or the locale).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from cli_support.i18n import N_, _, translator
from cli_support.messages import ID_RULE_TEXT
from client.errors import Cancelled, InvalidInput
from client.files import read_attachment_file, read_text_file
from client.petitioner import PetitionForm, check_field, check_form
from crypto.document import Attachment
from crypto.errors import InvalidIdNumber, SchemaViolation, TooLarge

# --- What a person reads (marked for the shared catalogs, cli_support/locales) -----------------

ID_NUMBER_LABEL = N_("Resident ID number (18 characters; not shown as you type)")
NAME_LABEL = N_("Your real name")
CONTACT_LABEL = N_("How the bureau can reach you (phone, address)")
SUBJECT_LABEL = N_("Subject (one line)")
CATEGORY_LABEL = N_("Category")
REGION_LABEL = N_("Region")
RESPONDENT_LABEL = N_("The body you complain about")
RECEIPT_CODE_LABEL = N_("Receipt code (not shown)")
OPTIONAL_MARK = N_("(optional, Enter for none)")
HOW_TO_CANCEL = N_("Ctrl-D or Ctrl-C at any question cancels; nothing is sent before you say yes.")
TRY_AGAIN = N_("✗ %(reason)s. Please type it again.")
NO_TERMINAL = N_("%(flag)s is missing and there is no terminal to ask for it")
TEXT_INTRO = N_(
    "The text of your petition; finish with a line holding only a full stop (.). "
    "Ctrl-D or Ctrl-C cancels."
)
EDITOR_INTRO = N_(
    "The text of your petition opens in %(editor)s: write it, save, and close the editor."
)
EDITOR_AGAIN = N_("Press Enter to open the editor again with your text (Ctrl-D cancels).")
EDITOR_MISSING = N_("Cannot start the editor %(editor)s (%(reason)s); type the text here instead.")
EDITOR_FAILED = N_("the editor %(editor)s ended with status %(status)s")
EDITOR_NOT_UTF8 = N_("The text is not UTF-8; save it as UTF-8")
SUMMARY_TITLE = N_("Please check before it is sealed:")
SUMMARY_ID_NUMBER = N_("checked; not shown")
SUMMARY_NONE = N_("(none)")
SUMMARY_TEXT = N_("%(lines)s line(s), %(characters)s characters:")
SUMMARY_MORE_LINES = N_("… and %(count)s more line(s)")
SUMMARY_ATTACHMENT = N_("%(name)s (%(size)s bytes)")
SUMMARY_CONTACT_CONSENT = N_("The bureau may use your contact details")
SUMMARY_TRANSFER_CONSENT = N_("Your name, ID number and contact go with a transfer")
YES_WORD = N_("yes")
NO_WORD = N_("no")
ANSWER_YES_OR_NO = N_("Please answer y (yes) or n (no).")
#: The answers understood in every language (the question always shows ``[y/N]``).
YES_ANSWERS = frozenset({"y", "yes", "是"})
NO_ANSWERS = frozenset({"", "n", "no", "否"})
REMINDER = N_(
    "Before you leave this computer, clear this terminal (or close its window): it still shows "
    "what you typed and your receipt code."
)
#: The reasons of a field's rules (crypto/fields.py) in other languages than English, which
#: shows the rule's own sentence; an ID number's mistake is told by its rule
#: (cli_support/messages.py, the same sentences as the web UI's).
FIELD_EMPTY = N_("Must not be empty")
FIELD_LENGTH = N_("%(length)s characters; allowed %(minimum)s-%(maximum)s")
FIELD_CONTROL = N_("Contains invisible control characters; please retype it")

#: What the rules of a field raise (a text too large for the petition is TooLarge).
FIELD_ERRORS = (InvalidIdNumber, SchemaViolation, TooLarge)

#: The labels in the summary, by PetitionForm attribute.
SUMMARY_LABELS = {
    "id_number": N_("ID number"),
    "real_name": N_("Name"),
    "contact": N_("Contact"),
    "subject": N_("Subject"),
    "category": N_("Category"),
    "region": N_("Region"),
    "respondent": N_("Complained about"),
    "body": N_("Text"),
    "attachments": N_("Attachments"),
}
SUMMARY_TEXT_LINES = 8  # lines of the text shown in the summary


@dataclass(frozen=True)
class Purpose:
    """What the asking is for: the question before acting and the line if it is cancelled."""

    question: str  # e.g. "Send it to 国家信访局 (national) now?", translated
    cancelled: str  # e.g. "cancelled; nothing was sent", translated


@dataclass(frozen=True)
class Field:
    """One text field of the petition form as the terminal asks for it."""

    name: str  # the PetitionForm attribute
    flag: str  # the command-line flag that gives it instead (its ``args`` attribute)
    label: str  # marked with N_, translated where asked
    optional: bool = False
    secret: bool = False

    @property
    def attribute(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


ID_NUMBER = Field("id_number", "--id-number", ID_NUMBER_LABEL, secret=True)
NAME = Field("real_name", "--name", NAME_LABEL)
CONTACT = Field("contact", "--contact", CONTACT_LABEL, optional=True)
SUBJECT = Field("subject", "--subject", SUBJECT_LABEL)
CATEGORY = Field("category", "--category", CATEGORY_LABEL)
REGION = Field("region", "--region", REGION_LABEL)
RESPONDENT = Field("respondent", "--respondent", RESPONDENT_LABEL, optional=True)

#: ``submit`` and ``seal``, in the order asked: the ID number first (see the module's text).
PETITION_FIELDS = (ID_NUMBER, NAME, CONTACT, SUBJECT, CATEGORY, REGION)
#: ``review``: the subject, category and body complained about follow from the case.
REVIEW_FIELDS = (ID_NUMBER, NAME, CONTACT, REGION)


# --- Single prompts ------------------------------------------------------------------------------


def require_terminal(flag: str) -> None:
    """Refuse to wait on a pipe or a closed input for something only a person can type."""
    if not sys.stdin.isatty():
        raise InvalidInput(_(NO_TERMINAL, flag=flag))


@contextmanager
def cancellable(cancelled: str) -> Iterator[None]:
    """Ctrl-D (EOFError) and Ctrl-C (KeyboardInterrupt) inside become :class:`Cancelled`.

    The line break first: the cursor is still after the prompt, and the one line must stand
    on its own.
    """
    try:
        yield
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr, flush=True)
        raise Cancelled(cancelled) from None


def reason_of(exc: InvalidIdNumber | SchemaViolation | TooLarge) -> str:
    """The rule's sentence without the document member's name it starts with.

    In English the rule's own sentence (it names the very character or limit); in another
    language the catalog's: an ID number's mistake by its rule, as the web UI says it.
    """
    message = exc.message
    if isinstance(exc, SchemaViolation):
        message = message.split(": ", 1)[-1]
    if translator().language == "en":
        return message
    if isinstance(exc, InvalidIdNumber):
        return _(ID_RULE_TEXT.get(exc.rule, ID_RULE_TEXT["empty"]))
    if message == "must not be empty":
        return _(FIELD_EMPTY)
    if (length := _LENGTH.fullmatch(message)) is not None:
        return _(FIELD_LENGTH, **length.groupdict())
    if "control characters" in message:
        return _(FIELD_CONTROL)
    return message


#: crypto/fields.py's sentence for a text of the wrong length.
_LENGTH = re.compile(r"(?P<length>\d+) characters; allowed (?P<minimum>\d+)-(?P<maximum>\d+)")


def ask_line(label: str, check: Callable[[str], None], *, optional: bool, cancelled: str) -> str:
    """One line, checked when entered and asked again with the reason until it passes."""
    end = _(LABEL_END)
    prompt = f"{label} {_(OPTIONAL_MARK)}{end}" if optional else f"{label}{end}"
    while True:
        with cancellable(cancelled):
            value = input(prompt).strip()
        if _passes(check, value):
            return value


def ask_secret(label: str, check: Callable[[str], None], *, cancelled: str) -> str:
    """Like :func:`ask_line` without echo; a mistake is explained but never shown back."""
    while True:
        with cancellable(cancelled):
            value = getpass.getpass(f"{label}{_(LABEL_END)}")
        if _passes(check, value):
            return value


def confirm(question: str, *, cancelled: str) -> bool:
    """An explicit yes; Enter alone is no, anything else is asked again."""
    while True:
        with cancellable(cancelled):
            answer = input(f"{question} [y/N] ").strip().lower()
        if answer in YES_ANSWERS:
            return True
        if answer in NO_ANSWERS:
            return False
        print(f"  {_(ANSWER_YES_OR_NO)}", file=sys.stderr, flush=True)


def _passes(check: Callable[[str], None], value: str) -> bool:
    try:
        check(value)
    except FIELD_ERRORS as exc:
        _try_again(reason_of(exc))
        return False
    return True


def _try_again(reason: str) -> None:
    reason = reason.rstrip(".。")
    line = _(TRY_AGAIN, reason=reason[:1].upper() + reason[1:])
    print(f"  {line}", file=sys.stderr, flush=True)


# --- The text ------------------------------------------------------------------------------------


def ask_text(check: Callable[[str], None], *, cancelled: str) -> str:
    """The petition's text, in ``$EDITOR`` when set, else typed here up to a line ``.``."""
    editor = os.environ.get("EDITOR", "").strip()
    if editor:
        try:
            return _text_in_editor(editor, check, cancelled=cancelled)
        except _EditorMissing as exc:
            print(_(EDITOR_MISSING, editor=editor, reason=exc.reason), file=sys.stderr)
    while True:
        print(_(TEXT_INTRO), file=sys.stderr, flush=True)
        lines: list[str] = []
        with cancellable(cancelled):
            while (line := input()).strip() not in {".", "。"}:
                lines.append(line)
        text = "\n".join(lines)
        if _passes(check, text):
            return text


class _EditorMissing(Exception):
    """The editor could not be started: the text is typed here instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _text_in_editor(editor: str, check: Callable[[str], None], *, cancelled: str) -> str:
    with _private_folder() as folder:
        path = folder / "petition.txt"
        path.touch(mode=0o600)
        while True:
            print(_(EDITOR_INTRO, editor=editor), file=sys.stderr, flush=True)
            text = _edit_once(editor, path, cancelled=cancelled)
            if text is not None and _passes(check, text):
                return text
            with cancellable(cancelled):
                input(f"{_(EDITOR_AGAIN)} ")


def _edit_once(editor: str, path: Path, *, cancelled: str) -> str | None:
    """The editor on ``path`` (which keeps the last attempt, so nothing is typed twice); the
    text, or None when it is not UTF-8 (said, and the person saves it again)."""
    try:
        with cancellable(cancelled):
            status = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode  # noqa: S603
    except (OSError, ValueError) as exc:  # not found, not executable, unbalanced quotes
        raise _EditorMissing(getattr(exc, "strerror", None) or str(exc)) from exc
    if status != 0:  # `:cq` in vi and the like: the person gave up
        _fail(_(EDITOR_FAILED, editor=editor, status=status), cancelled)
    try:
        return path.read_text(encoding="utf-8").rstrip()
    except UnicodeDecodeError:
        _try_again(_(EDITOR_NOT_UTF8))
        return None


def _fail(reason: str, cancelled: str) -> NoReturn:
    raise Cancelled(f"{reason}: {cancelled}")


@contextmanager
def _private_folder() -> Iterator[Path]:
    """A folder only this user can open, in memory where the system offers it (/dev/shm), and
    removed with everything in it afterwards: the text and any backup or swap file the editor
    wrote next to it."""
    memory = Path("/dev/shm")  # noqa: S108  (a private folder is made inside it)
    base = str(memory) if memory.is_dir() and os.access(memory, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="petition-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- The whole form ------------------------------------------------------------------------------


def choice(value: object, *, default: bool) -> bool:
    """A yes/no flag, also from its PETITION_* variable (``1``/``true``/``yes``/``on``)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def collect_form(
    args: argparse.Namespace,
    bureau_id: str,
    purpose: Purpose,
    *,
    fields: Sequence[Field] = PETITION_FIELDS,
    fixed: dict[str, str] | None = None,
    text_what: str = "petition text",
) -> PetitionForm:
    """The form from the flags, asking on the terminal for what is missing.

    Flags are checked first, so a mistake in one is a single line before anything is asked.
    ``fixed`` gives fields that are not the person's to type (a review's subject). When anything
    was asked, the summary and the explicit question of ``purpose`` follow; "no" cancels.
    """
    attachments = tuple(read_attachment_file(Path(path)) for path in args.attach)
    values: dict[str, str] = dict(fixed or {})
    missing: list[Field] = []
    for field in fields:
        given = getattr(args, field.attribute)
        if given is None:
            missing.append(field)
        else:
            values[field.name] = _flag_value(field, str(given), attachments)
    if attachments:  # too large already? typing the text cannot help
        _flag_value(Field("body", "--attach", ""), "-", attachments)
    if args.body_file is not None:
        text = read_text_file(Path(args.body_file), text_what)
        values["body"] = _flag_value(Field("body", "--body-file", ""), text, attachments)
    typing = bool(missing) or args.body_file is None
    # The optional body complained about is asked only when the person is typing anyway.
    if "respondent" not in values and getattr(args, "respondent", None) is not None:
        values["respondent"] = _flag_value(RESPONDENT, args.respondent, attachments)
    elif "respondent" not in values and typing and sys.stdin.isatty():
        missing.append(RESPONDENT)
    if typing:
        require_terminal(missing[0].flag if missing else "--body-file")
        # Ctrl-C between two prompts (while a line is checked, say) cancels the same way.
        with cancellable(purpose.cancelled):
            print(_(HOW_TO_CANCEL), file=sys.stderr, flush=True)
            for field in missing:
                values[field.name] = _ask_field(field, attachments, purpose.cancelled)
            if args.body_file is None:
                values["body"] = ask_text(
                    lambda text: check_field("body", text, attachments),
                    cancelled=purpose.cancelled,
                )
    form = PetitionForm(
        bureau_id=bureau_id,
        real_name=values["real_name"],
        id_number=values["id_number"],
        contact=values["contact"],
        subject=values["subject"],
        body=values["body"],
        category=values["category"],
        region=values["region"],
        attachments=attachments,
        respondent=values.get("respondent", ""),
        consent_contact=choice(args.allow_contact, default=True),
        consent_share_identity_on_transfer=choice(args.share_identity_on_transfer, default=False),
    )
    try:
        check_form(form)  # the whole form, as sealing will check it
    except FIELD_ERRORS as exc:
        raise InvalidInput(exc.message) from exc
    if typing:
        with cancellable(purpose.cancelled):
            show_summary(form)
            if not confirm(purpose.question, cancelled=purpose.cancelled):
                raise Cancelled(purpose.cancelled)
    return form


def _flag_value(field: Field, value: str, attachments: tuple[Attachment, ...]) -> str:
    try:
        check_field(field.name, value, attachments)
    except FIELD_ERRORS as exc:
        raise InvalidInput(f"{field.flag}: {reason_of(exc)}") from exc
    return value


def _ask_field(field: Field, attachments: tuple[Attachment, ...], cancelled: str) -> str:
    def check(value: str) -> None:
        check_field(field.name, value, attachments)

    if field.secret:
        return ask_secret(_(field.label), check, cancelled=cancelled)
    return ask_line(_(field.label), check, optional=field.optional, cancelled=cancelled)


def summary_lines(form: PetitionForm) -> list[str]:
    """What will be sealed, for the person to check; the ID number is never shown."""
    labels = {name: _(label) + _(LABEL_END) for name, label in SUMMARY_LABELS.items()}
    width = max(display_width(label) for label in labels.values())
    rows = [("id_number", _(SUMMARY_ID_NUMBER))]
    for name in ("real_name", "contact", "subject", "category", "region", "respondent"):
        rows.append((name, getattr(form, name) or _(SUMMARY_NONE)))
    body_lines = form.body.splitlines() or [""]
    rows.append(("body", _(SUMMARY_TEXT, lines=len(body_lines), characters=len(form.body))))
    lines = [_(SUMMARY_TITLE)]
    lines += [f"  {pad(labels[name], width)}{value}" for name, value in rows]
    lines += [f"      {line}" for line in body_lines[:SUMMARY_TEXT_LINES]]
    if len(body_lines) > SUMMARY_TEXT_LINES:
        more = len(body_lines) - SUMMARY_TEXT_LINES
        lines.append(f"      {_(SUMMARY_MORE_LINES, count=more)}")
    attached = [
        _(SUMMARY_ATTACHMENT, name=item.name, size=len(item.data)) for item in form.attachments
    ]
    none = _(SUMMARY_NONE)
    lines.append(f"  {pad(labels['attachments'], width)}{attached[0] if attached else none}")
    lines += [f"  {pad('', width)}{item}" for item in attached[1:]]
    yes, no = _(YES_WORD), _(NO_WORD)
    end = _(LABEL_END)
    lines.append(f"  {_(SUMMARY_CONTACT_CONSENT)}{end}{yes if form.consent_contact else no}")
    share = form.consent_share_identity_on_transfer
    lines.append(f"  {_(SUMMARY_TRANSFER_CONSENT)}{end}{yes if share else no}")
    return lines


#: What ends a label before its value: ": " in English, a full-width colon in Chinese.
LABEL_END = N_(": ")


def display_width(text: str) -> int:
    """Columns on a terminal: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(width - display_width(text), 0)


def show_summary(form: PetitionForm) -> None:
    print(file=sys.stderr)
    for line in summary_lines(form):
        print(line, file=sys.stderr)
    print(file=sys.stderr, flush=True)


def ask_receipt_code(cancelled: str) -> str:
    """The receipt code without echo (a code on the command line stays in the shell history)."""
    require_terminal("CODE")
    with cancellable(cancelled):
        return getpass.getpass(f"{_(RECEIPT_CODE_LABEL)}{_(LABEL_END)}")


def remind_to_clear() -> None:
    """After a receipt code was shown on a terminal: the scrollback still holds it."""
    if sys.stdout.isatty():
        print()
        print(_(REMINDER))
