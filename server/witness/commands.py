"""``petition witness``: run a tlog-witness (an NGO, an observer or an auditor does).

Every flag can also come from a ``PETITION_*`` environment variable (cli_support/environment.py);
a flag on the command line wins. What they print is in the command line's language
(cli_support/i18n.py), ``--help`` included, but for what scripts copy: a vkey, alone on its
line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cli_support.environment import add_flag, whole_number
from cli_support.i18n import _

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

DEFAULT_PORT = 8700


def _data_argument(parser: argparse.ArgumentParser) -> None:
    # Not PETITION_DATA, the server's: a witness often runs beside a server it watches.
    add_flag(
        parser,
        "--data",
        type=Path,
        required=True,
        metavar="DIR",
        variable="PETITION_WITNESS_DATA",
        help=_("the witness directory"),
    )


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "witness",
        help=_("run a transparency-log witness that cosigns the log's checkpoints"),
        description=_(
            "A witness (c2sp.org/tlog-witness) checks that each checkpoint a log "
            "submits extends the last one it cosigned, and cosigns only then: a log that shows "
            "different histories to different people is caught by the witnesses it needs."
        ),
    )
    actions = parser.add_subparsers(title=_("witness commands"), metavar="ACTION")

    init = actions.add_parser(
        "init",
        help=_("create a witness directory, key and state"),
        description=_(
            "Create a new witness directory with the witness's signing key (named "
            "--name) and its empty state; print the key that logs list in their witness policy."
        ),
    )
    _data_argument(init)
    init.add_argument(
        "--name",
        required=True,
        help=_("the witness's key name, a schema-less URL such as witness.example.org/w1"),
    )
    init.set_defaults(handler=_init)

    vkey = actions.add_parser(
        "vkey",
        help=_("print the witness's public key (a vkey)"),
        description=_(
            "Print the witness's public key as a signed-note vkey, for a log's "
            "operator (`petition admin add-witness`)."
        ),
    )
    _data_argument(vkey)
    vkey.set_defaults(handler=_vkey)

    add_log = actions.add_parser(
        "add-log",
        help=_("trust a log's key (its name is the origin)"),
        description=_(
            "Trust a log: from now on the witness cosigns checkpoints this key signs "
            "under this origin, each only if it extends the last one it cosigned."
        ),
    )
    _data_argument(add_log)
    add_log.add_argument("vkey", metavar="VKEY", help=_("the log's signed-note verifier key"))
    add_log.set_defaults(handler=_add_log)

    logs = actions.add_parser(
        "logs",
        help=_("list the trusted logs and their cosigned sizes"),
        description=_(
            "List every trusted log: its origin, the size of the latest checkpoint "
            "the witness cosigned, and its keys."
        ),
    )
    _data_argument(logs)
    logs.set_defaults(handler=_logs)

    serve = actions.add_parser(
        "serve",
        help=_("answer add-checkpoint and monitoring requests"),
        description=_(
            "Serve the tlog-witness protocol under gunicorn: logs submit checkpoints "
            "with consistency proofs to /add-checkpoint and get a cosignature back."
        ),
    )
    _data_argument(serve)
    # Not PETITION_HOST and PETITION_PORT, the submission server's: the two run side by side.
    add_flag(
        serve,
        "--host",
        default="127.0.0.1",
        variable="PETITION_WITNESS_HOST",
        help=_("the address to listen on"),
    )
    add_flag(
        serve,
        "--port",
        type=whole_number,
        default=DEFAULT_PORT,
        variable="PETITION_WITNESS_PORT",
        help=_("the port to listen on (default %(port)s)", port=DEFAULT_PORT),
    )
    serve.set_defaults(handler=_serve)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _init(args: argparse.Namespace) -> int:
    from server.witness.store import WitnessDirectory

    directory = WitnessDirectory.create(args.data, args.name)
    print(_("Witness created in %(path)s", path=directory.path))
    print(_("Logs list this key (with the witness's URL) in their witness policy:"))
    print(f"  {directory.verifier().to_vkey()}")  # alone on its line: scripts copy it from here
    return 0


def _vkey(args: argparse.Namespace) -> int:
    from server.witness.store import WitnessDirectory

    print(WitnessDirectory.open(args.data).verifier().to_vkey())
    return 0


def _add_log(args: argparse.Namespace) -> int:
    from crypto.errors import MalformedInput
    from crypto.note import Verifier
    from server.witness.store import WitnessDirectory

    directory = WitnessDirectory.open(args.data)
    try:
        verifier = Verifier.from_vkey(args.vkey)
    except MalformedInput as exc:
        raise MalformedInput(
            _("the log key is not a signed-note vkey: %(reason)s", reason=exc.message)
        ) from None
    directory.store().add_log(verifier)
    print(
        _(
            "Trusting the log %(origin)s (key %(key_id)s)",
            origin=verifier.name,
            key_id=format(verifier.key_id, "08x"),
        )
    )
    return 0


def _logs(args: argparse.Namespace) -> int:
    from server.witness.store import WitnessDirectory

    logs = WitnessDirectory.open(args.data).store().logs()
    if not logs:
        print(_("No log is trusted yet (`petition witness add-log`)."))
    for trusted in logs:
        if trusted.latest_size is None:
            size = _("cosigned size: nothing cosigned yet")
        else:
            size = _("cosigned size: %(size)s", size=trusted.latest_size)
        print(f"{trusted.origin}  {size}")
        for verifier in trusted.verifiers:
            print(f"  {verifier.to_vkey()}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from server.witness.serving import serve
    from server.witness.store import WitnessDirectory

    if not 0 < args.port < 65536:
        raise SystemExit("petition: error: " + _("the port must be 1-65535"))
    directory = WitnessDirectory.open(args.data)  # refused in one line before gunicorn starts
    name = directory.cosigner().name
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{args.port}/"
    listening = _("listening on %(url)s (add-checkpoint; SIGTERM or Ctrl-C to stop)", url=url)
    return serve(
        directory.path,
        host=args.host,
        port=args.port,
        announce=f"petition witness {name}: {listening}",
    )
