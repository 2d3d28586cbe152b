"""What the command lines of ``server`` and ``client`` share, one layer below both.

``server`` and ``client`` must not import each other, and ``petition/`` (the dispatcher that
loads their subcommands through entry points) is imported by nobody. What both sides' commands
need lives here instead, so that every import arrow points down:

* :mod:`cli_support.environment`: the one rule for ``PETITION_*`` environment variables;
* :mod:`cli_support.i18n`: the gettext catalogs (``locales/``) of the commands and the web UI,
  and the command line's language (``--lang``, ``PETITION_LANG``, the locale);
* :mod:`cli_support.messages`: the messages both interfaces show (events, ID number mistakes);
* :mod:`cli_support.terminal`: passphrases and QR codes on a terminal;
* :mod:`cli_support.threat_checks`: the protocol by which each package contributes its checks
  to ``petition audit threat-model``.

It may import ``crypto`` and nothing else of the project (tests/test_architecture.py); of
third-party packages it uses ``qrcode`` and ``babel``.
"""
