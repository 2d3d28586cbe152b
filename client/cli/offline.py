"""``petition seal``, ``deliver`` and ``directory export``: submitting without the network.

A petitioner seals on a device that is offline and keeps the receipt code; the sealed petition
file (protocol §17) goes to anyone who will be online later, who delivers it. See
client/offline.py for what each step checks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.i18n import N_, _
from client.cli.options import add_home, add_network, flag, home_from, network_from, path_is_taken
from client.cli.petitioner import (
    add_form_flags,
    add_policy,
    show_code,
    witnessing_text,
    write_qr_png,
)
from client.cli.progress import StepReporter
from client.cli.prompts import Purpose, collect_form, remind_to_clear
from client.errors import InvalidInput, ServerBusy, ServerUnreachable
from client.offline import (
    DIRECTORY_MAX_AGE_DAYS,
    Delivery,
    deliver,
    offline_directory,
    read_sealed_file,
    seal_offline,
)
from client.petitioner import Progress, validate_identity
from client.qr_transport import read_qr_images, render_codes, write_qr_files
from client.session import Session
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.objects import Directory
from crypto.privatefile import write_private_file
from crypto.sealed_file import SealedPetition, decode_sealed_file

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

#: The last question before sealing, and the line if the person cancels.
SEAL_QUESTION = N_("Seal it for %(bureau)s (%(bureau_id)s) now?")
NOTHING_SEALED = N_("cancelled; nothing was sealed or written")


def register_seal(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "seal",
        help=_(
            "petitioner: write and encrypt a petition without the network, for anyone to "
            "deliver later"
        ),
        description=_(
            "Everything `petition submit` does before sending, on this device and "
            "without the network: the petition is sealed for one bureau with the directory kept "
            "by the last online command (or --directory FILE) and written to a sealed petition "
            "file. You get the receipt code now; the file holds nothing that leads to it. Anyone "
            "who is online later can deliver the file (`petition deliver FILE`); `petition status` "
            "with the code then shows it arrived."
        ),
    )
    add_form_flags(parser)
    flag(parser, "--out", required=True, type=Path, metavar="FILE",
         help=_("the sealed petition file to write (refused if it exists)"))  # fmt: skip
    flag(parser, "--directory", type=Path, metavar="FILE",
         help=_("seal with this directory (written by `petition directory export`) instead of "
                "the one kept in PETITION_HOME; it must be signed by the pinned authority and at "
                "most %(days)s days old", days=DIRECTORY_MAX_AGE_DAYS))  # fmt: skip
    flag(parser, "--qr", type=Path, metavar="DIR",
         help=_("also write the sealed petition as numbered QR codes into this new or empty "
                "folder: one PNG per part and print.html, one printable page (it holds nothing "
                "that leads to your receipt code; `petition deliver --scan` reads them "
                "back)"))  # fmt: skip
    flag(parser, "--qr-png", type=Path, metavar="FILE", help=_("also write the receipt QR as PNG"))
    flag(parser, "--no-qr", action="store_true", help=_("do not draw the QR code on the terminal"))
    add_home(parser)
    parser.set_defaults(handler=_seal)


def _seal(args: argparse.Namespace) -> int:
    home = home_from(args)
    out = Path(args.out)
    for path in (out, args.qr_png):
        if path is not None and path_is_taken(Path(path)):
            raise InvalidInput(_("%(path)s already exists; nothing was sealed", path=path))
    if args.id_number is not None:
        validate_identity(args.id_number)  # a typo is reported before anything is asked
    config = home.load_config()
    directory = offline_directory(home, config, args.directory)
    bundle = directory.bureau(args.bureau)  # fail before asking anything
    if sys.stdin.isatty():
        print(
            _(
                "Petition to %(bureau)s (%(bureau_id)s), sealed on this device",
                bureau=bundle.name,
                bureau_id=bundle.bureau_id,
            ),
            file=sys.stderr,
        )
    question = _(SEAL_QUESTION, bureau=bundle.name, bureau_id=bundle.bureau_id)
    form = collect_form(args, bundle.bureau_id, Purpose(question, _(NOTHING_SEALED)))
    with StepReporter() as reporter:
        sealed = seal_offline(directory, form, Progress(step=reporter.step))
    if args.qr is not None:
        render_codes(sealed.file)  # a file that cannot be drawn fails before anything is written
    write_private_file(out, sealed.file, overwrite=False, error=InvalidInput,
                       what="sealed petition")  # fmt: skip
    if args.qr is not None:
        drawn = write_qr_files(sealed.file, Path(args.qr))
        print(
            _(
                "%(count)s QR codes written to %(folder)s; print %(page)s to carry the petition "
                "on paper",
                count=len(drawn.images),
                folder=args.qr,
                page=drawn.page.name,
            )
        )
    found = directory.directory
    print(
        _(
            "Sealed for %(bureau)s (%(bureau_id)s) on this device, without the network",
            bureau=bundle.name,
            bureau_id=bundle.bureau_id,
        )
    )
    print(
        "  "
        + _(
            "(directory serial %(serial)s of %(day)s, from %(source)s).",
            serial=found.serial,
            day=found.day.isoformat(),
            source=directory.source,
        )
    )
    print(
        _(
            "Written to %(file)s (%(length)s bytes): the sealed petition, and nothing that",
            file=out,
            length=len(sealed.file),
        )
    )
    print(_("leads to your receipt code. Anyone who is online can deliver it:"))
    print(f"    petition deliver {out}")
    print(_("Until then the bureau has nothing. Once delivered it is petition"))
    print(
        _(
            "%(id)s; `petition status` with your code shows it arrived.",
            id=sealed.petition.petition_id,
        )
    )
    print()
    show_code(sealed.code, qr=not args.no_qr)
    if args.qr_png is not None:
        write_qr_png(Path(args.qr_png), sealed.code)
        print(
            _(
                "QR code written to %(file)s (it holds the receipt code: keep it private)",
                file=args.qr_png,
            )
        )
    remind_to_clear()
    return 0


def register_deliver(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "deliver",
        help=_("anyone: deliver sealed petition files (from `petition seal`) to the server"),
        description=_(
            "Send each sealed petition file to the pinned server exactly as it was "
            "sealed, and verify each receipt against the log. Only `petition init` is needed: "
            "nothing of the petitioner is read or asked for, and nothing is kept or written on "
            "this device. Delivering a file again is harmless: it stays one petition. A file that "
            "cannot be delivered is reported on one line and the others are still delivered."
        ),
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help=_("sealed petition files"))  # fmt: skip
    flag(parser, "--scan", nargs="+", action="append", type=Path, default=[], metavar="IMAGE",
         help=_("one sealed petition carried as QR codes: photos or scans (PNG or JPEG) of "
                "all its parts, in any order, several codes to an image or one; repeat --scan "
                "for each petition"))  # fmt: skip
    add_policy(parser)
    add_network(parser)
    parser.set_defaults(handler=_deliver)


def _sources(args: argparse.Namespace) -> list[tuple[str, Callable[[], SealedPetition]]]:
    """What to deliver, each with its name and how to read it (late, so one bad file is one
    line and the others still go)."""
    sources: list[tuple[str, Callable[[], SealedPetition]]] = []
    for path in args.files:
        sources.append((str(path), partial(read_sealed_file, Path(path))))
    for images in args.scan:
        first = images[0]
        if len(images) > 1:
            name = _("QR codes in %(image)s and %(count)s more", image=first, count=len(images) - 1)
        else:
            name = _("QR codes in %(image)s", image=first)
        sources.append((name, partial(_scanned, [Path(image) for image in images])))
    if not sources:
        raise InvalidInput(_("name a sealed petition file, or --scan the images of its QR codes"))
    return sources


def _scanned(images: list[Path]) -> SealedPetition:
    data = read_qr_images(images)
    try:
        return decode_sealed_file(data)
    except MalformedInput as exc:
        raise InvalidInput(
            _("the QR codes hold no valid sealed petition: %(reason)s", reason=exc.message)
        ) from exc


def _deliver(args: argparse.Namespace) -> int:
    sources = _sources(args)
    files = [name for name, _read in sources]
    delivered = 0
    with Session.open(home_from(args), network_from(args), policy_file=args.policy) as session:
        session.directory()  # a directory that does not verify stops everything, before sending
        session.transport.new_circuit()
        for number, (path, read) in enumerate(sources):
            try:
                with StepReporter(quiet=not sys.stderr.isatty()) as reporter:
                    petition = read()
                    result = deliver(
                        session, petition, Progress(step=reporter.step, upload=reporter.upload)
                    )
            except (ServerUnreachable, ServerBusy) as exc:
                rest = files[number + 1 :]
                untried = (
                    _("; not tried: %(files)s", files=", ".join(map(str, rest))) if rest else ""
                )
                raise type(exc)(
                    _("%(file)s: not delivered: %(reason)s", file=path, reason=exc.message)
                    + untried
                ) from exc
            except SealedPetitionError as exc:
                about = exc.message
                if not about.startswith(f"{path}: "):
                    about = f"{path}: {about}"
                print(f"petition: error: {about}", file=sys.stderr, flush=True)
                continue
            delivered += 1
            _show_delivery(path, result, session.directory())
    failed = len(files) - delivered
    summary = _("%(delivered)s of %(total)s delivered", delivered=delivered, total=len(files))
    if failed:
        summary += _(", %(failed)s not", failed=failed)
    print(_("%(summary)s. Nothing about these petitions was kept on this device.", summary=summary))
    return 1 if failed else 0


def _show_delivery(path: str, result: Delivery, directory: Directory) -> None:
    name = next((b.name for b in directory.bureaus if b.bureau_id == result.bureau_id), "")
    how = _("delivered") if result.first_time else _("already delivered (one petition, not two)")
    print(
        _(
            "%(file)s: %(how)s to %(bureau)s (%(bureau_id)s): petition %(id)s, log entry "
            "%(index)s of a log of %(size)s; %(witnessing)s",
            file=path,
            how=how,
            bureau=name,
            bureau_id=result.bureau_id,
            id=result.petition_id,
            index=result.leaf_index + 1,  # numbered from 1 for people, as the web UI shows it
            size=result.checkpoint_size,
            witnessing=witnessing_text(result.witnessing),
        ),
        flush=True,
    )


def register_directory_export(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "export",
        help=_("write the verified directory to a file, to seal on a device without the network"),
        description=_(
            "Write the directory, signed by the pinned authority, exactly as the "
            "server serves it, so that a device without the network can seal petitions with it "
            "(`petition seal --directory FILE`). It is public: it holds the bureaus' keys and "
            "the log's, nothing about anyone. By default it is fetched and verified now; with "
            "--offline the one kept in PETITION_HOME by the last online command is written."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help=_("the file to write"))
    flag(parser, "--offline", action="store_true",
         help=_("write the directory kept in PETITION_HOME, without asking the "
                "server"))  # fmt: skip
    add_network(parser)
    parser.set_defaults(handler=_directory_export)


def _directory_export(args: argparse.Namespace) -> int:
    home = home_from(args)
    out = Path(args.file)
    if path_is_taken(out):
        raise InvalidInput(_("%(path)s already exists; nothing was written", path=out))
    if args.offline:
        kept = offline_directory(home, home.load_config())
        directory, wire = kept.directory, kept.wire
    else:
        with Session.open(home, network_from(args)) as session:
            directory, wire = session.directory(), session.directory_wire()
    write_private_file(out, wire, overwrite=False, error=InvalidInput, what="directory")
    print(
        _(
            "Directory serial %(serial)s of %(day)s (%(count)s bureau(s)), signed by the "
            "pinned authority, written to %(file)s.",
            serial=directory.serial,
            day=directory.day.isoformat(),
            count=len(directory.bureaus),
            file=out,
        )
    )
    print(
        _(
            "On a device without the network: `petition seal --directory %(file)s …`, until "
            "%(days)s days after %(day)s.",
            file=out,
            days=DIRECTORY_MAX_AGE_DAYS,
            day=directory.day.isoformat(),
        )
    )
    return 0
