"""Petitioner, bureau-reviewer and auditor tools, and ``petition demo``.

All encryption happens here, in the local process. This package depends on ``crypto`` and
talks to the server only over HTTP: it never imports ``server``.
"""
