"""``petition ui``: a local web interface for petitioners, served on 127.0.0.1 only.

It is an edge, like the command line: every petition step (ID check, pre-hash, sealing,
submission, receipt and reply verification) is ``client.petitioner``'s, run in this local
process; the browser only shows forms and results. A separate package because ``client/``
never imports a web framework (tests/test_architecture.py), and this one never imports
``server/``. The security model is in docs/ui.md.
"""
