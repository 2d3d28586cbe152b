"""The command line's modules whose messages are in the shared catalogs (cli_support/locales).

Issue 20, item 1 translates the commands role by role: the petitioner's first. A module joins
this list when its messages are marked (``_``/``N_``) and in both catalogs;
tests/clients/test_cli_catalogs.py checks them, and tests/ui/test_catalogs.py counts them as
used so that the one catalog both interfaces share has no entry left over.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file

ROOT = Path(__file__).resolve().parents[2]

#: The petitioner's commands, the dispatcher's one-line errors, and the shared tables.
PETITIONER_MODULES = (
    "cli_support/i18n.py",
    "cli_support/messages.py",
    "petition/cli.py",
    "petition/parser.py",
    "client/cli/petitioner.py",
    "client/cli/prompts.py",
    "client/cli/progress.py",
    "client/cli/offline.py",
    "client/cli/options.py",
    "client/cli/demo.py",
)
#: The bureau reviewer's commands (``petition bureau …``) and the passphrase prompts.
BUREAU_MODULES: tuple[str, ...] = ("client/cli/bureau.py", "cli_support/terminal.py")
#: The auditor's commands (``petition audit network|threat-model``, the statistics report).
AUDITOR_MODULES = ("client/cli/audit.py", "petition/threat_audit.py", "client/stats_report.py")
#: The operator's, the witness's, the web UI launcher's and the demo's commands.
OPERATOR_MODULES = (
    "server/commands.py",
    "server/serve.py",
    "server/witness/commands.py",
    "webui/cli.py",
    "client/demo.py",
)

CLI_MODULES = PETITIONER_MODULES + BUREAU_MODULES + AUDITOR_MODULES + OPERATOR_MODULES


def extracted_cli_messages() -> dict[str, list[str]]:
    """Each marked message (a plural's forms one by one) and where it is, as Babel finds it."""
    found: dict[str, list[str]] = {}
    for module in CLI_MODULES:
        for lineno, message, _comments, _context in extract_from_file("python", ROOT / module):
            for text in message if isinstance(message, tuple) else (message,):
                if text:
                    found.setdefault(text, []).append(f"{module}:{lineno}")
    return found
